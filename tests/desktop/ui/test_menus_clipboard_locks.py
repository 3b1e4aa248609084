"""The window's other ways in: right-click menu, paste, dragging classes into a new order, and a
project that another window already writes (offered read-only, and then really read-only)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QModelIndex, QPoint, Qt, QUrl
from PySide6.QtGui import QContextMenuEvent, QGuiApplication

from desktop.core.errors import ProjectLocked
from desktop.core.store import Project
from desktop.ui.filter_proxy import Show
from tests.desktop.ui.test_labelling import fill, labels_on_disk
from tests.imagegen import write_dataset


def action_named(menu, text: str):
    return next(a for a in menu.actions() if a.text().split("\t")[0] == text)


def test_right_click_selects_the_tile_under_the_mouse_and_labels_it(window, tmp_path, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.contextRequested.disconnect()  # QMenu.exec would block the test
    asked: list[QPoint] = []
    window.view.contextRequested.connect(asked.append)
    window.view.select_row(0)
    second = window.view.visualRect(window.proxy.index(1, 0)).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, second, QPoint(5, 5))
    window.view.contextMenuEvent(event)
    assert asked and window.view.selected_ids() == [window.proxy.image_id(1)]

    menu = window.labelling.build_context_menu()
    label_menu = action_named(menu, "Label as…").menu()
    assert [a.text().split("\t")[0] for a in label_menu.actions()] == ["cat", "dog"]
    action_named(label_menu, "dog").trigger()
    assert labels_on_disk(window.session.path) == {names[1]: "dog"}
    assert window.view.selected_ids() == [window.proxy.image_id(2)]  # moved on, as keys do
    window.view.select_row(1)
    action_named(menu, "Clear label").trigger()
    assert labels_on_disk(window.session.path) == {}


@pytest.fixture
def clipboard():
    """The application's clipboard, emptied afterwards: mime data still held when the
    interpreter exits is destroyed after QApplication and crashes it (signal 11)."""
    board = QGuiApplication.clipboard()
    yield board
    board.clear()


def test_paste_adds_the_copied_folders_and_an_empty_clipboard_says_why(
    window, tmp_path, wait_idle, clipboard
):
    folder = tmp_path / "copied"
    paths = write_dataset(folder, per_class=1, side=16)
    clipboard.setText("")
    window.ingest.paste()
    assert window.errors == ["The clipboard holds no file or folder paths to add."]
    assert window.grid.rowCount() == 0

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    clipboard.setMimeData(mime)
    window.answers = [False]  # no labels from the class folders
    window.ingest.paste()
    wait_idle(window)
    assert sorted(t.name for t in window.grid.tiles()) == sorted(p.name for p in paths)


def test_dragging_a_class_to_the_top_gives_it_key_1(window, tmp_path, qtbot, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.session.add_class("bird")
    panel = window.classes_panel
    assert [c.name for c in window.session.classes()] == ["cat", "dog", "bird"]
    # What an internal drag-and-drop does to the list's model: move "bird" (row 2) to the top.
    assert panel.list.model().moveRows(QModelIndex(), 2, 1, QModelIndex(), 0)
    assert [c.name for c in window.session.classes()] == ["bird", "cat", "dog"]
    assert window.session.class_by_shortcut(1).name == "bird"
    window.view.setFocus()
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert labels_on_disk(window.session.path) == {names[0]: "bird"}
    window.actions["Undo"].trigger()  # the label
    window.actions["Undo"].trigger()  # the new order
    assert [c.name for c in window.session.classes()] == ["cat", "dog", "bird"]


def test_a_project_in_use_opens_read_only_and_refuses_every_change(
    window, new_window, tmp_path, qtbot, wait_idle
):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    path = window.session.path
    before = labels_on_disk(path)

    other = new_window(tmp_path / "second")
    other.answers = [False]
    assert not other.project_files.open_path(path)  # declined: nothing opened
    assert other.session.project is None

    other.answers = [True]
    assert other.project_files.open_path(path)
    assert other.session.project.read_only
    assert "(read-only)" in other.windowTitle()
    other.show()
    wait_idle(other)
    assert sorted(t.name for t in other.grid.tiles()) == sorted(names)
    other.view.select_row(1)
    qtbot.keyClick(other.view, Qt.Key.Key_2)
    assert other.errors[-1] == "This project is open read-only; labels cannot change."
    other.ingest.add_paths([tmp_path / "imgs"])
    assert other.errors[-1].startswith("This project is open read-only (another window writes it)")
    assert labels_on_disk(path) == before
    other.shutdown()

    with pytest.raises(ProjectLocked):  # the first window still holds the writer's lock
        Project.open(path)


def test_the_unreadable_filter_says_which_files_are_not_checked_yet(
    window, tmp_path, wait_idle, tiny_model_path
):
    fill(window, tmp_path / "imgs", wait_idle)
    window.filter_bar.set_show(Show.UNREADABLE)
    assert "6 are not classified yet" in window.statusBar().currentMessage()
    window.filter_bar.set_show(Show.ALL)
    assert window.classifier.open_model(tiny_model_path)
    window.classifier.classify_all()
    wait_idle(window)
    window.statusBar().clearMessage()
    window.filter_bar.set_show(Show.UNREADABLE)  # every file checked now: nothing to explain
    assert window.statusBar().currentMessage() == ""
