"""Model → Evaluate: how good the version in use is, and exactly where it is wrong.

Scores come from the user's current labels against the version's stored predictions, on the
locked test split when the version has one (so versions are compared on the same images). Each
confusion cell knows its image ids: a click emits ``cellChosen(true, predicted, ids)`` and the
window filters the grid to those images, where they can be fixed in place.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.evaluation import Evaluation, VersionScore
from desktop.ui.curves import ACCURACY_KEYS, LOSS_KEYS, CurvesWidget, history_curves
from desktop.ui.fit_screen import show_all_rows
from desktop.ui.plain_text import plain, tooltip
from desktop.ui.reliability_diagram import ReliabilityDiagram

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class EvaluationView(QWidget):
    """Accuracy, a per-class table, a clickable confusion matrix and the run's curves."""

    cellChosen = Signal(str, str, list)  # true class, predicted class, image ids

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.score: VersionScore | None = None
        self.summary = QLabel("Model → Evaluate scores the version in use.")
        self.summary.setWordWrap(True)
        self.per_class = QTableWidget(0, 4)
        self.per_class.setHorizontalHeaderLabels(["Precision", "Recall", "F1", "Images"])
        self.matrix = QTableWidget(0, 0)
        self.matrix.setToolTip("Rows: the user's label. Columns: the prediction. Click a cell.")
        for table in (self.per_class, self.matrix):
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.loss_plot = CurvesWidget("Loss", LOSS_KEYS)
        self.accuracy_plot = CurvesWidget("Accuracy", ACCURACY_KEYS)
        self.curves_note = QLabel("")
        self.curves_note.setWordWrap(True)  # a run folder's path must not widen the dock
        plain(self.summary, self.curves_note)
        self.reliability = ReliabilityDiagram()
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Per class"))
        # Beside the per-class table, not the curves: three plots in a row would widen the dock.
        scores = QHBoxLayout()
        scores.addWidget(self.per_class, 2)
        scores.addWidget(self.reliability, 1)
        layout.addLayout(scores, 1)
        layout.addWidget(QLabel("Confusion matrix (label ↓, prediction →): click to see them"))
        layout.addWidget(self.matrix, 2)
        layout.addWidget(self.curves_note)
        layout.addLayout(plots, 1)
        self.matrix.cellClicked.connect(self._on_cell)

    def clear(self, message: str = "Model → Evaluate scores the version in use.") -> None:
        self.score = None
        self.summary.setText(message)
        self.per_class.setRowCount(0)
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.loss_plot.set_series({})
        self.accuracy_plot.set_series({})
        self.reliability.set_bins(())
        self.curves_note.setText("")

    def show_score(self, score: VersionScore) -> None:
        self.score = score
        evaluation = score.evaluation
        ece = "" if evaluation.ece is None else f", calibration error (ECE) {evaluation.ece:.3f}"
        self.summary.setText(
            f"v{score.model_id}: accuracy {evaluation.accuracy:.1%}, "
            f"macro F1 {evaluation.macro_f1:.3f}{ece} on {score.scope}."
        )
        self.reliability.set_bins(evaluation.reliability)
        self._fill_per_class(evaluation)
        self._fill_matrix(evaluation)
        self._show_history(score.history)

    def cell_ids(self, true: str, predicted: str) -> list[int]:
        """The image ids a click on (true, predicted) would filter the grid to."""
        if self.score is None:
            return []
        return [int(i) for i in self.score.evaluation.cell(true, predicted)]

    def _fill_per_class(self, evaluation: Evaluation) -> None:
        table = self.per_class
        table.setRowCount(len(evaluation.per_class))
        table.setVerticalHeaderLabels([scores.name for scores in evaluation.per_class])
        for row, scores in enumerate(evaluation.per_class):
            values = (f"{scores.precision:.3f}", f"{scores.recall:.3f}", f"{scores.f1:.3f}",
                      f"{scores.support:,}")  # fmt: skip
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setTextAlignment(RIGHT)
                table.setItem(row, column, item)
        show_all_rows(table)

    def _fill_matrix(self, evaluation: Evaluation) -> None:
        table = self.matrix
        names = list(evaluation.classes)
        table.setRowCount(len(names))
        table.setColumnCount(len(names))
        table.setVerticalHeaderLabels(names)
        table.setHorizontalHeaderLabels(names)
        confusion = evaluation.confusion
        for row in range(len(names)):
            row_total = max(1, int(confusion[row].sum()))
            for column in range(len(names)):
                count = int(confusion[row, column])
                item = QTableWidgetItem(f"{count:,}")
                item.setTextAlignment(RIGHT)
                item.setBackground(QBrush(_cell_colour(count / row_total, row == column)))
                item.setForeground(QBrush(QColor("black")))  # readable on the light tints
                item.setToolTip(
                    tooltip(f"labelled {names[row]}, predicted {names[column]}: {count:,}")
                )
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        show_all_rows(table)

    def _show_history(self, path: Path | None) -> None:
        if path is None:
            self.loss_plot.set_series({})
            self.accuracy_plot.set_series({})
            self.curves_note.setText("No training curves: this version was not trained here.")
            return
        try:
            curves = history_curves(path)
        except (OSError, ValueError) as exc:
            self.loss_plot.set_series({})
            self.accuracy_plot.set_series({})
            self.curves_note.setText(f"No training curves: cannot read {path.name} ({exc}).")
            return
        self.loss_plot.set_series(curves)
        self.accuracy_plot.set_series(curves)
        self.curves_note.setText(f"Training curves from {path}")

    def _on_cell(self, row: int, column: int) -> None:
        if self.score is None:
            return
        names = self.score.evaluation.classes
        true, predicted = names[row], names[column]
        self.cellChosen.emit(true, predicted, self.cell_ids(true, predicted))


def _cell_colour(fraction: float, diagonal: bool) -> QColor:
    """Green on the diagonal, red off it, stronger for a larger share of the row."""
    strength = int(40 + 160 * min(1.0, max(0.0, fraction))) if fraction > 0 else 0
    if diagonal:
        return QColor(255 - strength, 255, 255 - strength)
    return QColor(255, 255 - strength, 255 - strength)
