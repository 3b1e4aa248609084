"""Train from the app, minus the window: manifest, command line, progress, ETA, registration.

The app never imports TensorFlow; it starts the trainer as a child process and reads its
``--progress json`` lines. Inside a packaged (frozen) app there is no ``python`` to call, so the
app's own executable is started with a ``train`` subcommand that runs the trainer's CLI. A run
becomes a model version only when the trainer said ``done`` AND its model.onnx is there; a
cancelled or failed run registers nothing.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.csv_io import write_training_manifest
from desktop.core.errors import ExportError
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.paths import data_dir
from trainer.run_folder import MANIFEST_FILE, MODEL_FILE, REPORT_FILE, Event

if TYPE_CHECKING:
    from desktop.core.store import Project

ETA_WINDOW = 3
"""Recent epochs averaged for the ETA: later epochs run at a steadier speed than the first."""


class TrainingRunError(Exception):
    """A training run cannot start or cannot be registered; the message says what to do."""


@dataclass(frozen=True)
class TrainSettings:
    """The options the app passes to ``trainer train`` (the trainer checks them again)."""

    backbone: str = "auto"
    epochs: int = 0
    """0: the trainer's default (10 for a pretrained head, 100 for small_cnn from scratch)."""
    fine_tune_epochs: int = 30
    image_size: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    flips: str = "auto"
    augment: str = "auto"
    time_budget: float = 15.0
    """Minutes of training the candidates share; 0: no limit."""

    def arguments(self) -> list[str]:
        args = ["--backbone", self.backbone, "--fine-tune-epochs", str(self.fine_tune_epochs)]
        if self.epochs:
            args += ["--epochs", str(self.epochs)]
        args += ["--flips", self.flips, "--augment", self.augment]
        args += ["--time-budget", f"{self.time_budget:g}"]
        for flag, value in (
            ("--image-size", self.image_size),
            ("--batch-size", self.batch_size),
            ("--seed", self.seed),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args


def default_runs_folder() -> Path:
    """Where training runs live: the user's data folder, never next to their images."""
    return data_dir() / "runs"


def new_run_dir(base: Path, now: float | None = None) -> Path:
    """A fresh, empty, uniquely named run folder under ``base``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        run_dir = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise TrainingRunError(f"cannot create a new run folder in {base}: too many runs this second")


@dataclass(frozen=True)
class PreparedRun:
    """Everything needed to start the trainer child process for one run."""

    run_dir: Path
    manifest: Path
    command: list[str]
    n_labels: int


def prepare_run(
    project: Project, settings: TrainSettings, runs_folder: Path | None = None
) -> PreparedRun:
    """A new run folder holding the manifest of labelled images, and the command to train.

    The manifest lists absolute paths, each image's duplicate group (its content key, column
    ``group``) and any split an old version locked (column ``split``). The trainer splits by a
    hash of the group, so every round puts each image, and every copy of it, in the same split
    wherever the files are, and all versions share one test set.
    """
    require_classes(len({label for _, label in project.labelled_images()}))
    run_dir = new_run_dir(runs_folder or default_runs_folder())
    manifest = run_dir / MANIFEST_FILE
    try:
        n_labels = write_training_manifest(project, manifest)
    except ExportError as exc:
        raise TrainingRunError(str(exc)) from exc
    return PreparedRun(run_dir, manifest, trainer_command(manifest, run_dir, settings), n_labels)


def require_classes(count: int) -> None:
    """TrainingRunError unless ``count`` classes have labelled images: a model needs two."""
    if count < 2:
        raise TrainingRunError("label images of at least two classes before training")


def trainer_command(
    data: Path,
    run_dir: Path,
    settings: TrainSettings,
    *,
    frozen: bool | None = None,
    executable: str | None = None,
) -> list[str]:
    """The argv that starts the trainer: ``python -m trainer train ...`` or ``APP train ...``."""
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    executable = executable or sys.executable
    start = [executable, "train"] if frozen else [executable, "-m", "trainer", "train"]
    return [*start, str(data), "--out", str(run_dir), *settings.arguments(), "--progress", "json"]


@dataclass(frozen=True)
class TrainerEvent:
    """One JSON progress line; ``kind`` is one of ``trainer.run_folder.Event`` (or a kind a
    newer trainer added, which the app ignores)."""

    kind: str
    fields: dict[str, Any]


def parse_progress_line(line: str | bytes) -> TrainerEvent | None:
    """The event on one line of the trainer's stdout, or None for anything else (log noise)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event"), str):
        return None
    return TrainerEvent(value["event"], {k: v for k, v in value.items() if k != "event"})


@dataclass
class TrainingRun:
    """What the app knows about a running trainer, fed one stdout line at a time."""

    run_dir: Path
    settings: TrainSettings = field(default_factory=TrainSettings)
    status: str = "starting"
    """starting, running, done, failed or cancelled."""
    stage: str = ""
    epochs: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    error: str = ""
    start_info: dict[str, Any] = field(default_factory=dict)

    def feed(self, line: str | bytes) -> TrainerEvent | None:
        """Take one line of output; returns the event it carried, if any."""
        event = parse_progress_line(line)
        if event is None or self.status in ("done", "failed", "cancelled"):
            return event
        if event.kind == Event.STAGE:
            self.stage = str(event.fields.get("stage", ""))
        elif event.kind == Event.START:
            self.status = "running"
            self.start_info = event.fields
        elif event.kind == Event.EPOCH:
            self.status = "running"
            self.epochs.append(event.fields)
        elif event.kind == Event.DONE:
            self.status = "done"
            self.report = event.fields.get("report") or {}
        elif event.kind == Event.ERROR:
            self.status = "failed"
            self.error = str(event.fields.get("message") or "the trainer stopped without a reason")
        return event

    def finished(self, exit_code: int, stderr_tail: str = "") -> None:
        """The child exited; a non-zero code without an error event is a failure too."""
        if self.status in ("done", "failed", "cancelled"):
            if self.status == "done" and exit_code != 0:
                self.status = "failed"
                self.error = f"the trainer exited with code {exit_code} after finishing"
            return
        self.status = "failed"
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else ""
        self.error = f"the trainer exited with code {exit_code}" + (f": {last}" if last else "")

    def cancel(self) -> None:
        """The user pressed Cancel: whatever the child wrote is never registered."""
        if self.status not in ("done", "failed"):
            self.status = "cancelled"

    def curves(self) -> dict[str, list[float | None]]:
        """loss, accuracy, val_loss, val_accuracy per epoch across phases, for live plots."""
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        return {key: [epoch.get(key) for epoch in self.epochs] for key in keys}

    def planned_epochs(self) -> int:
        """At most this many epochs in all (early stopping may end a phase sooner)."""
        info = self.start_info
        head = int(info.get("epochs", self.settings.epochs))
        fine = int(info.get("fine_tune_epochs", self.settings.fine_tune_epochs))
        return head + fine

    def budget_seconds(self) -> float | None:
        """The trainer's time budget for training, as its start event said (None: no limit)."""
        budget = self.start_info.get("time_budget_seconds")
        return float(budget) if isinstance(budget, int | float) and budget > 0 else None

    def eta_seconds(self, since_last_epoch: float = 0.0) -> float | None:
        """Seconds left if every remaining epoch runs, at most what is left of the budget;
        None before the first epoch ends."""
        eta = estimate_eta(self.epochs, self.planned_epochs(), since_last_epoch)
        budget = self.budget_seconds()
        if eta is None or budget is None:
            return eta
        spent = sum(float(e.get("seconds") or 0.0) for e in self.epochs) + since_last_epoch
        return max(0.0, min(eta, budget - spent))

    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE

    def can_register(self) -> bool:
        return self.status == "done" and self.model_path().is_file()


def estimate_eta(
    epochs: Sequence[dict[str, Any]], planned: int, since_last_epoch: float = 0.0
) -> float | None:
    """Mean of the recent epochs' seconds times the epochs left, less time already spent."""
    timed = [float(e["seconds"]) for e in epochs if isinstance(e.get("seconds"), int | float)]
    if not timed:
        return None
    per_epoch = sum(timed[-ETA_WINDOW:]) / len(timed[-ETA_WINDOW:])
    remaining = _remaining_epochs(epochs, planned)
    return max(0.0, remaining * per_epoch - since_last_epoch)


def _remaining_epochs(epochs: Sequence[dict[str, Any]], planned: int) -> int:
    """Epochs left of the plan; a phase that stopped early gives back the epochs it skipped."""
    runs: dict[str, tuple[int, int]] = {}  # phase -> (epochs run, most epochs)
    for epoch in epochs:
        phase = str(epoch.get("phase", ""))
        runs[phase] = (runs.get(phase, (0, 0))[0] + 1, int(epoch.get("epochs", 0)))
    finished = list(runs)[:-1]  # every phase before the current one has ended
    skipped = sum(max(0, most - run) for phase, (run, most) in runs.items() if phase in finished)
    return max(0, planned - len(epochs) - skipped)


def register_run(project: Project, run: TrainingRun, n_labels: int) -> int | None:
    """Make a finished run a model version of ``project``; None when it did not finish.

    The model file is checked like any model the user opens, and the version keeps the test
    metrics from the run's report and the folder the run wrote (for its report and curves).
    """
    if not run.can_register():
        return None
    try:
        model = check_model_file(run.model_path())
    except ModelFileError as exc:
        raise TrainingRunError(f"the trained model cannot be used: {exc}") from exc
    report = run.report or _read_report(run.run_dir / REPORT_FILE)
    calibration = report.get("calibration") or {}
    metrics = {
        "accuracy": report.get("accuracy"),
        "macro_f1": report.get("macro_f1"),
        "ece": calibration.get("ece_after"),
        "ece_before": calibration.get("ece_before"),
        "temperature": calibration.get("temperature"),
        "recipe": model.info.extra.get("recipe"),
        "run_dir": str(run.run_dir),
        "source": "trainer",
    }
    return project.add_model(model.path, model.info, metrics=metrics, n_labels=n_labels)


def _read_report(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingRunError(
            f"the run finished but its report {path} cannot be read ({exc}); train again"
        ) from exc
