"""Moved folders, Locate Folder… and duplicates in the real window (issue 14)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop.ui.filter_proxy import Show
from tests.desktop.ui.test_drop_folder import drop
from tests.imagegen import write_dataset


def labels_by_path(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(
            conn.execute(
                "SELECT i.path, c.name FROM labels l JOIN images i ON i.id = l.image_id "
                "JOIN classes c ON c.id = l.class_id"
            )
        )


def test_a_moved_folder_dropped_again_keeps_its_labels(window, tmp_path, wait_idle) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=4, side=32)
    drop(window.view.viewport(), [root])  # class folders become labels (answered yes)
    wait_idle(window)
    assert len(labels_by_path(window.session.path)) == 12
    moved = tmp_path / "sorted" / "shapes"
    moved.parent.mkdir()
    shutil.move(root, moved)

    window.answers = [False]  # do not import the class folders a second time
    drop(window.view.viewport(), [moved])
    wait_idle(window)

    assert "12 moved images found again" in window.statusBar().currentMessage()
    labels = labels_by_path(window.session.path)
    assert len(labels) == 12 and all(Path(p).is_relative_to(moved) for p in labels)
    assert window.grid.rowCount() == 12
    assert sorted(t.label for t in window.grid.tiles()).count("circle") == 4


def test_missing_images_are_listed_and_relinked_by_locate_folder(
    window, tmp_path, qtbot, wait_idle
) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=3, side=32)
    drop(window.view.viewport(), [root])
    wait_idle(window)
    new_home = tmp_path / "usb" / "shapes"
    new_home.parent.mkdir()
    shutil.move(root, new_home)
    window.actions["Find Moved and Missing Files"].trigger()
    wait_idle(window)
    window.filter_bar.set_show(Show.MISSING)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 9, timeout=10_000)

    window.view.select_row(0)
    window.choose_folder = lambda title: new_home
    window.actions["Locate Folder"].trigger()
    wait_idle(window)

    assert window.infos[-1].startswith("9 images relinked")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 0, timeout=10_000)
    labels = labels_by_path(window.session.path)
    assert len(labels) == 9 and all(Path(p).is_relative_to(new_home) for p in labels)


def test_duplicates_view_flags_disagreeing_copies_and_keeps_one(
    window, tmp_path, qtbot, wait_idle
) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=3, side=32)
    original = sorted((root / "circle").iterdir())[0]
    shutil.copy(original, root / "square" / "looks_like_a_square.png")
    drop(window.view.viewport(), [root])
    wait_idle(window)

    dialog = window.moves.show_duplicates()
    assert dialog.rows() == [("2", "circle, square", "⚠ labels disagree")]
    window.filter_bar.set_show(Show.DUPLICATES)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2, timeout=10_000)

    dialog.groupChosen(window.moves.groups()[0])
    window.view.select_row(window.proxy.row_of(window.session.project.image_ids_by_path(
        [str(original)])[str(original)]))  # fmt: skip
    window.actions["Keep This Copy"].trigger()
    assert dialog.rows() == [("2", "circle, square", "⚠ labels disagree")]
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM duplicate_marks").fetchone() == (1,)
    window.actions["Undo"].trigger()
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM duplicate_marks").fetchone() == (0,)
    assert (root / "square" / "looks_like_a_square.png").exists()


def test_locate_and_keep_explain_what_they_need(window, tmp_path, wait_idle) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=2, side=32)
    window.answers = [False]
    drop(window.view.viewport(), [root])
    wait_idle(window)
    window.view.select_row(0)
    window.choose_folder = lambda title: pytest.fail("no folder should be asked for")
    window.actions["Locate Folder"].trigger()
    assert "Select a missing image first" in window.errors[-1]
    window.actions["Keep This Copy"].trigger()
    assert "no copies" in window.errors[-1]
    with sqlite3.connect(window.session.path) as conn:
        assert conn.execute("SELECT count(*) FROM duplicate_marks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM history").fetchone() == (0,)
