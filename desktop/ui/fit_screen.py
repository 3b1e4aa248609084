"""Keeping the window within a 1366×768 screen: docks scroll, long labels elide, tables show rows.

A widget's minimum size is the sum of its children's; one long path in a label or a ten-row
table in a dock made the whole window's minimum larger than a laptop screen. Docks therefore
hold their content in a scroll area (the content keeps its natural size and scrolls), and status
texts elide instead of asking for their full width.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QTableWidget, QWidget

DOCK_MIN = QSize(160, 80)
"""The least a dock asks for: its content scrolls inside."""


class DockScroll(QScrollArea):
    """Scrolls its content up and down only: a dock is as wide as its content's minimum (narrow
    panels), but its height never adds to the window's."""

    def minimumSizeHint(self) -> QSize:
        content = self.widget()
        width = content.minimumSizeHint().width() if content is not None else 0
        width += self.verticalScrollBar().sizeHint().width()
        return QSize(max(DOCK_MIN.width(), width), DOCK_MIN.height())


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that resizes it, scrolling only below its height."""
    area = DockScroll()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class ElidedLabel(QLabel):
    """One line of plain text that shortens with "…" rather than widen its parent."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text if self.fontMetrics().horizontalAdvance(text) > self.width() else "")

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(
            rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text
        )


def show_all_rows(table: QTableWidget, most: int = 12) -> None:
    """Make ``table`` tall enough for its rows (up to ``most``); its dock scrolls for the rest."""
    rows = min(table.rowCount(), most)
    height = table.horizontalHeader().height() + 2 * table.frameWidth()
    height += sum(table.rowHeight(r) for r in range(rows))
    if table.horizontalScrollBar().isVisible():
        height += table.horizontalScrollBar().height()
    table.setMinimumHeight(max(height, 60))
