"""Keyboard-first labelling: number keys label the selection, then the next image is selected.

"Next" means the next image in the grid as currently filtered and sorted, so labelling through
"Unlabelled" walks the whole list without the user touching the mouse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QObject, QPoint, Signal
from PySide6.QtWidgets import QMenu

from desktop.core.errors import ProjectError
from desktop.ui.dialogs import Dialogs
from desktop.ui.grid_parts import GridParts
from desktop.ui.session import Session

STATUS_MS = 8_000


def key_and_name(name: str, key: int | None) -> str:
    """How a class is listed wherever its key matters: "[3]  cat", or the name alone."""
    return f"[{key}]  {name}" if key is not None else f"       {name}"


class Labelling(QObject):
    classifySelectionRequested = Signal()
    """The tile menu's "Classify selection" (the classifier is connected to it)."""

    def __init__(
        self, session: Session, grid: GridParts, dialogs: Dialogs, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.grid = grid
        self.dialogs = dialogs
        view = grid.view
        view.labelKey.connect(self.label_with_shortcut)
        view.clearKey.connect(lambda: self.label_as(None))
        view.acceptKey.connect(self.accept_predictions)
        view.contextRequested.connect(self.show_context_menu)

    def label_with_shortcut(self, key: int) -> None:
        record = self.session.class_by_shortcut(key)
        if record is None:
            self.dialogs.note(
                f"No class has the key {key}: the Classes panel shows each class's key "
                "(a class named like a key gets it). Backspace clears a label.",
                STATUS_MS,
            )
            return
        self.label_as(record.id)

    def label_as_chosen(self) -> None:
        """Edit → Label As…: any class by name, also those past the tenth key."""
        classes = self.session.classes()
        if not classes:
            self.dialogs.note("Add a class first (Edit → Add Class…).", STATUS_MS)
            return
        if not self.grid.view.selected_ids():
            self._say_select_first()
            return
        keys = self.session.class_keys()
        texts = {key_and_name(c.name, keys.get(c.id)): c.id for c in classes}
        chosen = self.dialogs.choose_item("Label as", "Label the selection as:", list(texts))
        if chosen is not None and chosen in texts:
            self.label_as(texts[chosen])

    def label_as(self, class_id: int | None) -> None:
        """Label the selection with a class (None clears) and move on."""
        self._apply(lambda ids: self.session.label(ids, class_id))

    def accept_predictions(self) -> None:
        self._apply(self.session.accept_predictions)

    def _apply(self, act: Callable[[list[int]], object]) -> None:
        view = self.grid.view
        ids = view.selected_ids()
        if not ids:
            self._say_select_first()
            return
        if self.session.project is not None and self.session.project.read_only:
            self.dialogs.show_error("This project is open read-only; labels cannot change.")
            return
        rows = sorted(self._proxy_rows(ids))
        next_id = self._next_unselected(rows)
        try:
            act(ids)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return
        self._move_to(next_id, rows[0] if rows else 0)

    def _say_select_first(self) -> None:
        """Not worth a dialog: a key pressed with nothing selected is said in the status bar."""
        self.dialogs.note(
            "Select one or more images first (click, or use the arrow keys).", STATUS_MS
        )

    def _proxy_rows(self, ids: Sequence[int]) -> list[int]:
        proxy = self.grid.proxy
        return [row for row in (proxy.row_of(i) for i in ids) if row is not None]

    def _next_unselected(self, rows: list[int]) -> int | None:
        if not rows:
            return None
        proxy = self.grid.proxy
        chosen = set(rows)
        for row in range(rows[-1] + 1, proxy.rowCount()):
            if row not in chosen:
                return proxy.image_id(row)
        return None

    def _move_to(self, next_id: int | None, fallback_row: int) -> None:
        proxy = self.grid.proxy
        row = proxy.row_of(next_id) if next_id is not None else None
        if row is None:
            # Last image of the filter: stay at the end rather than jump to the top.
            row = min(fallback_row, proxy.rowCount() - 1) if next_id is not None else None
        if row is None:
            row = self._last_selected_row()
        if row is not None and row >= 0:
            self.grid.view.select_row(row)

    def _last_selected_row(self) -> int | None:
        rows = [i.row() for i in self.grid.view.selectionModel().selectedIndexes()]
        return max(rows) if rows else None

    def reselect(self, image_ids: Sequence[int], current_id: int | None) -> None:
        """After a reload, select the same images again (those still shown)."""
        view = self.grid.view
        proxy = self.grid.proxy
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
        menu = QMenu(self.grid.view)
        label_menu = menu.addMenu("Label as…")
        keys = self.session.class_keys()
        for record in self.session.classes():
            key = keys.get(record.id)
            text = f"{record.name}\t{key}" if key is not None else record.name
            action = label_menu.addAction(text)
            action.triggered.connect(lambda _=False, cid=record.id: self.label_as(cid))
        label_menu.setEnabled(not label_menu.isEmpty())
        menu.addAction("Accept prediction\tEnter", self.accept_predictions)
        menu.addAction("Clear label\tBackspace", lambda: self.label_as(None))
        menu.addSeparator()
        menu.addAction("Classify selection", self.classifySelectionRequested.emit)
        return menu
