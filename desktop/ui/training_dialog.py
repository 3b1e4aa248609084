"""Model → Train…: choose the options, watch the trainer's curves live, cancel, or get a version.

The trainer is a child process (QProcess) started with the command line from
``desktop.core.training_run`` (``python -m trainer train …``, or the app's own executable with a
``train`` subcommand when frozen), so TensorFlow never loads in the app and the window stays
responsive. Its JSON progress lines feed a ``TrainingRun``; only a run that said ``done`` and left
a model file is registered. Cancel kills the child and removes its half-written run folder.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import ProjectError
from desktop.core.store import Project
from desktop.core.training_run import (
    PreparedRun,
    TrainerEvent,
    TrainingRun,
    TrainingRunError,
    TrainSettings,
    prepare_run,
    register_run,
    require_classes,
)
from desktop.ui.curves import ACCURACY_KEYS, LOSS_KEYS, CurvesWidget
from desktop.ui.plain_text import plain
from desktop.ui.trainer_process import TrainerProcess
from desktop.ui.workers import Worker
from trainer.options import (  # stdlib-only: no TensorFlow
    AUGMENT_CHOICES,
    BACKBONE_CHOICES,
    FLIP_CHOICES,
)
from trainer.run_folder import Event

BACKBONE_TIPS = {
    "auto": "EfficientNet-Lite0 fine-tuned, and small_cnn from scratch too when the images are "
    "small or greyscale; the better one on the validation images wins",
    "efficientnet_lite0": "pretrained on ImageNet photos: head first, then fine-tuning",
    "small_cnn": "a small network trained from scratch: no fine-tuning phase",
}
FLIP_TIPS = {
    "auto": "mirror images are used only if they keep their labels (tested on your images)",
    "on": "always add mirror images (clothes, animals, most photos)",
    "off": "never mirror (digits, letters, arrows, left/right classes)",
}
AUGMENT_TIPS = {
    "auto": "small rotations, zooms and shifts for photos; none for images under 64 px",
    "on": "always add slightly rotated, zoomed and shifted copies",
    "off": "train on the images as they are (centred scans, icons, cropped products)",
}


class TrainingDialog(QDialog):
    """Options, live curves and an ETA for one training run at a time.

    ``trained(model_id)`` is emitted once a finished run is registered in the project;
    ``failed(message)`` when a run cannot start, the trainer reports an error, or the result
    cannot be registered. A cancelled run emits neither.
    """

    trained = Signal(int)
    failed = Signal(str)
    progressed = Signal(str, int, int)
    """(what the trainer does now, epochs done, epochs planned or 0): for the status bar."""
    ended = Signal()
    """A run stopped, however it ended (done, failed or cancelled)."""

    def __init__(
        self,
        project: Callable[[], Project],
        runs_folder: Callable[[], Path],
        settings: QSettings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self._project = project
        self._runs_folder = runs_folder
        self._settings = settings
        self.process: TrainerProcess | None = None
        self._preparing: Worker | None = None
        self._stop_preparing = threading.Event()
        self.run: TrainingRun | None = None
        self._target: Project | None = None
        """The project the running trainer's version goes to, even if another is opened."""
        self.previous_model_id: int | None = None
        """The version in use when the run started: the new one is offered next to it."""
        self._n_labels = 0
        self._last_epoch_at = 0.0
        self._build()
        self.set_options(self._saved_options())
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._show_eta)

    # --- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.backbone = _choices(BACKBONE_CHOICES, BACKBONE_TIPS)
        self.epochs = _spin(
            0, 1000, "most epochs of the first phase (early stopping may end sooner)"
        )
        self.epochs.setSpecialValueText("auto (10 for a head, 100 from scratch)")
        self.fine_tune_epochs = _spin(0, 1000, "most epochs of fine-tuning the backbone (0: off)")
        self.image_size = _spin(0, 1024, "pixels per side")
        self.image_size.setSpecialValueText("from the images")
        self.batch_size = _spin(0, 1024, "images per training step")
        self.batch_size.setSpecialValueText("from the data (32; 128 from 4,000 images)")
        self.flips = _choices(FLIP_CHOICES, FLIP_TIPS)
        self.augment = _choices(AUGMENT_CHOICES, AUGMENT_TIPS)
        self.time_budget = QDoubleSpinBox()
        self.time_budget.setRange(0, 24 * 60)
        self.time_budget.setDecimals(0)
        self.time_budget.setSuffix(" min")
        self.time_budget.setSpecialValueText("no limit")
        self.time_budget.setToolTip(
            "minutes of training the candidates share; the ETA never exceeds it"
        )
        form = QFormLayout()
        form.addRow("Backbone", self.backbone)
        form.addRow("Epochs", self.epochs)
        form.addRow("Fine-tune epochs", self.fine_tune_epochs)
        form.addRow("Image size", self.image_size)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Mirror images", self.flips)
        form.addRow("Rotate, zoom, shift", self.augment)
        form.addRow("Time budget", self.time_budget)
        self.backbone.currentTextChanged.connect(self._follow_backbone)
        self.stage_label = QLabel(READY)
        self.stage_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.eta_label = QLabel("")
        plain(self.stage_label, self.eta_label)
        self.loss_plot = CurvesWidget("Loss", LOSS_KEYS)
        self.accuracy_plot = CurvesWidget("Accuracy", ACCURACY_KEYS)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        self.train_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel training")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.train_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta_label)
        layout.addLayout(plots, 1)
        layout.addLayout(buttons)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.close_button.clicked.connect(self.hide)
        self._set_running(False)

    # --- options -------------------------------------------------------------------------------
    def options(self) -> TrainSettings:
        size = self.image_size.value()
        return TrainSettings(
            backbone=self.backbone.currentText(),
            epochs=self.epochs.value(),
            fine_tune_epochs=self.fine_tune_epochs.value(),
            image_size=size or None,
            batch_size=self.batch_size.value() or None,
            flips=self.flips.currentText(),
            augment=self.augment.currentText(),
            time_budget=self.time_budget.value(),
        )

    def set_options(self, options: TrainSettings) -> None:
        self.backbone.setCurrentText(options.backbone)
        self.epochs.setValue(options.epochs)
        self.fine_tune_epochs.setValue(options.fine_tune_epochs)
        self.image_size.setValue(options.image_size or 0)
        self.batch_size.setValue(options.batch_size or 0)
        self.flips.setCurrentText(options.flips)
        self.augment.setCurrentText(options.augment)
        self.time_budget.setValue(options.time_budget)
        self._follow_backbone(options.backbone)

    def _follow_backbone(self, backbone: str) -> None:
        """small_cnn has no pretrained backbone to fine-tune: say so instead of ignoring it."""
        scratch = backbone == "small_cnn"
        self.fine_tune_epochs.setEnabled(not scratch and not self.is_running())
        self.fine_tune_epochs.setToolTip(
            "small_cnn learns from scratch in one phase: nothing to fine-tune"
            if scratch
            else "most epochs of fine-tuning the backbone (0: off)"
        )

    def _saved_options(self) -> TrainSettings:
        value = self._settings.value
        default = TrainSettings()
        backbone = str(value("training/backbone", default.backbone))
        flips = str(value("training/flips", default.flips))
        augment = str(value("training/augment", default.augment))
        return TrainSettings(
            backbone=backbone if backbone in BACKBONE_CHOICES else default.backbone,
            epochs=int(value("training/epochs", default.epochs)),
            fine_tune_epochs=int(value("training/fine_tune_epochs", default.fine_tune_epochs)),
            image_size=int(value("training/image_size", 0)) or None,
            batch_size=int(value("training/batch_size", 0)) or None,
            flips=flips if flips in FLIP_CHOICES else default.flips,
            augment=augment if augment in AUGMENT_CHOICES else default.augment,
            time_budget=float(value("training/time_budget", default.time_budget)),
        )

    def _save_options(self, options: TrainSettings) -> None:
        for key in ("backbone", "epochs", "fine_tune_epochs", "image_size", "batch_size"):
            self._settings.setValue(f"training/{key}", getattr(options, key) or 0)
        self._settings.setValue("training/flips", options.flips)
        self._settings.setValue("training/augment", options.augment)
        self._settings.setValue("training/time_budget", options.time_budget)

    # --- running -------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """A run is being prepared (its manifest written) or its trainer is working."""
        return self._preparing is not None or (
            self.process is not None and self.process.is_running()
        )

    def start_training(self) -> bool:
        """Start a run: False (with ``failed``) when it cannot start at all.

        The manifest is written on a worker thread: at 100,000 images its near-duplicate groups
        take many seconds, and the window must not freeze. The trainer starts when it is written;
        a failure there comes as ``failed``, Cancel meanwhile as ``ended`` with nothing started.
        """
        if self.is_running():
            return self._refuse("A training run is already going; wait for it or cancel it.")
        try:
            project = self._project()
        except ProjectError as exc:
            return self._refuse(str(exc))
        if project.read_only:
            return self._refuse("This project is open read-only, so no model can be added.")
        try:  # at once, from the label counts; the manifest's readable images are checked again
            require_classes(len(project.counts().per_class))
        except TrainingRunError as exc:
            return self._refuse(cannot_train(exc))
        options, runs_folder = self.options(), self._runs_folder()
        self._target = project
        self.previous_model_id = project.current_model_id()
        self.run, self.process = None, None
        self._stop_preparing = threading.Event()
        stop = self._stop_preparing
        self._preparing = Worker(lambda: _prepared(project, options, runs_folder, stop), self)
        self._preparing.yielded.connect(lambda item: self._on_prepared(item, options))
        self._preparing.finished.connect(self._on_preparing_ended)
        self._reset_display("Writing the list of labelled images for the trainer…")
        self._set_running(True)
        self._preparing.start()
        self.progressed.emit("Training: writing the list of labelled images…", 0, 0)
        return True

    def _on_prepared(self, item: PreparedRun | str, options: TrainSettings) -> None:
        if isinstance(item, str):
            self._refuse(item)
            return
        if self._stop_preparing.is_set():  # cancelled after the thread had looked
            shutil.rmtree(item.run_dir, ignore_errors=True)
            return
        self._save_options(options)
        self._n_labels = item.n_labels
        self.run = TrainingRun(item.run_dir, options)
        self.process = TrainerProcess(self.run, item.command, self)
        self.process.event.connect(self._on_event)
        self.process.ended.connect(self._on_ended)
        self._reset_display(f"Starting the trainer on {self._n_labels:,} labelled images…")
        self.process.start()
        self.progressed.emit("Training: starting the trainer…", 0, 0)

    def _on_preparing_ended(self) -> None:
        """The manifest is written (or not): unless a trainer was started, the run has ended."""
        worker, self._preparing = self._preparing, None
        if worker is not None:
            worker.deleteLater()
        if self.process is not None:  # its own ``ended`` ends the run
            return
        self._set_running(False)
        if self._stop_preparing.is_set():
            self.stage_label.setText("Cancelled: no new version was added.")
        self.ended.emit()

    def showEvent(self, event) -> None:
        """Opened again after a run: say what happens next, not what the last run said."""
        if not self.is_running():
            self._reset_display(READY)
        super().showEvent(event)

    def cancel_training(self) -> None:
        """Stop the child; nothing it wrote is registered, and its run folder is removed."""
        if self.process is not None and self.process.is_running():
            self.stage_label.setText("Cancelling…")
            self.process.cancel()
        elif self._preparing is not None:  # the trainer is not started yet: it never will be
            self.stage_label.setText("Cancelling…")
            self._stop_preparing.set()

    def shutdown(self) -> None:
        """Cancel, and wait for a manifest being written (its thread must end before the app)."""
        self.cancel_training()
        worker = self._preparing
        if worker is not None:
            worker.wait()
            QCoreApplication.sendPostedEvents(worker)  # its result and its end, before the app's

    def _refuse(self, message: str) -> bool:
        self.stage_label.setText(message)
        self.failed.emit(message)
        return False

    def _reset_display(self, text: str) -> None:
        self.stage_label.setText(text)
        self.progress.setRange(0, 0)
        self.eta_label.setText("")
        self.loss_plot.set_series({})
        self.accuracy_plot.set_series({})
        self._last_epoch_at = time.monotonic()

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.backbone, self.epochs, self.image_size, self.batch_size):
            widget.setEnabled(not running)
        for widget in (self.flips, self.augment, self.time_budget):
            widget.setEnabled(not running)
        self._follow_backbone(self.backbone.currentText())

    def _on_event(self, event: TrainerEvent) -> None:
        run = self.run
        assert run is not None
        if event.kind == Event.STAGE:
            self.stage_label.setText(f"Trainer: {run.stage}…")
        elif event.kind == Event.START:
            sizes = event.fields.get("split_sizes") or {}
            self.stage_label.setText(
                f"Training {event.fields.get('backbone')} on {sizes.get('train', '?')} images "
                f"(validation {sizes.get('val', '?')}, test {sizes.get('test', '?')})"
            )
            self.progress.setRange(0, max(1, run.planned_epochs()))
            self.progress.setValue(0)
            self._ticker.start()
        elif event.kind == Event.EPOCH:
            self._last_epoch_at = time.monotonic()
            curves = run.curves()
            self.loss_plot.set_series(curves)
            self.accuracy_plot.set_series(curves)
            self.progress.setRange(0, max(run.planned_epochs(), len(run.epochs)))
            self.progress.setValue(len(run.epochs))
            self._show_eta()
        self._announce()

    def _announce(self) -> None:
        """The status bar's one line: the stage or epoch, and the time left."""
        run = self.run
        if run is None:
            return
        done = len(run.epochs)
        planned = max(run.planned_epochs(), done) if done else 0
        stage = run.stage or "starting"
        text = f"Training: epoch {done} of {planned}" if done else f"Training: {stage}…"
        eta = self.eta_label.text().removeprefix("Time left: ").split(",")[0]
        self.progressed.emit(
            f"{text}, {eta} left" if eta.startswith("about") else text, done, planned
        )

    def _show_eta(self) -> None:
        if self.run is None or self.run.status != "running":
            return
        eta = self.run.eta_seconds(time.monotonic() - self._last_epoch_at)
        budget = self.run.budget_seconds()
        within = f", within the {format_duration(budget)} budget" if budget else ""
        if eta is None:
            self.eta_label.setText(f"Time left: known after the first epoch{within}")
        else:
            self.eta_label.setText(f"Time left: about {format_duration(eta)}{within} (then export)")
        self._announce()

    def _on_ended(self, run: TrainingRun) -> None:
        try:
            self._finish(run)
        finally:
            self.ended.emit()

    def _finish(self, run: TrainingRun) -> None:
        self._ticker.stop()
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.eta_label.setText("")
        if run.status == "cancelled":
            self.progress.setValue(0)
            self.stage_label.setText("Cancelled: no new version was added.")
            shutil.rmtree(run.run_dir, ignore_errors=True)  # the half-written run folder
            return
        if run.status != "done":
            self.progress.setValue(0)
            self._refuse(f"Training failed: {run.error}")
            return
        try:
            assert self._target is not None
            model_id = register_run(self._target, run, self._n_labels)
        except (TrainingRunError, ProjectError) as exc:
            self._refuse(f"Training finished but the model was not added: {exc}")
            return
        if model_id is None:
            self._refuse("Training finished without a model file; train again.")
            return
        self.progress.setValue(1)
        self.stage_label.setText(_summary(run))
        self.trained.emit(model_id)


READY = "Ready: the labelled images will be the training data."


def cannot_train(reason: TrainingRunError) -> str:
    return f"Cannot train yet: {reason}."


def _prepared(
    project: Project, options: TrainSettings, runs_folder: Path, stop: threading.Event
) -> Iterator[PreparedRun | str]:
    """The run folder and manifest (on a worker thread), or the message that says why not.

    Cancelled while writing: the folder is removed and nothing is yielded.
    """
    try:
        prepared = prepare_run(project, options, runs_folder)
    except TrainingRunError as exc:
        yield cannot_train(exc)
        return
    except (OSError, ProjectError) as exc:
        yield f"Cannot prepare the training run: {exc}"
        return
    if stop.is_set():
        shutil.rmtree(prepared.run_dir, ignore_errors=True)
        return
    yield prepared


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min': precise enough for a wait."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _summary(run: TrainingRun) -> str:
    report = run.report or {}
    accuracy, macro_f1 = report.get("accuracy"), report.get("macro_f1")
    if isinstance(accuracy, int | float) and isinstance(macro_f1, int | float):
        return (
            f"Done: test accuracy {accuracy:.1%}, macro F1 {macro_f1:.3f}. "
            "The new version is in the main window (beside the one in use, if there is one)."
        )
    return "Done. The new version is in the main window (beside the one in use, if there is one)."


def _choices(names: tuple[str, ...], tips: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for index, name in enumerate(names):
        box.addItem(name)
        box.setItemData(index, tips[name], Qt.ItemDataRole.ToolTipRole)
    return box


def _spin(low: int, high: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setToolTip(tip)
    return box
