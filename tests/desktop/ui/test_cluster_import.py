"""File → Import Cluster Results: a batch classified elsewhere shows in the grid as predictions."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from desktop.cli_classify import main as classify

pytestmark = pytest.mark.slow  # needs the trained tiny model


def test_imported_results_show_as_the_models_predictions(
    window, tiny_dataset_dir: Path, tiny_model_path: Path, tmp_path: Path, wait_idle
) -> None:
    window.answers = [False]  # do not take the class folders as labels
    window.ingest.add_paths([tiny_dataset_dir / "circle", tiny_dataset_dir / "square"])
    wait_idle(window)
    assert window.classifier.open_model(tiny_model_path)
    results = tmp_path / "cluster.csv"
    argv = [str(tiny_dataset_dir), "--model", str(tiny_model_path), "--out", str(results),
            "--workers", "0"]  # fmt: skip
    assert classify(argv) == 0
    with results.open(newline="", encoding="utf-8") as stream:
        expected = {row["path"]: row["prediction"] for row in csv.DictReader(stream)}
    tiles_before = len(window.grid.tiles())
    assert all(t.prediction is None for t in window.grid.tiles())

    window.choose_open_file = lambda title, filters: results
    window.actions["Import Cluster Results"].trigger()
    wait_idle(window)

    tiles = window.grid.tiles()
    assert len(tiles) == tiles_before  # the triangles in the results were not added
    assert tiles and all(t.prediction == expected[t.path] for t in tiles)
    assert f"{len(tiles)} predictions stored" in window.infos[-1]
    assert "not in this project" in window.infos[-1]
    assert window.errors == []
