"""Which images the grid shows, and in what order: a QSortFilterProxyModel over GridModel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)

from desktop.ui.grid_model import GridModel, Role, Tile

Index = QModelIndex | QPersistentModelIndex


class Show(Enum):
    ALL = "All images"
    LABELLED_AS = "Labelled as…"
    PREDICTED_AS = "Predicted as…"
    UNLABELLED = "Unlabelled"
    DISAGREE = "Label ≠ prediction"
    LOW_CONFIDENCE = "Low confidence"
    UNREADABLE = "Unreadable"
    MISSING = "Missing"
    DUPLICATES = "Duplicates"


class SortBy(Enum):
    ADDED = "Order added"
    NAME = "Name"
    CONFIDENCE = "Confidence"
    MARGIN = "Margin (top-1 − top-2)"


@dataclass(frozen=True)
class Filter:
    show: Show = Show.ALL
    class_name: str | None = None
    low_confidence: float = 0.6
    path_contains: str = ""
    """Case-insensitive text the file's path must contain (folder names count too)."""
    image_ids: frozenset[int] | None = None
    """The images of duplicate groups (filled by the window for Show.DUPLICATES)."""

    def accepts(self, tile: Tile) -> bool:
        needle = self.path_contains
        if needle and needle.casefold() not in tile.path.casefold():
            return False
        show = self.show
        if show is Show.ALL:
            return True
        if show is Show.LABELLED_AS:
            return tile.label == self.class_name
        if show is Show.PREDICTED_AS:
            return tile.prediction == self.class_name
        if show is Show.UNLABELLED:
            return tile.label is None and not tile.unreadable
        if show is Show.DISAGREE:
            return tile.disagrees
        if show is Show.LOW_CONFIDENCE:
            return tile.confidence is not None and tile.confidence < self.low_confidence
        if show is Show.MISSING:
            return tile.status == "missing"
        if show is Show.DUPLICATES:
            return self.image_ids is not None and tile.image_id in self.image_ids
        return tile.unreadable


class FilterProxy(QSortFilterProxyModel):
    """Emits ``countChanged(shown, total)`` whenever what is shown may have changed."""

    countChanged = Signal(int, int)

    def __init__(self, source: GridModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter = Filter()
        self._accepts_all = True
        self._sort_by = SortBy.ADDED
        self._grid = source
        self.setSourceModel(source)
        self.setDynamicSortFilter(True)
        for signal in (
            self.rowsInserted,
            self.rowsRemoved,
            self.modelReset,
            self.layoutChanged,
        ):
            signal.connect(self._announce)

    @property
    def grid(self) -> GridModel:
        """The source model (fixed at construction; kept in Python, because ``sourceModel()``
        is a call into Qt for each of the rows a 100,000-file scan inserts)."""
        return self._grid

    @property
    def current_filter(self) -> Filter:
        return self._filter

    @property
    def sort_by(self) -> SortBy:
        return self._sort_by

    def set_filter(self, new: Filter) -> None:
        self.beginFilterChange()
        self._filter = new
        self._accepts_all = new == Filter(low_confidence=new.low_confidence)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        self._announce()

    def set_sort(self, sort_by: SortBy, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_by = sort_by
        if sort_by is SortBy.ADDED:
            self.sort(-1)
            self.invalidate()
        else:
            self.sort(0, order)
        self._announce()

    def shown(self) -> int:
        return self.rowCount()

    def total(self) -> int:
        return self.grid.rowCount()

    def image_id(self, row: int) -> int:
        return int(self.data(self.index(row, 0), Role.IMAGE_ID))

    def row_of(self, image_id: int) -> int | None:
        source_row = self.grid.row_of(image_id)
        if source_row is None:
            return None
        mapped = self.mapFromSource(self.grid.index(source_row))
        return mapped.row() if mapped.isValid() else None

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        """Called from Qt for every inserted row: the common "show all" answers without
        looking at the tile (each Python step here is GUI-thread time during a scan)."""
        return self._accepts_all or self._filter.accepts(self._grid.tile(source_row))

    def lessThan(self, left: Index, right: Index) -> bool:
        a = self.grid.tile(left.row())
        b = self.grid.tile(right.row())
        return _sort_key(a, self._sort_by) < _sort_key(b, self._sort_by)

    def _announce(self, *_args: object) -> None:
        self.countChanged.emit(self.shown(), self.total())


def _sort_key(tile: Tile, sort_by: SortBy) -> tuple:
    """Images without a score go after scored ones (ascending); names break ties."""
    if sort_by is SortBy.NAME:
        return (tile.name.lower(), tile.path)
    if sort_by is SortBy.CONFIDENCE:
        value = tile.confidence
    elif sort_by is SortBy.MARGIN:
        value = tile.margin
    else:
        return (tile.image_id,)
    return (value is None, value if value is not None else 0.0, tile.name.lower())
