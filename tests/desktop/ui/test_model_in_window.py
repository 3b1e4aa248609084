"""The real tiny ONNX model in the window: open, classify, accept, export; wrong files refused."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.ui.filter_proxy import Filter, Show

pytestmark = pytest.mark.slow  # needs the trained tiny model


def test_open_model_and_classify_streams_predictions(classified):
    window = classified
    assert [c.name for c in window.session.classes()] == ["circle", "square", "triangle"]
    tiles = window.grid.tiles()
    assert tiles and all(t.prediction in {"circle", "square", "triangle"} for t in tiles)
    assert all(0.0 < t.confidence <= 1.0 for t in tiles)
    correct = sum(Path(t.path).parent.name == t.prediction for t in tiles)
    assert correct / len(tiles) > 0.6  # the tiny model learned something
    assert window.classifier.last_run == (len(tiles), 0, True)
    assert "CPU" in window.status.provider_label.text()
    versions = window.loop.models_panel.versions  # the opened model is listed as a version
    assert versions.rowCount() == 1 and versions.record(0).id == window.classifier.model_id
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == len(tiles)
    window.view.select_row(0)
    window.show_current()
    assert window.preview.bars.rows()[0][0] == tiles[0].prediction


def test_enter_accepts_predictions_and_filters_see_them(classified, qtbot):
    window = classified
    window.view.select_row(0)
    first = window.grid.tile_by_id(window.proxy.image_id(0))
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    with sqlite3.connect(window.session.path) as conn:
        (source,) = conn.execute("SELECT source FROM labels").fetchone()
    assert source == "accepted_prediction"
    assert window.grid.tile_by_id(first.image_id).label == first.prediction
    window.proxy.set_filter(Filter(Show.PREDICTED_AS, first.prediction))
    assert window.proxy.rowCount() >= 1
    window.proxy.set_filter(Filter(Show.LOW_CONFIDENCE, low_confidence=1.01))
    assert window.proxy.rowCount() == window.grid.rowCount()


def test_exports_write_csv_and_class_folders(classified, tmp_path, wait_idle):
    window = classified
    window.view.select_row(0)
    window.labelling.label_as(window.session.class_by_shortcut(2).id)  # "square"
    labelled = window.grid.tile_by_id(window.proxy.image_id(0))

    out = tmp_path / "out.csv"
    window.exporter.to_csv(out)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == window.grid.rowCount()
    assert {r["path"]: r["label"] for r in rows}[labelled.path] == "square"
    assert all(r["prediction"] and r["top_k"] for r in rows)

    window.exporter.to_folders(tmp_path / "sorted")
    wait_idle(window)
    copied = list((tmp_path / "sorted").rglob("*.*"))
    assert [p.relative_to(tmp_path / "sorted").parts[0] for p in copied] == ["square"]
    assert copied[0].read_bytes() == Path(labelled.path).read_bytes()
    assert "1 images copied" in window.infos[-1]


def test_wrong_model_is_refused_and_the_current_one_stays(classified, tmp_path):
    window = classified
    before = (window.classifier.model_id, window.status.provider_label.text())
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    assert not window.classifier.open_model(fake)
    assert window.errors and window.errors[-1].startswith("fake.onnx was not opened:")
    assert (window.classifier.model_id, window.status.provider_label.text()) == before
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 1


SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    import desktop
    from desktop.ui.main_window import MainWindow

    app = QApplication([])
    folder, images, model = map(Path, sys.argv[1:4])
    window = MainWindow(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                        thumbnail_cache=folder / "thumbs")
    window.ask = lambda title, question: title != "Import class folders"
    window.project_files.open_path(folder / "p.pigeonhole")
    window.show()

    def wait():  # until the window's jobs say idle (or four minutes pass)
        if not window.jobs.is_idle():
            loop = QEventLoop()
            window.jobs.idle.connect(loop.quit)
            QTimer.singleShot(240_000, loop.quit)
            loop.exec()
            window.jobs.idle.disconnect(loop.quit)

    window.ingest.add_paths([images]); wait()
    assert window.classifier.open_model(model)
    window.classifier.classify_all(); wait()
    predicted = sum(t.prediction is not None for t in window.grid.tiles())
    window.close()
    print("predicted", predicted)
    print("tensorflow loaded:", "tensorflow" in sys.modules, "keras" in sys.modules)
    """
)


def test_the_window_never_imports_tensorflow(tiny_dataset_dir, tiny_model_path, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(tiny_dataset_dir), str(tiny_model_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "predicted 60" in result.stdout
    assert "tensorflow loaded: False False" in result.stdout
