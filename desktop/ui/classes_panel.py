"""The classes dock: add, rename, recolour, merge, delete and reorder the user's classes.

A project has a handful of classes, so a QListWidget is the right tool here (the grid is the place
for model/view). Questions go through the ``Dialogs`` seam (the window's ``ask``/``get_text``/
``choose_*``) so tests answer them without a dialog, and every change is one undoable store action.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import ProjectError
from desktop.core.records import ClassRecord
from desktop.ui.dialogs import Dialogs
from desktop.ui.labelling import key_and_name
from desktop.ui.session import Session


def swatch(colour: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class ClassesPanel(QWidget):
    def __init__(self, session: Session, dialogs: Dialogs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialogs = dialogs
        self._session = session
        self._records: list[ClassRecord] = []
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.model().rowsMoved.connect(self._on_rows_moved)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename())
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for i, (name, slot) in enumerate(
            [
                ("Add…", self.add),
                ("Rename…", self.rename),
                ("Colour…", self.recolour),
                ("Merge into…", self.merge),
                ("Delete", self.delete),
                ("Move up", lambda: self.move(-1)),
                ("Move down", lambda: self.move(+1)),
            ]
        ):
            button = QPushButton(name)
            button.clicked.connect(slot)
            self.buttons[name] = button
            grid.addWidget(button, i // 2, i % 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)
        session.classesChanged.connect(self.refresh)
        session.projectOpened.connect(self.refresh)

    def refresh(self) -> None:
        counts = self._session.project.counts().per_class if self._session.project else {}
        self._records = self._session.classes()
        keys = self._session.class_keys()
        selected = self.selected()
        self.list.blockSignals(True)
        self.list.clear()
        for record in self._records:
            key = keys.get(record.id)
            text = f"{key_and_name(record.name, key)}  ({counts.get(record.id, 0)})"
            item = QListWidgetItem(swatch(record.colour), text)
            item.setData(Qt.ItemDataRole.UserRole, record.id)
            item.setToolTip(
                f"Press {key} to label the selection {record.name}"
                if key is not None
                else "No number key is left: Edit → Label As… (Ctrl+L) or the tile menu"
            )
            self.list.addItem(item)
            if selected is not None and record.id == selected.id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def records(self) -> list[ClassRecord]:
        return list(self._records)

    def selected(self) -> ClassRecord | None:
        item = self.list.currentItem()
        if item is None:
            return None
        class_id = item.data(Qt.ItemDataRole.UserRole)
        return next((r for r in self._records if r.id == class_id), None)

    def select(self, name: str) -> None:
        for row, record in enumerate(self._records):
            if record.name == name:
                self.list.setCurrentRow(row)

    # --- actions -----------------------------------------------------------------------------
    def add(self) -> None:
        name = self._dialogs.get_text("Add class", "Name of the new class:")
        if name is not None:
            self._try(lambda: self._session.add_class(name))

    def rename(self) -> None:
        record = self._need_selection()
        if record is None:
            return
        name = self._dialogs.get_text("Rename class", f"New name for {record.name}:", record.name)
        if name is not None and name != record.name:
            self._try(lambda: self._session.rename_class(record.id, name))

    def recolour(self) -> None:
        record = self._need_selection()
        if record is None:
            return
        colour = self._dialogs.choose_colour(record.colour)
        if colour is not None:
            self._try(lambda: self._session.recolour_class(record.id, colour))

    def merge(self) -> None:
        record = self._need_selection()
        if record is None:
            return
        others = [r.name for r in self._records if r.id != record.id]
        if not others:
            self._dialogs.show_error("There is no other class to merge into.")
            return
        target_name = self._dialogs.choose_item("Merge class", f"Merge {record.name} into:", others)
        target = next((r for r in self._records if r.name == target_name), None)
        if target is None:
            return
        question = (
            f"Move every image labelled {record.name} to {target.name} and remove {record.name}?"
        )
        if self._dialogs.ask("Merge classes", question):
            self._try(lambda: self._session.merge_classes(record.id, target.id))

    def delete(self) -> None:
        record = self._need_selection()
        if record is None:
            return
        count = self._session.require().counts().per_class.get(record.id, 0)
        question = (
            f"Delete the class {record.name}? Its {count} image(s) become unlabelled "
            "(Undo brings them back)."
        )
        if self._dialogs.ask("Delete class", question):
            self._try(lambda: self._session.delete_class(record.id))

    def move(self, step: int) -> None:
        record = self._need_selection()
        if record is None:
            return
        ids = [r.id for r in self._records]
        at = ids.index(record.id)
        to = at + step
        if not 0 <= to < len(ids):
            return
        ids[at], ids[to] = ids[to], ids[at]
        self._try(lambda: self._session.reorder_classes(ids))

    def _on_rows_moved(self, *_args: object) -> None:
        ids = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        if ids != [r.id for r in self._records]:
            self._try(lambda: self._session.reorder_classes(ids))

    def _need_selection(self) -> ClassRecord | None:
        record = self.selected()
        if record is None:
            self._dialogs.show_error("Select a class in the list first.")
        return record

    def _try(self, act) -> None:
        try:
            act()
        except ProjectError as exc:
            self._dialogs.show_error(str(exc))
            self.refresh()
