"""Dropping a folder: images stream in, class folders become labels, broken files get a reason."""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

import desktop.ui.ingest as ingest
from desktop.ui.filter_proxy import Filter, Show
from tests.imagegen import write_dataset


def drop(widget, paths: list[Path]) -> None:
    """Drag-enter then drop events with file URLs, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    copy, left, none = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # QPoint constructor, still the API
        enter = QDragEnterEvent(QPoint(10, 10), copy, mime, left, none)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def db_rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_dropped_folder_fills_the_grid_and_offers_class_labels(
    window, shapes_dir, qtbot, wait_idle
):
    drop(window.view.viewport(), [shapes_dir])
    wait_idle(window)

    assert window.grid.rowCount() == 12  # 9 shapes + 3 broken files, none twice
    assert window.infos and "9 images labelled" in window.infos[0]
    labels = db_rows(
        window.session.path,
        "SELECT c.name, count(*) FROM labels l JOIN classes c ON c.id = l.class_id GROUP BY c.name",
    )
    assert sorted(labels) == [("circle", 3), ("square", 3), ("triangle", 3)]
    assert window.filter_bar.count_label.text() == "12 images"


def test_broken_files_get_a_warning_tile_with_reason(window, shapes_dir, qtbot, wait_idle):
    window.answers = [False]  # do not import the class folders
    drop(window.view.viewport(), [shapes_dir])
    wait_idle(window)
    # Files are decoded (and so found unreadable) when their thumbnails are made for the screen.
    unreadable = lambda: sum(window.grid.tile(r).status == "unreadable" for r in range(12))  # noqa: E731
    qtbot.waitUntil(lambda: unreadable() == 3, timeout=30_000)

    window.proxy.set_filter(Filter(Show.UNREADABLE))
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 3, timeout=30_000)
    tiles = [window.grid.tile_by_id(window.proxy.image_id(r)) for r in range(3)]
    assert {Path(t.path).name for t in tiles} == {"empty.jpg", "notes.png", "cut.jpg"}
    reasons = {Path(t.path).name: t.error for t in tiles}
    assert "empty file" in reasons["empty.jpg"]
    assert db_rows(
        window.session.path, "SELECT count(*) FROM images WHERE status = 'unreadable'"
    ) == [(3,)]
    assert db_rows(window.session.path, "SELECT count(*) FROM labels") == [(0,)]
    assert (shapes_dir / "empty.jpg").read_bytes() == b""  # the user's files are never changed


def test_same_folder_twice_adds_nothing_new(window, shapes_dir, wait_idle):
    window.ingest.add_paths([shapes_dir])
    wait_idle(window)
    window.ingest.add_paths([shapes_dir / "circle", shapes_dir])
    wait_idle(window)
    assert window.grid.rowCount() == 12
    assert db_rows(window.session.path, "SELECT count(*) FROM images") == [(12,)]


def test_missing_path_is_refused_with_a_message(window, tmp_path):
    window.ingest.add_paths([tmp_path / "nowhere"])
    assert window.errors and "nowhere" in window.errors[0]
    assert window.grid.rowCount() == 0


def test_thumbnails_are_cached_on_disk(window, shapes_dir, qtbot, wait_idle, tmp_path):
    window.answers = [False]
    window.ingest.add_paths([shapes_dir / "circle"])
    wait_idle(window)
    qtbot.waitUntil(lambda: len(list((tmp_path / "thumbs").rglob("*.jpg"))) == 3, timeout=30_000)


def test_a_big_drop_goes_into_the_grid_in_small_chunks(
    window, tmp_path, qtbot, wait_idle, monkeypatch
) -> None:
    """Rows arrive in inserts of at most INSERT_CHUNK (the event loop turns between them), all
    of them, in order, and the summary waits for the last chunk."""
    monkeypatch.setattr(ingest, "INSERT_CHUNK", 40)
    monkeypatch.setattr(ingest, "FLUSH_MS", 2000)  # so batches pile up between flushes
    folder = tmp_path / "many"
    folder.mkdir()
    Image.new("RGB", (8, 8), "navy").save(tmp_path / "one.png")
    for i in range(1200):
        os.link(tmp_path / "one.png", folder / f"img_{i:04d}.png")
    inserted: list[int] = []
    window.grid.rowsInserted.connect(lambda _parent, first, last: inserted.append(last - first + 1))
    window.answers = [False]
    drop(window.view.viewport(), [folder])
    wait_idle(window)
    assert sum(inserted) == window.grid.rowCount() == 1200
    assert max(inserted) <= 100 and max(inserted[1:]) <= 40  # the first screenful: one batch
    assert "1,200 images in the project" in window.statusBar().currentMessage()
    names = [tile.name for tile in window.grid.tiles()]
    assert names == sorted(names)


def test_a_painted_tile_is_reused_until_what_it_shows_changes(window, tmp_path, wait_idle) -> None:
    """The delegate keeps painted tiles; labelling an image must still repaint it differently."""
    root = tmp_path / "shapes"
    write_dataset(root, per_class=2, side=32)
    window.answers = [False]
    drop(window.view.viewport(), [root])
    wait_idle(window)
    delegate = window.view.itemDelegate()

    def render() -> QImage:
        window.view.viewport().repaint()
        return window.view.viewport().grab().toImage()

    first = render()
    kept = len(delegate._painted)
    assert render() == first and len(delegate._painted) == kept  # nothing new was painted
    project = window.session.project
    project.add_class("circle")  # no classes yet (the folders were not imported as labels)
    project.set_labels([window.grid.tile(0).image_id], project.class_by_name("circle").id)
    window.reload_tiles()
    assert render() != first
