"""Moved folders, Locate Folder… and duplicates in the real window (issue 14)."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from desktop.core.csv_io import write_training_manifest
from desktop.ui.filter_proxy import Show
from tests.desktop.core.test_identity_split import plant_embeddings
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
    assert dialog.rows() == [("2", "exact", "circle, square", "⚠ labels disagree")]
    window.filter_bar.set_show(Show.DUPLICATES)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2, timeout=10_000)

    dialog.groupChosen(window.moves.groups()[0])
    window.view.select_row(window.proxy.row_of(window.session.project.image_ids_by_path(
        [str(original)])[str(original)]))  # fmt: skip
    window.actions["Keep This Copy"].trigger()
    assert dialog.rows() == [("2", "exact", "circle, square", "⚠ labels disagree")]
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


def test_near_copies_are_shown_flagged_kept_and_grouped_in_the_manifest(
    window, tmp_path, qtbot, wait_idle
) -> None:
    """A resized copy filed under another class and an exact copy: the view shows one near and
    one exact group, flags the near one, Keep This Copy marks the near copy, and the manifest
    the trainer gets puts the near pair in one group."""
    root = tmp_path / "shapes"
    write_dataset(root, per_class=3, side=32)
    circle = sorted((root / "circle").iterdir())[0]
    resized = root / "square" / "bigger.png"
    with Image.open(circle) as image:
        image.resize((64, 64)).save(resized)
    triangle = sorted((root / "triangle").iterdir())[0]
    shutil.copy(triangle, root / "triangle" / "same.png")
    drop(window.view.viewport(), [root])
    wait_idle(window)
    project = window.session.project
    ids = project.image_ids_by_path([str(circle), str(resized)])
    near_pair = (ids[str(circle)], ids[str(resized)])

    dialog = window.moves.show_duplicates()
    assert "classify the images first" in dialog.summary.text()
    assert dialog.rows() == [("2", "exact", "triangle", "")]
    plant_embeddings(project, {near_pair[0]: near_pair[1]})  # as a model's classify would
    manifest = tmp_path / "before.csv"
    write_training_manifest(project, manifest)

    window.moves.show_duplicates()
    wait_idle(window)
    assert sorted(dialog.rows()) == [
        ("2", "exact", "triangle", ""),
        ("2", "near", "circle, square", "⚠ labels disagree"),
    ]
    assert "1 of near copies" in dialog.summary.text()
    window.filter_bar.set_show(Show.DUPLICATES)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 4, timeout=10_000)
    with manifest.open(newline="") as handle:
        groups = {row["path"]: row["group"] for row in csv.DictReader(handle)}
    assert groups[str(circle)] == groups[str(resized)] != ""
    assert len(set(groups.values())) == len(groups) - 2  # the near pair and the exact pair

    window.view.select_row(window.proxy.row_of(near_pair[0]))
    window.actions["Keep This Copy"].trigger()
    assert ("2", "near", "circle, square", "⚠ labels disagree") in dialog.rows()
    with sqlite3.connect(window.session.path) as conn:
        marks = conn.execute("SELECT image_id, kept_id FROM duplicate_marks").fetchall()
    assert marks == [(near_pair[1], near_pair[0])]
    write_training_manifest(project, manifest)
    with manifest.open(newline="") as handle:
        trained = {row["path"] for row in csv.DictReader(handle)}
    assert str(circle) in trained and str(resized) not in trained and resized.exists()
