"""The row above the grid: what to show, in what order, how big, and how many are shown."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QWidget,
)

from desktop.ui.filter_proxy import Filter, Show, SortBy
from desktop.ui.flow_layout import FlowLayout
from desktop.ui.plain_text import plain

THUMB_SIZES = (64, 96, 128, 160, 192, 256)
LOW_CONFIDENCE_TIP = (
    "Low confidence: the top prediction's probability is below this number, which you choose. "
    "Review → Uncertain uses its own threshold, fitted to each version on its validation "
    "images so that the predictions above it are right 95 % of the time; the two differ."
)
SEARCH_PAUSE_MS = 200
"""Typing pauses this long before the grid filters: a pass over 100,000 tiles takes 0.3-0.7 s."""
_NEEDS_CLASS = (Show.LABELLED_AS, Show.PREDICTED_AS)


def _row(*widgets: QWidget) -> QWidget:
    """Widgets that stay side by side when the bar wraps."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


class FilterBar(QWidget):
    filterChanged = Signal(object)  # Filter
    sortChanged = Signal(object, object)  # SortBy, Qt.SortOrder
    thumbSizeChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.show_box = QComboBox()
        for show in Show:
            self.show_box.addItem(show.value, show)
        self.class_box = QComboBox()
        self.class_box.setMinimumContentsLength(10)
        self.threshold = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
        self.threshold.setValue(Filter().low_confidence)
        self.threshold.setPrefix("< ")
        self.threshold.setToolTip(LOW_CONFIDENCE_TIP)
        self.sort_box = QComboBox()
        for sort_by in SortBy:
            self.sort_box.addItem(sort_by.value, sort_by)
        self.order_box = QComboBox()
        self.order_box.addItem("Ascending", Qt.SortOrder.AscendingOrder)
        self.order_box.addItem("Descending", Qt.SortOrder.DescendingOrder)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, len(THUMB_SIZES) - 1)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Thumbnail size")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names and folders")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(160)
        self._search_pause = QTimer(self)
        self._search_pause.setSingleShot(True)
        self._search_pause.setInterval(SEARCH_PAUSE_MS)
        self.count_label = QLabel()
        plain(self.count_label)
        # Groups that wrap onto a second row when the window is narrow (never overlap).
        layout = FlowLayout(self, spacing=10)
        layout.setContentsMargins(4, 2, 4, 2)
        for group in (
            (QLabel("Show"), self.show_box, self.class_box, self.threshold),
            (QLabel("Sort"), self.sort_box, self.order_box),
            (self.search,),
            (self.count_label, QLabel("Size"), self.size_slider),
        ):
            layout.addWidget(_row(*group))
        # ``activated``, not ``currentIndexChanged``: choosing the shown item again (to leave a
        # confusion cell or review list) must apply it too.
        self.show_box.activated.connect(self._emit_filter)
        self.class_box.currentIndexChanged.connect(self._emit_filter)
        self.threshold.valueChanged.connect(self._emit_filter)
        self.search.textChanged.connect(self._search_pause.start)
        self._search_pause.timeout.connect(self._emit_filter)
        self.sort_box.currentIndexChanged.connect(self._emit_sort)
        self.order_box.currentIndexChanged.connect(self._emit_sort)
        self.size_slider.valueChanged.connect(lambda i: self.thumbSizeChanged.emit(THUMB_SIZES[i]))
        self._sync_visibility()

    def current(self) -> Filter:
        return Filter(
            show=self.show_box.currentData(),
            class_name=self.class_box.currentText() or None,
            low_confidence=self.threshold.value(),
            path_contains=self.search.text().strip(),
        )

    def set_show(self, show: Show, class_name: str | None = None) -> None:
        if class_name is not None:
            self.class_box.blockSignals(True)
            self.class_box.setCurrentText(class_name)
            self.class_box.blockSignals(False)
        self.show_box.setCurrentIndex(self.show_box.findData(show))
        self._emit_filter()

    def set_sort(self, sort_by: SortBy, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.order_box.setCurrentIndex(self.order_box.findData(order))
        self.sort_box.setCurrentIndex(self.sort_box.findData(sort_by))

    def set_classes(self, names: list[str]) -> None:
        current = self.class_box.currentText()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItems(names)
        if current in names:
            self.class_box.setCurrentText(current)
        self.class_box.blockSignals(False)
        if self.show_box.currentData() in _NEEDS_CLASS and current not in names:
            self._emit_filter()

    def set_thumb_size(self, size: int) -> None:
        nearest = min(range(len(THUMB_SIZES)), key=lambda i: abs(THUMB_SIZES[i] - size))
        self.size_slider.setValue(nearest)

    def thumb_size(self) -> int:
        return THUMB_SIZES[self.size_slider.value()]

    def set_count(self, shown: int, total: int) -> None:
        self.count_label.setText(
            f"{shown:,} of {total:,} shown" if shown != total else f"{total:,} images"
        )

    def _sync_visibility(self) -> None:
        show = self.show_box.currentData()
        self.class_box.setVisible(show in _NEEDS_CLASS)
        self.threshold.setVisible(show is Show.LOW_CONFIDENCE)

    def _emit_filter(self, *_args: object) -> None:
        self._sync_visibility()
        self.filterChanged.emit(self.current())

    def _emit_sort(self, *_args: object) -> None:
        self.sortChanged.emit(self.sort_box.currentData(), self.order_box.currentData())
