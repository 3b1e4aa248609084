"""Training seen from the main window: its progress in the status bar, and the new version offered.

The trainer runs behind the dialog even when the dialog is closed, so the status bar carries one
line ("Training: epoch 3 of 10, about 2 min left"), a bar, Show and Cancel. When a run ends with
a new version, the version in use stays in use unless the user chose automatic switching
(``AUTO_SWITCH_SETTING``): the offer bar above the grid shows both scores and lets the user pick.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.core.records import ModelRecord
from desktop.ui.plain_text import plain

AUTO_SWITCH_SETTING = "training/use_new_version"
"""QSettings key: true makes a newly trained version the one in use at once."""


LONGEST_LINE = "Training: epoch 100 of 100, about 14 min 59 s left"


class TrainingStatus(QWidget):
    """The status bar's training line; ``showRequested`` / ``cancelRequested`` go to the dialog."""

    showRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        plain(self.label)
        # Room for the longest line, so the bar's other texts give way and not this one.
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance(LONGEST_LINE) + 8)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(120)
        self.bar.setTextVisible(False)
        self.show_button = QPushButton("Show")
        self.show_button.setToolTip("Open the training window with its curves")
        self.cancel_button = QPushButton("Cancel training")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.label, self.bar, self.show_button, self.cancel_button):
            layout.addWidget(widget)
        self.show_button.clicked.connect(self.showRequested)
        self.cancel_button.clicked.connect(self._cancel)
        self.setVisible(False)

    def follow(self, text: str, done: int, planned: int) -> None:
        self.label.setText(text)
        self.bar.setRange(0, planned)  # 0..0: busy, before the epochs are known
        self.bar.setValue(done)
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def stop(self) -> None:
        self.setVisible(False)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText(self.label.text() + " — cancelling…")
        self.cancelRequested.emit()


def score_text(record: ModelRecord) -> str:
    """A version's headline score, as the Models panel shows it."""
    accuracy = record.metrics.get("accuracy")
    if isinstance(accuracy, int | float):
        return f"test accuracy {accuracy:.1%}"
    return "no test score"


class VersionOffer(QWidget):
    """ "v5 is trained (test accuracy 91.2 %); in use: v4 (88.0 %). [Use v5] [Keep v4]"."""

    useRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_id: int | None = None
        self.label = QLabel()
        plain(self.label)
        self.label.setWordWrap(True)
        self.use_button = QPushButton()
        self.keep_button = QPushButton()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.use_button)
        layout.addWidget(self.keep_button)
        self.setObjectName("VersionOffer")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setStyleSheet("#VersionOffer { background: palette(alternate-base); }")
        self.use_button.clicked.connect(self._use)
        self.keep_button.clicked.connect(self.dismiss)
        self.setVisible(False)

    def offer(self, new: ModelRecord, current: ModelRecord) -> None:
        self.model_id = new.id
        self.label.setText(
            f"v{new.id} is trained: {score_text(new)} (from {new.n_labels:,} labels). "
            f"In use: v{current.id}, {score_text(current)} (from {current.n_labels:,} labels)."
        )
        self.use_button.setText(f"Use v{new.id}")
        self.keep_button.setText(f"Keep v{current.id}")
        self.setVisible(True)

    def dismiss(self) -> None:
        self.model_id = None
        self.setVisible(False)

    def _use(self) -> None:
        model_id = self.model_id
        self.dismiss()
        if model_id is not None:
            self.useRequested.emit(model_id)
