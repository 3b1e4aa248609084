"""Training curves (loss, accuracy per epoch) painted with QPainter.

A few dozen points per line do not need a plotting library; painting them ourselves keeps the
app free of pyqtgraph/matplotlib. The same widget draws live curves in the training dialog and
the finished run's curves (from history.json) in the evaluation view.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = {
    "loss": "#1f77b4",
    "val_loss": "#ff7f0e",
    "accuracy": "#2ca02c",
    "val_accuracy": "#d62728",
}
LOSS_KEYS = ("loss", "val_loss")
ACCURACY_KEYS = ("accuracy", "val_accuracy")
Series = Mapping[str, Sequence[float | None]]


class CurvesWidget(QWidget):
    """One small plot: some named series against the epoch number, with a legend."""

    def __init__(self, title: str, keys: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.keys = tuple(keys)
        self._series: dict[str, list[float | None]] = {key: [] for key in self.keys}
        self.setMinimumSize(220, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(320, 180)

    def set_series(self, series: Series) -> None:
        """Replace the plotted values; missing keys and None values are simply not drawn."""
        self._series = {key: [_finite(v) for v in series.get(key, [])] for key in self.keys}
        self.update()

    def series(self) -> dict[str, list[float | None]]:
        return {key: list(values) for key, values in self._series.items()}

    def points(self) -> int:
        """How many epochs are plotted (the longest series)."""
        return max((len(v) for v in self._series.values()), default=0)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        metrics = painter.fontMetrics()
        line = metrics.height()
        plot = QRectF(self.rect()).adjusted(line * 2.5, line * 1.5, -line, -line * 2.5)
        painter.setPen(self.palette().text().color())
        painter.drawText(
            QRectF(0, 2, self.width(), line), Qt.AlignmentFlag.AlignHCenter, self.title
        )
        painter.drawRect(plot)
        low, high = self._range()
        n = self.points()
        if n == 0 or low is None or high is None:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no epochs yet")
            return
        painter.drawText(QRectF(0, plot.top() - line / 2, plot.left() - 4, line),
                         Qt.AlignmentFlag.AlignRight, f"{high:.2f}")  # fmt: skip
        painter.drawText(QRectF(0, plot.bottom() - line / 2, plot.left() - 4, line),
                         Qt.AlignmentFlag.AlignRight, f"{low:.2f}")  # fmt: skip
        painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), line),
                         Qt.AlignmentFlag.AlignRight, f"epoch {n}")  # fmt: skip
        for key in self.keys:
            self._draw_line(painter, plot, self._series[key], low, high, n, QColor(COLOURS[key]))
        self._draw_legend(painter, plot, line)

    def _range(self) -> tuple[float | None, float | None]:
        values = [v for series in self._series.values() for v in series if v is not None]
        if not values:
            return None, None
        low, high = min(values), max(values)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        return low, high

    def _draw_line(self, painter: QPainter, plot: QRectF, values: Sequence[float | None],
                   low: float, high: float, n: int, colour: QColor) -> None:  # fmt: skip
        path = QPainterPath()
        started = False
        for i, value in enumerate(values):
            if value is None:
                started = False
                continue
            x = plot.left() + (plot.width() * (i / (n - 1)) if n > 1 else plot.width() / 2)
            y = plot.bottom() - plot.height() * (value - low) / (high - low)
            point = QPointF(x, y)
            if started:
                path.lineTo(point)
            else:
                path.moveTo(point)
                started = True
            painter.setPen(QPen(colour, 4))
            painter.drawPoint(point)
        painter.setPen(QPen(colour, 2))
        painter.drawPath(path)

    def _draw_legend(self, painter: QPainter, plot: QRectF, line: int) -> None:
        x = plot.left()
        y = plot.bottom() + line + 4
        for key in self.keys:
            painter.setPen(QPen(QColor(COLOURS[key]), 3))
            painter.drawLine(QPointF(x, y + line / 2), QPointF(x + 14, y + line / 2))
            painter.setPen(self.palette().text().color())
            painter.drawText(QPointF(x + 18, y + line * 0.8), key)
            x += 26 + painter.fontMetrics().horizontalAdvance(key)


def history_curves(path: Path) -> dict[str, list[float | None]]:
    """A run's history.json as per-epoch series of the model it kept: the winning candidate's
    phases in order (head, then fine-tuning; or small_cnn's one phase).

    Raises OSError or ValueError when the file is missing or not a trainer history.
    """
    history = json.loads(Path(path).read_text(encoding="utf-8"))
    phases = history.get("phases") if isinstance(history, dict) else None
    if not isinstance(phases, dict):
        raise ValueError(f"{path} has no training phases: was it written by the trainer?")
    curves: dict[str, list[float | None]] = {key: [] for key in (*LOSS_KEYS, *ACCURACY_KEYS)}
    winner = (history.get("recipe") or {}).get("winner")
    kept = [name for name in phases if isinstance(winner, str) and name.startswith(winner + "/")]
    for phase in kept or ("head", "fine_tune"):  # runs before the recipe raced candidates
        values = phases.get(phase) or {}
        length = max((len(v) for v in values.values() if isinstance(v, list)), default=0)
        for key, series in curves.items():
            column = values.get(key) or []
            series.extend(_finite(column[i]) if i < len(column) else None for i in range(length))
    return curves


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
