"""A cluster's results imported into a project: predictions for the images it has, nothing else."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from core_helpers import fresh_rows, make_images

from desktop.cli_classify import main as classify
from desktop.core.cluster_results import ResultsError, file_sha256, import_results
from desktop.core.model_file import check_model_file
from desktop.core.store import Project


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Five images, a broken one, and one more that the project will not have."""
    folder = tmp_path / "batch"
    make_images(folder, 5)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
    make_images(folder / "elsewhere", 1, prefix="stranger")
    return folder


@pytest.fixture
def results_csv(folder: Path, tiny_model_path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "results.csv"
    argv = [str(folder), "--model", str(tiny_model_path), "--out", str(out), "--workers", "0"]
    assert classify(argv) == 0
    return out


@pytest.fixture
def project(tmp_path: Path, folder: Path, tiny_model_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        opened.add_images([*sorted(folder.glob("*.png")), folder / "broken.jpg"])
        opened.add_model(tiny_model_path, check_model_file(tiny_model_path).info)
        yield opened


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_predictions_for_the_projects_images_are_stored_and_nothing_is_added(
    project, results_csv: Path, tmp_path: Path
) -> None:
    images_before = fresh_rows(tmp_path / "p.pigeonhole", "SELECT id, path FROM images")
    summary = import_results(project, results_csv)
    assert (summary.n_rows, summary.n_imported, summary.n_errors) == (7, 5, 1)
    assert summary.n_not_in_project == 1 and summary.skipped == []
    assert fresh_rows(tmp_path / "p.pigeonhole", "SELECT id, path FROM images") == images_before
    classes = project.model(project.current_model_id()).classes
    ids = project.image_ids_by_path([r["path"] for r in csv_rows(results_csv)])
    stored = project.predictions()
    for row in csv_rows(results_csv):
        if row["error"] or row["path"] not in ids:
            assert ids.get(row["path"]) not in stored
            continue
        prediction = stored[ids[row["path"]]]
        assert classes[prediction.class_index] == row["prediction"]
        assert f"{prediction.confidence:.4f}" == row["confidence"]


def test_parquet_shards_bring_their_embeddings(
    project, results_csv: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow is not installed (cluster extra)")
    from desktop.cluster.shards import plan_shards, write_shard

    rows = csv_rows(results_csv)
    model = check_model_file(tiny_model_path)
    shards = plan_shards([r["path"] for r in rows], 4)
    folder = tmp_path / "shards"
    folder.mkdir()
    embedding = np.arange(len(rows) * model.embedding_dim, dtype=np.float32)
    embedding = embedding.reshape(len(rows), model.embedding_dim)
    for shard in shards:
        part = rows[shard.start : shard.stop]
        columns = {
            "index": np.arange(shard.start, shard.stop),
            "path": np.array([r["path"] for r in part], object),
            "prediction": np.array([r["prediction"] for r in part], object),
            "confidence": np.array([float(r["confidence"] or "nan") for r in part], np.float32),
            "top_k": np.array([r["top_k"] for r in part], object),
            "error": np.array([r["error"] for r in part], object),
            "embedding": embedding[shard.start : shard.stop],
        }
        write_shard(folder, shard, columns, file_sha256(tiny_model_path), model.classes)

    summary = import_results(project, folder)

    assert (summary.n_imported, summary.n_errors, summary.n_not_in_project) == (5, 1, 1)
    ids = project.image_ids_by_path([r["path"] for r in rows])
    for position, row in enumerate(rows):
        if row["path"] in ids and not row["error"]:
            stored = project.prediction(ids[row["path"]])
            assert (
                np.frombuffer(stored.embedding, np.float32).tolist() == embedding[position].tolist()
            )

    other = tmp_path / "other.onnx"
    shutil.copy(tiny_model_path, other)
    with other.open("ab") as stream:
        stream.write(b"\0")  # another file: its SHA-256 differs
    other_id = project.add_model(other, model.info)
    with pytest.raises(ResultsError, match="another model file"):
        import_results(project, folder, other_id)
    assert project.predictions(other_id) == {}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,label\n/a.png,cat\n", "not a classify CSV"),
        ("path,prediction,confidence,top_k,error\n/a.png,zebra,0.9,zebra:0.9,\n", "none of"),
    ],
)
def test_a_file_that_is_not_this_models_results_changes_nothing(
    project, tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsError, match=match):
        import_results(project, path)
    assert project.predictions() == {}


def test_results_need_a_model_to_belong_to(tmp_path: Path, results_csv: Path) -> None:
    with (
        Project.open(tmp_path / "empty.pigeonhole") as project,
        pytest.raises(ResultsError, match="Open the model"),
    ):
        import_results(project, results_csv)
