"""The thumbnail grid widget: an icon-mode QListView that turns keys and drops into requests.

It does not label anything itself; it says what the user asked for (``labelKey``, ``acceptKey``,
``clearKey``, ``pathsDropped``) and the window decides what that means for the project.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QContextMenuEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QPainter,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from desktop.ui.grid_model import Role

_DIGITS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(10)}
_CLEAR_KEYS = {Qt.Key.Key_Backspace, Qt.Key.Key_Delete}
_ACCEPT_KEYS = {Qt.Key.Key_Return, Qt.Key.Key_Enter}


def paths_from_mime(mime) -> list[Path]:
    """Local files and folders in a drop or the clipboard (URLs, or one path per text line)."""
    if mime.hasUrls():
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if mime.hasText():
        lines = [line.strip() for line in mime.text().splitlines()]
        return [Path(line[7:] if line.startswith("file://") else line) for line in lines if line]
    return []


class GridView(QListView):
    labelKey = Signal(int)  # 0-9: the class with that key (desktop.core.class_keys)
    clearKey = Signal()
    acceptKey = Signal()
    pathsDropped = Signal(list)  # list[Path]
    contextRequested = Signal(object)  # QPoint, global
    visibleCapacityChanged = Signal(int)  # how many tiles fit on one screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_text = "Drop folders of images here\n(or File → Add Folder…)"
        self._anchor: tuple[QPersistentModelIndex, int] | None = None
        """A tile to bring back to the top (and how far past it) once the view is laid out."""
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSpacing(4)
        self.setWrapping(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragEnabled(False)

    # --- selection helpers -------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        """Selected images in on-screen order."""
        rows = sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [int(i.data(Role.IMAGE_ID)) for i in rows]

    def select_row(self, row: int) -> None:
        model = self.model()
        if model is None or not 0 <= row < model.rowCount():
            return
        index = model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.selectionModel().setCurrentIndex(index, flags)
        self.scrollTo(index)

    def set_tile_size(self, size: QSize) -> None:
        self.setGridSize(
            QSize(size.width() + 2 * self.spacing(), size.height() + 2 * self.spacing())
        )
        self._announce_capacity()

    # --- keys, menus, drops --------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and key in _DIGITS:
            self.labelKey.emit(_DIGITS[key])
        elif plain and key in _CLEAR_KEYS:
            self.clearKey.emit()
        elif plain and key in _ACCEPT_KEYS:
            self.acceptKey.emit()
        else:
            super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        index: QModelIndex = self.indexAt(event.pos())
        if index.isValid() and not self.selectionModel().isSelected(index):
            self.select_row(index.row())
        self.contextRequested.emit(event.globalPos())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.pathsDropped.emit(paths)

    # --- an empty grid says what to do ----------------------------------------------------------
    def set_empty_text_for(self, shown: int, total: int) -> None:
        """What an empty grid says: how to add images, or that the filter hides them all."""
        if total == 0:
            self.empty_text = "Drop folders of images here\n(or File → Add Folder…)"
        else:
            self.empty_text = f"No image matches this filter ({total:,} in the project)"
        self.viewport().update()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.empty_text:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.viewport().rect(), int(Qt.AlignmentFlag.AlignCenter), self.empty_text
            )

    # --- keeping the user's place ---------------------------------------------------------------
    def top_index(self) -> QModelIndex:
        """The tile at the viewport's top-left, where the user's eye is."""
        return self.indexAt(QPoint(self.spacing() + 1, self.spacing() + 1))

    def keep_at_top(self, index: QModelIndex, offset: int = 0) -> None:
        """Scroll ``index`` to the top now and again after the next (delayed) layout."""
        if not index.isValid():
            return
        self._anchor = (QPersistentModelIndex(index), offset)
        self._apply_anchor()

    def doItemsLayout(self) -> None:
        super().doItemsLayout()
        self._apply_anchor()
        self._anchor = None

    def _apply_anchor(self) -> None:
        if self._anchor is None or not self._anchor[0].isValid():
            return
        anchor, offset = self._anchor
        index = self.model().index(anchor.row(), 0)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        bar = self.verticalScrollBar()
        bar.setValue(bar.value() + offset)

    def resizeEvent(self, event: QResizeEvent) -> None:
        top = self.top_index()
        scrolled = self.verticalScrollBar().value() > 0
        super().resizeEvent(event)  # re-wraps the rows later: keep the top tile on top
        if scrolled and top.isValid():
            self.keep_at_top(top, max(0, -self.visualRect(top).top()))
        self._announce_capacity()

    def _announce_capacity(self) -> None:
        grid = self.gridSize()
        if grid.isValid() and grid.width() > 0 and grid.height() > 0:
            area = self.viewport().size()
            across = max(1, area.width() // grid.width())
            down = max(1, area.height() // grid.height() + 1)
            self.visibleCapacityChanged.emit(across * down)
