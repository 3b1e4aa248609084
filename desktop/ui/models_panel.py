"""The models panel: every version of the project's model, its scores, and which one is in use.

Every version carries scores measured on the locked test split, so rows compare like with like:
the trainer's on its run's test images, a quick retrain's on the same test images (its head is
fitted on train and val alone). A version without test images shows "—", never a training-set
score. The Recipe column says what made the version; its tooltip says more.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.records import ModelRecord
from desktop.ui.plain_text import plain, tooltip

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Version", "Source", "Accuracy", "Macro F1", "ECE", "Labels seen", "Created", "Recipe")
SOURCES = {"trainer": "trained", "quick_retrain": "quick retrain"}


class VersionsModel(QAbstractTableModel):
    """One row per registered model, newest first; the current one is bold."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[ModelRecord] = []
        self._current: int | None = None

    def set_versions(self, records: list[ModelRecord], current: int | None) -> None:
        self.beginResetModel()
        self._records = sorted(records, key=lambda r: r.id, reverse=True)
        self._current = current
        self.endResetModel()

    def record(self, row: int) -> ModelRecord:
        return self._records[row]

    def row_of(self, model_id: int) -> int | None:
        return next((i for i, r in enumerate(self._records) if r.id == model_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return version_cells(record, record.id == self._current)[index.column()]
        if role == Qt.ItemDataRole.FontRole and record.id == self._current:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(_tooltip(record))
        if role == Qt.ItemDataRole.TextAlignmentRole and 2 <= index.column() <= 5:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def version_cells(record: ModelRecord, current: bool = False) -> tuple[str, ...]:
    """The row's texts: what a user compares between versions."""
    metrics = record.metrics
    source = SOURCES.get(str(metrics.get("source")), "opened")
    accuracy = _percent(metrics.get("accuracy"))
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
    return (
        f"{'● ' if current else ''}v{record.id}",
        source,
        accuracy,
        _number(metrics.get("macro_f1")),
        _number(metrics.get("ece")),
        f"{record.n_labels:,}",
        created,
        recipe_text(record),
    )


def recipe_text(record: ModelRecord) -> str:
    """One line on what made the version: the trainer's recipe, or the quick retrain's."""
    recipe = record.metrics.get("recipe")
    if isinstance(recipe, str) and recipe:
        return recipe
    info = record.info
    return f"{info.get('backbone', '?')} at {info.get('input_size', '?')} px (no recipe recorded)"


class ModelsPanel(QWidget):
    """Lists versions; ``versionChosen(model_id)`` asks the window to switch to one."""

    versionChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.versions = VersionsModel(self)
        self.table = QTableView()
        self.table.setModel(self.versions)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.use_button = QPushButton("Use this version")
        self.note = QLabel("No model yet: Model → Train… or File → Open Model…")
        plain(self.note)
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self.use_button.clicked.connect(self._choose_selected)
        self.table.doubleClicked.connect(lambda index: self._choose_row(index.row()))

    def set_versions(self, records: list[ModelRecord], current: int | None) -> None:
        self.versions.set_versions(records, current)
        row = self.versions.row_of(current) if current is not None else None
        if row is not None:
            self.table.selectRow(row)
        self.use_button.setEnabled(bool(records))
        if not records:
            self.note.setText("No model yet: Model → Train… or File → Open Model…")
        elif current is not None and row is not None:
            self.note.setText(f"In use: v{current} ({Path(self.versions.record(row).path).name})")
        else:
            self.note.setText("No version is in use: choose one.")

    def select_version(self, model_id: int) -> None:
        row = self.versions.row_of(model_id)
        if row is not None:
            self.table.selectRow(row)

    def _choose_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self._choose_row(rows[0].row())

    def _choose_row(self, row: int) -> None:
        if 0 <= row < self.versions.rowCount():
            self.versionChosen.emit(self.versions.record(row).id)


def _percent(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "—"


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "—"


def _tooltip(record: ModelRecord) -> str:
    info = record.info
    lines = [
        record.path,
        f"{len(record.classes)} classes: {', '.join(record.classes)}",
        f"backbone {info.get('backbone', '?')}, input {info.get('input_size', '?')} px",
    ]
    metrics = record.metrics
    if metrics.get("source") == "quick_retrain":
        lines.append(f"head refitted from v{metrics.get('parent_model_id')}")
    if metrics.get("accuracy") is not None:
        lines.append("accuracy, macro F1 and ECE on the locked test split")
    else:
        lines.append("no test images scored: label more images to get a held-out score")
    if isinstance(metrics.get("temperature"), int | float):
        before = metrics.get("ece_before")
        was = f" (ECE {before:.3f} before)" if isinstance(before, int | float) else ""
        lines.append(f"calibrated by temperature scaling, T = {metrics['temperature']:.2f}{was}")
    lines.append("recipe: " + recipe_text(record))
    return "\n".join(lines)
