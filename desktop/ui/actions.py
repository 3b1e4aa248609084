"""The window's menus and shortcuts, in one place, each wired to the controller that does it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from desktop.ui import help_menu as help_menu_entries

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

Key = QKeySequence.StandardKey


@dataclass
class Actions:
    """Named actions, so tests and other modules can trigger them like a user would."""

    by_name: dict[str, QAction] = field(default_factory=dict)
    recent_menu: QMenu | None = None

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]


def _adder(window: MainWindow, actions: Actions) -> Callable[..., QAction]:
    """``add(menu, name, slot, keys)``: one named, triggerable action in ``menu``."""

    def add(menu: QMenu, name: str, slot: Callable[[], object], keys=None) -> QAction:
        action = QAction(name, window)
        if keys is not None:
            action.setShortcuts(keys if isinstance(keys, list) else [QKeySequence(keys)])
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        actions.by_name[name.rstrip("…")] = action
        return action

    return add


def build(window: MainWindow) -> Actions:
    actions = Actions()
    bar = window.menuBar()
    add = _adder(window, actions)

    files, ingest, classifier, exporter = (
        window.project_files,
        window.ingest,
        window.classifier,
        window.exporter,
    )
    file_menu = bar.addMenu("&File")
    add(file_menu, "New Project…", files.new, Key.New)
    add(file_menu, "Open Project…", files.choose_and_open, Key.Open)
    actions.recent_menu = file_menu.addMenu("Open Recent")
    actions.recent_menu.aboutToShow.connect(lambda: _fill_recent(window, actions.recent_menu))
    add(file_menu, "Save Project As…", files.save_as, Key.SaveAs)
    file_menu.addSeparator()
    add(file_menu, "Add Folder…", ingest.choose_folder, "Ctrl+Shift+A")
    add(file_menu, "Paste Files or Folders", ingest.paste, Key.Paste)
    add(file_menu, "Import Labels from CSV…", ingest.choose_csv)
    add(file_menu, "Locate Folder…", window.moves.locate_folder)
    add(file_menu, "Find Moved and Missing Files", window.moves.check_files)
    add(file_menu, "Import Cluster Results…", window.cluster_import.choose)
    file_menu.addSeparator()
    add(file_menu, "Open Model…", classifier.choose_model, "Ctrl+M")
    file_menu.addSeparator()
    add(file_menu, "Export CSV…", exporter.choose_csv, "Ctrl+E")
    add(file_menu, "Export as Class Folders…", exporter.choose_folders)
    datasets = window.dataset_exporter
    add(file_menu, "Export for Hugging Face (imagefolder)…", datasets.choose_huggingface)
    add(file_menu, "Export as ImageNet-Style Folders…", datasets.choose_imagenet)
    add(file_menu, "Export Results Table (Parquet/CSV)…", datasets.choose_table)
    file_menu.addSeparator()
    add(file_menu, "Quit", window.close, Key.Quit)

    edit_menu = bar.addMenu("&Edit")
    undo = window.session.history.stack.createUndoAction(window, "&Undo")
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    redo = window.session.history.stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit_menu.addActions([undo, redo])
    actions.by_name["Undo"], actions.by_name["Redo"] = undo, redo
    edit_menu.addSeparator()
    add(edit_menu, "Select All", window.view.selectAll, Key.SelectAll)
    add(edit_menu, "Accept Prediction", window.labelling.accept_predictions)
    add(edit_menu, "Label As…", window.labelling.label_as_chosen, "Ctrl+L")
    add(edit_menu, "Clear Label", lambda: window.labelling.label_as(None))
    add(edit_menu, "Keep This Copy", window.moves.keep_one, "Ctrl+K")
    add(edit_menu, "Add Class…", window.classes_panel.add, "Ctrl+Shift+N")
    add(edit_menu, "Find…", lambda: _focus_search(window), Key.Find)

    classify_menu = bar.addMenu("&Classify")
    add(classify_menu, "Classify All", classifier.classify_all, "Ctrl+R")
    add(classify_menu, "Classify Selection", classifier.classify_selection, "Ctrl+Shift+R")
    add(classify_menu, "Classify Not Yet Predicted", classifier.classify_unpredicted)
    add(classify_menu, "Cancel Background Job", window.status.cancel_button.click, "Esc")

    view_menu = bar.addMenu("&View")
    for dock in window.docks:
        view_menu.addAction(dock.toggleViewAction())
    add(view_menu, "Duplicates…", window.moves.show_duplicates)
    view_menu.addAction(window.heat_map.action)
    actions.by_name["Heat Map"] = window.heat_map.action
    add(view_menu, "Bigger Thumbnails", lambda: _step_size(window, +1), Key.ZoomIn)
    add(view_menu, "Smaller Thumbnails", lambda: _step_size(window, -1), Key.ZoomOut)

    help_menu = bar.addMenu("&Help")
    add(help_menu, "Open Sample Project", window.sample.open)
    help_menu.addSeparator()
    actions.by_name.update(help_menu_entries.add_to(window, help_menu))
    return actions


def add_model_menu(
    window: MainWindow,
    entries: Sequence[tuple[str, Callable[[], object], str | None]],
    toggles: Sequence[QAction],
) -> QMenu:
    """The Model menu (the loop's entries, then its panels' toggles), just before View."""
    menu = QMenu("&Model", window)
    add = _adder(window, window.actions)
    for text, slot, keys in entries:
        add(menu, text, slot, keys)
    menu.addSeparator()
    menu.addActions(list(toggles))
    bar = window.menuBar()
    view = next((a for a in bar.actions() if a.text().replace("&", "") == "View"), None)
    if view is not None:
        bar.insertMenu(view, menu)
    else:
        bar.addMenu(menu)
    return menu


def _step_size(window: MainWindow, step: int) -> None:
    slider = window.filter_bar.size_slider
    slider.setValue(max(slider.minimum(), min(slider.maximum(), slider.value() + step)))


def _fill_recent(window: MainWindow, menu: QMenu) -> None:
    menu.clear()
    recent = window.project_files.recent()
    for path in recent:
        action = menu.addAction(str(path))
        action.triggered.connect(lambda _=False, p=path: window.project_files.open_path(p))
    if not recent:
        menu.addAction("No recent projects").setEnabled(False)


def _focus_search(window: MainWindow) -> None:
    window.filter_bar.search.setFocus()
    window.filter_bar.search.selectAll()
