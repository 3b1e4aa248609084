"""The reliability diagram: does "90 %" mean right 9 times in 10?

One bar per confidence bin, as tall as the share of right answers among the images the version
was that sure of; the diagonal is perfect calibration, and a bar below it means overconfident.
Painted with QPainter, like the training curves: fifteen bars need no plotting library.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from trainer.calibration import ReliabilityBin, table_ece

BAR = QColor("#1f77b4")
GAP = QColor(214, 39, 40, 90)
MARGIN = 28


class ReliabilityDiagram(QWidget):
    """Accuracy per confidence bin against the diagonal, with the ECE in the title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bins: tuple[ReliabilityBin, ...] = ()
        self.setMinimumSize(180, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip(
            "Each bar: of the test images the version was this sure of, the share it got right. "
            "On the diagonal, its confidences mean what they say; below it, it is overconfident."
        )

    def sizeHint(self) -> QSize:
        return QSize(260, 180)

    def set_bins(self, bins: Sequence[ReliabilityBin]) -> None:
        self._bins = tuple(bins)
        self.update()

    def bins(self) -> tuple[ReliabilityBin, ...]:
        return self._bins

    def title(self) -> str:
        if not any(b.count for b in self._bins):
            return "Reliability: no scored images"
        return f"Reliability (ECE {table_ece(list(self._bins)):.3f})"

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        plot = QRectF(self.rect()).adjusted(MARGIN, 18, -8, -MARGIN + 8)
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter, self.title())
        painter.setPen(QPen(self.palette().text().color(), 1))
        painter.drawRect(plot)
        for bin_ in self._bins:
            if bin_.count:
                self._draw_bin(painter, plot, bin_)
        painter.setPen(QPen(QColor("#888888"), 1, Qt.PenStyle.DashLine))
        painter.drawLine(plot.bottomLeft(), plot.topRight())
        painter.setPen(self.palette().text().color())
        painter.drawText(QPointF(plot.left(), plot.bottom() + 14), "0")
        metrics = painter.fontMetrics()
        painter.drawText(
            QPointF(plot.right() - metrics.horizontalAdvance("100 %"), plot.bottom() + 14), "100 %"
        )
        label = "confidence"
        painter.drawText(
            QPointF(plot.center().x() - metrics.horizontalAdvance(label) / 2, plot.bottom() + 14),
            label,
        )
        painter.end()

    def _draw_bin(self, painter: QPainter, plot: QRectF, bin_: ReliabilityBin) -> None:
        left = plot.left() + bin_.lower * plot.width()
        width = (bin_.upper - bin_.lower) * plot.width()
        top = plot.bottom() - bin_.accuracy * plot.height()
        painter.fillRect(QRectF(left + 1, top, width - 2, plot.bottom() - top), BAR)
        sure = plot.bottom() - bin_.confidence * plot.height()
        painter.fillRect(QRectF(left + 1, min(top, sure), width - 2, abs(sure - top)), GAP)
