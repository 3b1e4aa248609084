"""Keyboard-first labelling: number keys label the selection, then the next image is selected.

"Next" means the next image in the grid as currently filtered and sorted, so labelling through
"Unlabelled" walks the whole list without the user touching the mouse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint
from PySide6.QtWidgets import QMenu

from desktop.core.errors import ProjectError

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


STATUS_MS = 8_000


def key_and_name(name: str, key: int | None) -> str:
    """How a class is listed wherever its key matters: "[3]  cat", or the name alone."""
    return f"[{key}]  {name}" if key is not None else f"       {name}"


class Labelling:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        view = window.view
        view.labelKey.connect(self.label_with_shortcut)
        view.clearKey.connect(lambda: self.label_as(None))
        view.acceptKey.connect(self.accept_predictions)
        view.contextRequested.connect(self.show_context_menu)

    def label_with_shortcut(self, key: int) -> None:
        record = self.window.session.class_by_shortcut(key)
        if record is None:
            self.window.statusBar().showMessage(
                f"No class has the key {key}: the Classes panel shows each class's key "
                "(a class named like a key gets it). Backspace clears a label.",
                STATUS_MS,
            )
            return
        self.label_as(record.id)

    def label_as_chosen(self) -> None:
        """Edit → Label As…: any class by name, also those past the tenth key."""
        classes = self.window.session.classes()
        if not classes:
            self.window.statusBar().showMessage("Add a class first (Edit → Add Class…).", STATUS_MS)
            return
        if not self.window.view.selected_ids():
            self._say_select_first()
            return
        keys = self.window.session.class_keys()
        texts = {key_and_name(c.name, keys.get(c.id)): c.id for c in classes}
        chosen = self.window.choose_item("Label as", "Label the selection as:", list(texts))
        if chosen is not None and chosen in texts:
            self.label_as(texts[chosen])

    def label_as(self, class_id: int | None) -> None:
        """Label the selection with a class (None clears) and move on."""
        self._apply(lambda ids: self.window.session.label(ids, class_id))

    def accept_predictions(self) -> None:
        self._apply(self.window.session.accept_predictions)

    def _apply(self, act: Callable[[list[int]], object]) -> None:
        view = self.window.view
        ids = view.selected_ids()
        if not ids:
            self._say_select_first()
            return
        if self.window.session.project is not None and self.window.session.project.read_only:
            self.window.show_error("This project is open read-only; labels cannot change.")
            return
        rows = sorted(self._proxy_rows(ids))
        next_id = self._next_unselected(rows)
        try:
            act(ids)
        except ProjectError as exc:
            self.window.show_error(str(exc))
            return
        self._move_to(next_id, rows[0] if rows else 0)

    def _say_select_first(self) -> None:
        """Not worth a dialog: a key pressed with nothing selected is said in the status bar."""
        self.window.statusBar().showMessage(
            "Select one or more images first (click, or use the arrow keys).", STATUS_MS
        )

    def _proxy_rows(self, ids: Sequence[int]) -> list[int]:
        proxy = self.window.proxy
        return [row for row in (proxy.row_of(i) for i in ids) if row is not None]

    def _next_unselected(self, rows: list[int]) -> int | None:
        if not rows:
            return None
        proxy = self.window.proxy
        chosen = set(rows)
        for row in range(rows[-1] + 1, proxy.rowCount()):
            if row not in chosen:
                return proxy.image_id(row)
        return None

    def _move_to(self, next_id: int | None, fallback_row: int) -> None:
        proxy = self.window.proxy
        row = proxy.row_of(next_id) if next_id is not None else None
        if row is None:
            # Last image of the filter: stay at the end rather than jump to the top.
            row = min(fallback_row, proxy.rowCount() - 1) if next_id is not None else None
        if row is None:
            row = self._last_selected_row()
        if row is not None and row >= 0:
            self.window.view.select_row(row)

    def _last_selected_row(self) -> int | None:
        rows = [i.row() for i in self.window.view.selectionModel().selectedIndexes()]
        return max(rows) if rows else None

    def reselect(self, image_ids: Sequence[int], current_id: int | None) -> None:
        """After a reload, select the same images again (those still shown)."""
        view = self.window.view
        proxy = self.window.proxy
        selection = QItemSelection()
        for row in self._proxy_rows(image_ids):
            index = proxy.index(row, 0)
            selection.select(index, index)
        model = view.selectionModel()
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        row = proxy.row_of(current_id) if current_id is not None else None
        if row is not None:
            model.setCurrentIndex(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate)

    def show_context_menu(self, global_pos: QPoint) -> None:
        menu = self.build_context_menu()
        menu.exec(global_pos)

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self.window)
        label_menu = menu.addMenu("Label as…")
        keys = self.window.session.class_keys()
        for record in self.window.session.classes():
            key = keys.get(record.id)
            text = f"{record.name}\t{key}" if key is not None else record.name
            action = label_menu.addAction(text)
            action.triggered.connect(lambda _=False, cid=record.id: self.label_as(cid))
        label_menu.setEnabled(not label_menu.isEmpty())
        menu.addAction("Accept prediction\tEnter", self.accept_predictions)
        menu.addAction("Clear label\tBackspace", lambda: self.label_as(None))
        menu.addSeparator()
        menu.addAction("Classify selection", self.window.classifier.classify_selection)
        return menu
