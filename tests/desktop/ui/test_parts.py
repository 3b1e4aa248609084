"""The window's parts on their own: the worker, thumbnails, CSV import, the entry point."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.ui.grid_model import GridModel, Tile
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader, cache_file, make_thumbnail
from desktop.ui.workers import Worker
from trainer.contract import open_image


def test_worker_streams_results_in_order_and_reports_completion(qtbot):
    worker = Worker(lambda: iter(range(5)))
    got: list[int] = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000) as finished:
        worker.start()
    assert got == [0, 1, 2, 3, 4]
    assert finished.args == [True]


def test_worker_cancel_stops_between_items(qtbot):
    release = threading.Event()

    def slow():
        for i in range(1000):
            release.wait(1)
            yield i

    worker = Worker(slow)
    with qtbot.waitSignal(worker.finished, timeout=10_000) as finished:
        worker.start()
        worker.cancel()
        release.set()
    assert finished.args == [False]


def test_worker_failure_is_reported_not_swallowed(qtbot):
    def broken():
        yield 1
        raise ValueError("disk on fire")

    worker = Worker(broken)
    messages: list[str] = []
    worker.failed.connect(messages.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000) as finished:
        worker.start()
    assert messages == ["disk on fire"] and finished.args == [False]


def test_thumbnail_is_upright_like_the_model_input_and_cached_by_mtime(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    key = ThumbKey(str(path), 16)
    thumb = make_thumbnail(key, tmp_path / "cache")
    upright = open_image(path)
    assert (thumb.width() > thumb.height()) == (upright.width > upright.height)
    assert cache_file(tmp_path / "cache", key, path.stat().st_mtime).is_file()
    assert not cache_file(tmp_path / "cache", key, path.stat().st_mtime + 1).exists()


def test_loader_reports_unreadable_files_with_reason(qtbot, tmp_path):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=1)
    key = ThumbKey(str(bad), 32)
    with qtbot.waitSignal(loader.failed, timeout=10_000) as failed:
        assert loader.pixmap(key) is None
    assert "empty file" in failed.args[1]
    loader.shutdown()


def test_csv_labels_import_with_new_classes(window, tmp_path, wait_idle):
    images = tmp_path / "imgs"
    images.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8), "blue").save(images / name)
    table = tmp_path / "labels.csv"
    table.write_text("path,label\nimgs/a.png,sky\nimgs/b.png,\nimgs/gone.png,sky\n")
    window.ingest.add_paths([table])
    assert window.infos and "1 images labelled" in window.infos[0]
    assert "2 skipped" in window.infos[0]
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM labels").fetchone() == (1,)
    assert window.grid.rowCount() == 1
    window.actions["Undo"].trigger()
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM labels").fetchone() == (0,)


def test_not_a_project_file_is_refused_and_left_alone(window, tmp_path):
    other = tmp_path / "other.pigeonhole"
    other.write_text("hello")
    before = window.session.path
    assert not window.project_files.open_path(other)
    assert window.errors and "not a Pigeonhole project" in window.errors[0]
    assert window.session.path == before and other.read_text() == "hello"


def test_entry_point_dispatches_classify_without_qt():
    code = "import sys; from desktop.__main__ import main; sys.exit(main(['classify']))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr  # argparse: inputs and --model are required
    assert "classify" in result.stderr


def test_recent_projects_are_remembered(window, tmp_path, new_window):
    second = tmp_path / "two.pigeonhole"
    assert window.project_files.open_path(second)
    recent = window.project_files.recent()
    assert recent[0] == second and recent[1] == tmp_path / "test.pigeonhole"
    assert window.project_files.startup_path() == second
    assert Path(second).is_file()


def test_tiles_are_kept_out_of_full_garbage_collections(qtbot, tmp_path):
    """A full collection walking 100,000 tiles stalled the GUI for ~110 ms mid-scan."""
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=1)
    grid = GridModel(loader)
    grid.append_tiles(Tile(image_id=i, path=f"/photos/{i}.jpg") for i in range(100))
    grid.set_tiles([*grid.tiles(), Tile(image_id=100, path="/photos/100.jpg")])
    walked = {id(obj) for obj in gc.get_objects()}
    assert not any(id(tile) in walked for tile in grid.tiles())
    assert grid.rowCount() == 101
    loader.shutdown()
