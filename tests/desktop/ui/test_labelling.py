"""Keyboard labelling, bulk relabel, undo/redo (also after reopening), filters and classes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt

from desktop.ui.filter_proxy import Filter, Show, SortBy
from tests.imagegen import write_dataset


def labels_on_disk(project: Path) -> dict[str, str]:
    """Labels as a fresh connection sees them: proof they were committed."""
    with sqlite3.connect(project) as conn:
        rows = conn.execute(
            "SELECT i.path, c.name FROM labels l JOIN images i ON i.id = l.image_id "
            "JOIN classes c ON c.id = l.class_id"
        ).fetchall()
    return {Path(path).name: name for path, name in rows}


def fill(window, folder: Path, wait_idle) -> list[str]:
    """Six unlabelled images and the classes cat (key 1) and dog (key 2)."""
    paths = write_dataset(folder, per_class=2, side=16)
    window.answers = [False]
    window.ingest.add_paths([folder])
    wait_idle(window)
    window.session.add_class("cat")
    window.session.add_class("dog")
    return [p.name for p in paths]


def shown_names(window) -> list[str]:
    return [
        window.grid.tile_by_id(window.proxy.image_id(r)).name
        for r in range(window.proxy.rowCount())
    ]


def test_number_keys_label_and_move_on(window, tmp_path, qtbot, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.setFocus()
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert labels_on_disk(window.session.path) == {names[0]: "cat"}
    assert window.view.selected_ids() == [window.proxy.image_id(1)]  # moved to the next
    qtbot.keyClick(window.view, Qt.Key.Key_2)
    assert labels_on_disk(window.session.path) == {names[0]: "cat", names[1]: "dog"}
    qtbot.keyClick(window.view, Qt.Key.Key_Left)  # the grid is one row here
    qtbot.keyClick(window.view, Qt.Key.Key_Backspace)
    assert labels_on_disk(window.session.path) == {names[0]: "cat"}
    assert window.grid.tile_by_id(window.proxy.image_id(0)).label == "cat"


def test_unknown_key_explains_itself(window, tmp_path, qtbot, wait_idle):
    fill(window, tmp_path / "imgs", wait_idle)
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_7)
    assert "No class has the key 7" in window.statusBar().currentMessage()
    assert labels_on_disk(window.session.path) == {}


def test_labelling_through_the_unlabelled_filter_walks_the_list(window, tmp_path, qtbot, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.filter_bar.set_show(Show.UNLABELLED)
    window.view.select_row(0)
    for _ in names:
        qtbot.keyClick(window.view, Qt.Key.Key_2)
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "dog")
    assert window.proxy.rowCount() == 0
    assert window.filter_bar.count_label.text() == "0 of 6 shown"


def test_bulk_relabel_and_undo_redo_survive_reopening(
    window, tmp_path, qtbot, wait_idle, new_window
):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.selectAll()
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "cat")
    selection = window.view.selectionModel()
    selection.select(window.proxy.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    selection.select(window.proxy.index(2, 0), QItemSelectionModel.SelectionFlag.Select)
    qtbot.keyClick(window.view, Qt.Key.Key_2)
    assert labels_on_disk(window.session.path)[names[2]] == "dog"

    window.actions["Undo"].trigger()
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "cat")
    assert window.grid.tile_by_id(window.proxy.image_id(2)).label == "cat"
    window.actions["Redo"].trigger()
    assert labels_on_disk(window.session.path)[names[0]] == "dog"
    window.actions["Undo"].trigger()

    project = window.session.path
    window.shutdown()
    again = new_window(tmp_path / "second")
    assert again.project_files.open_path(project)
    assert again.actions["Redo"].isEnabled()
    again.actions["Redo"].trigger()
    assert labels_on_disk(project)[names[2]] == "dog"
    for _ in range(2):
        again.actions["Undo"].trigger()
    assert labels_on_disk(project) == {}
    again.shutdown()


def test_enter_accepts_prediction_is_refused_without_a_model(window, tmp_path, qtbot, wait_idle):
    fill(window, tmp_path / "imgs", wait_idle)
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert window.errors and "open a model first" in window.errors[0]
    assert labels_on_disk(window.session.path) == {}


def test_filters_sorting_and_counts(window, tmp_path, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.select_row(0)
    window.labelling.label_as(window.session.class_by_shortcut(2).id)
    proxy = window.proxy
    proxy.set_filter(Filter(Show.LABELLED_AS, "dog"))
    assert shown_names(window) == [names[0]]
    proxy.set_filter(Filter(Show.UNLABELLED))
    assert proxy.rowCount() == 5
    assert window.filter_bar.count_label.text() == "5 of 6 shown"
    proxy.set_filter(Filter(Show.ALL))
    proxy.set_sort(SortBy.NAME, Qt.SortOrder.DescendingOrder)
    assert shown_names(window) == sorted(names, reverse=True)


def test_search_finds_names_and_folders_and_keeps_the_show_filter(
    window, tmp_path, qtbot, wait_idle
):
    names = fill(window, tmp_path / "imgs", wait_idle)  # circle/, square/, triangle/: 2 each
    search = window.filter_bar.search
    window.activateWindow()
    window.actions["Find"].trigger()  # Ctrl+F
    qtbot.waitUntil(search.hasFocus)
    qtbot.keyClicks(search, "CIRCLE 1")  # case-insensitive; digits typed here do not label
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 0)
    search.setText("circle/")  # a folder name matches its images
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)
    assert shown_names(window) == [n for n in names if n.startswith("circle")]
    assert window.filter_bar.count_label.text() == "2 of 6 shown"
    assert labels_on_disk(window.session.path) == {}

    window.view.select_row(0)
    window.labelling.label_as(window.session.class_by_shortcut(1).id)
    window.filter_bar.set_show(Show.UNLABELLED)
    assert window.proxy.rowCount() == 1  # unlabelled AND in circle/
    search.clear()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 5)


def test_class_rename_merge_delete_through_the_panel(window, tmp_path, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.selectAll()
    window.labelling.label_as(window.session.class_by_shortcut(1).id)
    panel = window.classes_panel
    panel.select("cat")
    window.get_text = lambda *args: "kitten"
    panel.rename()
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "kitten")
    assert window.grid.tile_by_id(window.proxy.image_id(0)).label == "kitten"

    panel.select("kitten")
    window.choose_item = lambda *args: "dog"
    panel.merge()
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "dog")
    assert [r.name for r in panel.records()] == ["dog"]
    assert window.session.class_by_shortcut(1).name == "dog"

    panel.select("dog")
    window.answers = [False]
    panel.delete()  # the user said no: nothing changes
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "dog")
    panel.delete()
    assert labels_on_disk(window.session.path) == {}
    window.actions["Undo"].trigger()
    assert labels_on_disk(window.session.path) == dict.fromkeys(names, "dog")


def test_duplicate_class_name_is_refused_with_a_message(window):
    window.session.add_class("cat")
    window.get_text = lambda *args: "Cat"
    window.classes_panel.add()
    assert window.errors and "already a class" in window.errors[0]
    assert [r.name for r in window.classes_panel.records()] == ["cat"]
