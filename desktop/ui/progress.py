"""The status bar: what the background job is doing (with Cancel) and what runs the model."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressBar, QPushButton, QStatusBar, QWidget

from desktop.ui.fit_screen import ElidedLabel
from desktop.ui.plain_text import plain


class StatusArea:
    """Widgets added to a QStatusBar; one job's progress is shown at a time.

    Only shows: whether a job runs, and what may start, is ``jobs.Jobs``'s to say.
    """

    def __init__(self, bar: QStatusBar, parent: QWidget | None = None) -> None:
        self.bar = bar
        self.job_label = ElidedLabel(parent=parent)
        self.job_label.setMinimumWidth(160)
        self.progress = QProgressBar(parent)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", parent)
        self.provider_label = ElidedLabel(parent=parent)
        self.provider_label.setMinimumWidth(120)
        plain(self.provider_label)
        self.provider_label.setToolTip("What runs the model (from ONNX Runtime's session)")
        self._on_cancel: Callable[[], None] | None = None
        # Permanent widgets: a status message is drawn beside them, never over them.
        bar.addPermanentWidget(self.job_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.provider_label, 1)
        self.cancel_button.clicked.connect(self._cancel)
        self.finish()

    def start(self, text: str, on_cancel: Callable[[], None], total: int | None = None) -> None:
        self._on_cancel = on_cancel
        self.job_label.setText(text)
        self.progress.setRange(0, total or 0)
        self.progress.setValue(0)
        for widget in (self.job_label, self.progress, self.cancel_button):
            widget.setVisible(True)
        self.cancel_button.setEnabled(True)

    def update(self, done: int, total: int | None, text: str | None = None) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        if text is not None:
            self.job_label.setText(text)

    def finish(self, message: str = "") -> None:
        self._on_cancel = None
        for widget in (self.job_label, self.progress, self.cancel_button):
            widget.setVisible(False)
        if message:
            self.bar.showMessage(message, 10_000)

    def set_provider(self, text: str) -> None:
        self.provider_label.setText(text)

    def _cancel(self) -> None:
        if self._on_cancel is not None:
            self.cancel_button.setEnabled(False)
            self.job_label.setText(self.job_label.text() + " — cancelling…")
            self._on_cancel()
