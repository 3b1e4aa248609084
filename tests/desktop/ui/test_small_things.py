"""The small things a new user tripped on: an empty grid's hint, Ctrl+Z from the search box with
a word on what was undone, Help's lists, one Review in the Model menu, true import summaries,
and a window that fits a laptop screen."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget
from test_labelling import fill, labels_on_disk

from desktop.ui.filter_proxy import Filter, Show
from tests.imagegen import write_dataset


def test_an_empty_grid_says_where_images_go(window, tmp_path, wait_idle):
    assert window.grid.rowCount() == 0
    assert window.view.empty_text.startswith("Drop folders of images here")
    fill(window, tmp_path / "imgs", wait_idle)
    window.apply_filter(Filter(Show.MISSING))
    assert window.proxy.rowCount() == 0
    assert window.view.empty_text == "No image matches this filter (6 in the project)"


def test_ctrl_z_in_the_search_box_undoes_the_label_and_says_so(window, tmp_path, qtbot, wait_idle):
    names = fill(window, tmp_path / "imgs", wait_idle)
    window.view.setFocus()
    window.view.select_row(0)
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert labels_on_disk(window.session.path) == {names[0]: "cat"}
    search = window.filter_bar.search
    window.activateWindow()
    search.setFocus()
    qtbot.waitUntil(search.hasFocus)
    qtbot.keyClick(search, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels_on_disk(window.session.path) == {}
    assert window.statusBar().currentMessage().startswith("Undone: Label")
    qtbot.keyClicks(search, "ab")  # typing in the box: Ctrl+Z undoes the typing first
    qtbot.keyClick(search, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert search.text() != "ab" and labels_on_disk(window.session.path) == {}


def test_help_lists_the_keys_and_about(window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    texts = [a.text() for a in help_menu.actions()]
    assert "Keyboard Shortcuts" in texts and "About Pigeonhole" in texts
    from desktop.ui.help_menu import show_shortcuts

    dialog = show_shortcuts(window)
    table = dialog.findChild(QTableWidget)
    rows = [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]
    assert ("Backspace / Delete", "clear the label of the selection") in rows
    assert ("Ctrl+L", "Label As…") in rows and ("F1", "Keyboard Shortcuts") in rows
    dialog.close()


def test_the_model_menu_names_review_once(window):
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    texts = [a.text() for a in model_menu.actions() if a.text()]
    assert texts.count("Review") == 1
    assert "Review Panel" in texts


def test_a_folder_import_of_images_already_added_says_what_happened(window, tmp_path, wait_idle):
    write_dataset(tmp_path / "shapes", per_class=3, side=16)
    window.ingest.add_paths([tmp_path / "shapes"])  # the class-folder offer: yes
    wait_idle(window)
    (summary,) = window.infos
    assert summary.startswith("Folders of shapes: 9 images labelled.")
    assert "0 newly added" not in summary and "rows read" not in summary


def test_the_training_dialog_opens_ready_not_with_the_last_runs_message(window):
    dialog = window.loop.dialog
    dialog.stage_label.setText("Done: test accuracy 90.0 %, macro F1 0.900.")
    window.loop.train()
    assert dialog.stage_label.text().startswith("Ready")
    dialog.backbone.setCurrentText("small_cnn")
    assert not dialog.fine_tune_epochs.isEnabled()
    dialog.hide()


def test_the_thresholds_explain_why_they_differ(window):
    tip = window.filter_bar.threshold.toolTip()
    assert "you choose" in tip and "Uncertain" in tip and "validation" in tip


def test_the_window_fits_a_1366_by_768_screen_with_every_dock_open(window):
    for dock in window.docks:
        dock.show()
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700  # room for a panel and title bar
