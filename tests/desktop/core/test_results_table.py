"""The results table, read back with the reader its users use: pyarrow.parquet, or csv."""

from __future__ import annotations

import csv
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from core_helpers import make_images

from desktop.core.errors import ExportError
from desktop.core.records import PredictionRow
from desktop.core.results_table import PARQUET_MISSING, export_results
from desktop.core.split_export import project_splits
from desktop.core.store import Project
from tests.desktop.core.head_models import build_head_model
from trainer.contract import ModelInfo

CLASSES = ["cat", "=HYPERLINK(1)"]


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        for name in CLASSES:
            opened.add_class(name)
        ids = opened.add_images(make_images(tmp_path / "pics", 8))
        opened.set_labels(ids[:3], opened.class_by_name("cat").id)
        opened.set_labels(ids[3:5], opened.class_by_name(CLASSES[1]).id)
        model = build_head_model(tmp_path / "model.onnx", CLASSES)
        model_id = opened.add_model(model, ModelInfo(CLASSES, 8, "test", "test"))
        rng = np.random.default_rng(0)
        rows = [
            PredictionRow(
                image_id,
                i % 2,
                0.5 + i / 20,
                [(i % 2, 0.5 + i / 20)],
                rng.normal(size=4).astype(np.float32).tobytes(),
            )
            for i, image_id in enumerate(ids[:7])  # the last image is not classified yet
        ]
        opened.set_predictions(model_id, rows)
        opened.embeddings = {r.image_id: np.frombuffer(r.embedding, np.float32) for r in rows}
        yield opened


def test_parquet_holds_labels_predictions_confidences_and_embeddings(
    project: Project, tmp_path: Path
) -> None:
    out = tmp_path / "results.parquet"
    summary = export_results(project, out, "parquet", embeddings=True)
    table = pq.read_table(out).to_pylist()
    assert summary.n_written == len(table) == 8
    by_path = {Path(row["path"]).name: row for row in table}
    rows = {Path(r.path).name: r for r in project.image_rows()}
    splits = project_splits(project)
    for name, row in by_path.items():
        image = rows[name]
        assert row["label"] == (
            "" if image.label_id is None else next(
                c.name for c in project.classes() if c.id == image.label_id
            )
        )  # fmt: skip
        assert row["split"] == (splits[image.path][1] if image.path in splits else "")
        if image.id in project.embeddings:
            assert row["prediction"] in CLASSES and 0.5 <= row["confidence"] < 1
            np.testing.assert_array_equal(row["embedding"], project.embeddings[image.id])
        else:
            assert row["prediction"] == "" and row["confidence"] is None
            assert row["embedding"] is None
    assert by_path["img003.png"]["label"] == "=HYPERLINK(1)"  # Parquet keeps text as it is


def test_csv_neutralises_text_and_keeps_numbers(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    export_results(project, out, "csv", embeddings=True)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    assert rows[3]["label"] == "'=HYPERLINK(1)"
    assert [k for k in rows[0] if k.startswith("embedding_")] == [
        f"embedding_{i}" for i in range(4)
    ]
    first = project.embeddings[project.image_rows()[0].id]
    np.testing.assert_allclose([float(rows[0][f"embedding_{i}"]) for i in range(4)], first, 1e-5)
    assert any(rows[0][f"embedding_{i}"].startswith("-") for i in range(4))  # a sign, not a formula
    assert rows[7]["prediction"] == "" and rows[7]["embedding_0"] == ""
    plain = tmp_path / "plain.csv"
    export_results(project, plain, "csv")
    assert "embedding_0" not in plain.read_text(encoding="utf-8")


def test_cancel_writes_nothing_and_bad_requests_are_refused(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "results.parquet"
    assert export_results(project, out, "parquet", cancel=cancel).cancelled
    assert not out.exists() and list(tmp_path.glob("*.parquet*")) == []
    with pytest.raises(ExportError, match="is a folder"):
        export_results(project, tmp_path, "csv")
    with pytest.raises(ExportError, match="Unknown table format"):
        export_results(project, tmp_path / "r.xlsx", "xlsx")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # pyarrow not installed
    with pytest.raises(ExportError) as caught:
        export_results(project, out, "parquet")
    assert str(caught.value) == PARQUET_MISSING and not out.exists()
