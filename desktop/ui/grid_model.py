"""The image grid's Qt model: one row per image in the project, never one widget per image.

Rows are plain ``Tile`` records copied from the store, so painting and filtering never touch
SQLite. The store stays the truth: after a change the window calls ``refresh_ids`` (or ``reload``)
and only the affected rows emit ``dataChanged``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from desktop.ui.plain_text import tooltip
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader
from trainer.file_names import shown

Index = QModelIndex | QPersistentModelIndex


def freeze_long_lived() -> None:
    """Keep Python's full garbage collections from walking every tile on the GUI thread.

    A full collection walks every tracked object; with 100,000 tiles that took ~110 ms, the
    longest stall of a 100,000-file scan (benchmarks/grid.py). Tiles live as long as the project
    and hold no reference cycles, so they go to the permanent generation (``gc.freeze``): they are
    still freed by reference counting when replaced. The young generations are collected first
    (a few ms), so little garbage that only the collector could free is frozen with them; cycles
    already in the old generation stay until the app exits.
    """
    gc.collect(1)
    gc.freeze()


class Role(IntEnum):
    TILE = Qt.ItemDataRole.UserRole + 1
    IMAGE_ID = Qt.ItemDataRole.UserRole + 2
    LABEL = Qt.ItemDataRole.UserRole + 3
    PREDICTION = Qt.ItemDataRole.UserRole + 4
    CONFIDENCE = Qt.ItemDataRole.UserRole + 5
    MARGIN = Qt.ItemDataRole.UserRole + 6
    NAME = Qt.ItemDataRole.UserRole + 7
    UNREADABLE = Qt.ItemDataRole.UserRole + 8
    THUMBNAIL = Qt.ItemDataRole.UserRole + 9
    THUMB_ERROR = Qt.ItemDataRole.UserRole + 10
    COLOUR = Qt.ItemDataRole.UserRole + 11


@dataclass(slots=True)
class Tile:
    """What the grid shows for one image (slots: 100,000 of them are built on every reload)."""

    image_id: int
    path: str
    status: str = "ok"
    error: str | None = None
    label: str | None = None
    label_source: str | None = None
    prediction: str | None = None
    confidence: float | None = None
    margin: float | None = None
    """Top-1 minus top-2 probability: small means the model hesitated."""

    @property
    def name(self) -> str:
        """The file name as the OS gives it; ``shown(name)`` is what goes on screen."""
        return os.path.basename(self.path)  # sorting by name calls this a million times

    @property
    def unreadable(self) -> bool:
        return self.status != "ok" or self.error is not None

    @property
    def disagrees(self) -> bool:
        return (
            self.label is not None and self.prediction is not None and self.label != self.prediction
        )


class GridModel(QAbstractListModel):
    """All images of the open project, in the store's order; filtering happens in a proxy.

    ``thumbnailFailed(image_id, reason)`` reports a file that could not be decoded for its
    thumbnail, so the window can flag it in the project.
    """

    thumbnailFailed = Signal(int, str)

    def __init__(
        self, thumbnails: ThumbnailLoader, thumb_size: int = 128, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._tiles: list[Tile] = []
        self._row_of: dict[int, int] = {}
        self._colours: dict[str, QColor] = {}
        self._thumbs = thumbnails
        self.thumb_size = thumb_size
        self.pixel_ratio = 1.0
        self._waiting: dict[ThumbKey, int] = {}  # thumbnail key -> image id
        self._reported: set[int] = set()
        thumbnails.ready.connect(self._on_thumb)
        thumbnails.failed.connect(self._on_thumb_failed)

    # --- reading -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._tiles)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._tiles):
            return None
        tile = self._tiles[index.row()]
        if role == Qt.ItemDataRole.DisplayRole or role == Role.NAME:
            return shown(tile.name)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(shown(tile.path if not tile.error else f"{tile.path}\n{tile.error}"))
        if role == Role.TILE:
            return tile
        if role == Role.IMAGE_ID:
            return tile.image_id
        if role == Role.LABEL:
            return tile.label
        if role == Role.PREDICTION:
            return tile.prediction
        if role == Role.CONFIDENCE:
            return tile.confidence
        if role == Role.MARGIN:
            return tile.margin
        if role == Role.UNREADABLE:
            return tile.unreadable
        if role == Role.THUMBNAIL:
            return self.thumbnail(tile)
        if role == Role.THUMB_ERROR:
            return self.thumb_error(tile)
        if role == Role.COLOUR:
            return self.colour(tile.label if tile.label is not None else tile.prediction)
        return None

    def tile(self, row: int) -> Tile:
        return self._tiles[row]

    def tiles(self) -> list[Tile]:
        return list(self._tiles)

    def tile_by_id(self, image_id: int) -> Tile | None:
        row = self._row_of.get(image_id)
        return None if row is None else self._tiles[row]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def colour(self, class_name: str | None) -> QColor | None:
        return None if class_name is None else self._colours.get(class_name)

    def class_names(self) -> list[str]:
        return list(self._colours)

    # --- writing -------------------------------------------------------------------------------
    def set_tiles(self, tiles: Iterable[Tile]) -> None:
        self.beginResetModel()
        self._tiles = list(tiles)
        self._row_of = {t.image_id: i for i, t in enumerate(self._tiles)}
        self.endResetModel()
        freeze_long_lived()

    def append_tiles(self, tiles: Iterable[Tile]) -> None:
        """Images found by a running scan arrive in batches; ids already shown are left alone."""
        fresh: list[Tile] = []
        for tile in tiles:
            if tile.image_id not in self._row_of:
                self._row_of[tile.image_id] = -1  # also drops duplicates within this batch
                fresh.append(tile)
        if not fresh:
            return
        first = len(self._tiles)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for offset, tile in enumerate(fresh):
            self._tiles.append(tile)
            self._row_of[tile.image_id] = first + offset
        self.endInsertRows()
        freeze_long_lived()

    def update_tiles(self, tiles: Iterable[Tile]) -> None:
        rows = []
        for tile in tiles:
            row = self._row_of.get(tile.image_id)
            if row is not None:
                self._tiles[row] = tile
                rows.append(row)
        self._emit_changed(rows)

    def set_class_colours(self, colours: dict[str, str]) -> None:
        self._colours = {name: QColor(value) for name, value in colours.items()}
        self._emit_all(Role.COLOUR)

    def set_thumb_size(self, size: int, pixel_ratio: float | None = None) -> None:
        """Tiles of ``size`` logical pixels, on a screen of ``pixel_ratio`` device pixels each."""
        self.thumb_size = size
        if pixel_ratio is not None:
            self.pixel_ratio = pixel_ratio
        self._waiting.clear()
        self._emit_all(Role.THUMBNAIL)

    def _emit_all(self, role: Role) -> None:
        """Repaint every tile; naming the role tells the filter proxy not to re-filter them."""
        if self._tiles:
            self.dataChanged.emit(self.index(0), self.index(len(self._tiles) - 1), [role])

    def _emit_changed(self, rows: Iterable[int]) -> None:
        rows = sorted(set(rows))
        if not rows:
            return
        # One signal per contiguous run keeps 100,000-row updates cheap for the proxy.
        start = prev = rows[0]
        for row in [*rows[1:], None]:
            if row is not None and row == prev + 1:
                prev = row
                continue
            self.dataChanged.emit(self.index(start), self.index(prev))
            if row is not None:
                start = prev = row

    # --- thumbnails ----------------------------------------------------------------------------
    @property
    def thumb_pixels(self) -> int:
        """Device pixels a thumbnail needs: on a 2x screen a 128 px tile shows 256 of them."""
        return max(1, round(self.thumb_size * self.pixel_ratio))

    def _key(self, tile: Tile) -> ThumbKey:
        return ThumbKey(tile.path, self.thumb_pixels)

    def thumb_error(self, tile: Tile) -> str | None:
        """Why this tile's thumbnail could not be made, if it failed."""
        return self._thumbs.errors.get(self._key(tile))

    def thumbnail(self, tile: Tile) -> object:
        """The pixmap if ready; otherwise None, and the tile is queued (visible tiles ask first).

        The tile painter calls this directly: one Python call per painted tile instead of a round
        trip through Qt's QVariant for each role.
        """
        if tile.unreadable:
            return None
        key = self._key(tile)
        pixmap = self._thumbs.pixmap(key)
        if pixmap is None:
            self._waiting[key] = tile.image_id
            if key in self._thumbs.errors:
                # Failed earlier (e.g. before a reload): report it after this paint.
                QTimer.singleShot(0, lambda: self._on_thumb_failed(key, self._thumbs.errors[key]))
        return pixmap

    def _on_thumb(self, key: ThumbKey) -> None:
        image_id = self._waiting.pop(key, None)
        row = self._row_of.get(image_id) if image_id is not None else None
        if row is not None and row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Role.THUMBNAIL])

    def _on_thumb_failed(self, key: ThumbKey, reason: str) -> None:
        image_id = self._waiting.get(key)
        if image_id is not None and image_id not in self._reported:
            self._reported.add(image_id)
            self.thumbnailFailed.emit(image_id, reason)
        self._on_thumb(key)
