"""How a training run reports progress: silently, as a terminal bar, or as JSON lines.

The desktop app starts the trainer as a child process with ``--progress json`` and reads one
JSON object per line from its stdout (``trainer.run_folder.Event``: ``stage``, ``start``, ``epoch``,
``done``, ``error``). Each line is flushed at once so the app sees it while the run goes on.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, TextIO

from trainer.run_folder import Event


class Progress:
    """Silent progress: the Python API default, and the base the others override."""

    def stage(self, name: str) -> None:
        """A long step begins: scanning, training, exporting, evaluating."""

    def start(self, **info: Any) -> None:
        """Data is checked and training starts; ``info`` says what is trained on what."""

    def batch(self, step: int, steps: int) -> None:
        """A training batch finished (``step`` of ``steps`` in this epoch)."""

    def epoch_begins(self, phase: str, epoch: int, epochs: int) -> None:
        """An epoch starts (1-based ``epoch`` of at most ``epochs`` in ``phase``)."""

    def epoch(self, **fields: Any) -> None:
        """An epoch finished: epoch, epochs, phase, loss, accuracy, val_loss, ..., seconds."""

    def done(self, run_dir: str, report: dict[str, Any]) -> None:
        """The run finished and RUN_DIR holds every file."""

    def error(self, message: str) -> None:
        """The run stopped; ``message`` says what to fix."""


class JsonLinesProgress(Progress):
    """One JSON object per line for a parent process; numbers that are not finite become null."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def stage(self, name: str) -> None:
        self._emit({"event": Event.STAGE, "stage": name})

    def start(self, **info: Any) -> None:
        self._emit({"event": Event.START, **info})

    def epoch(self, **fields: Any) -> None:
        self._emit({"event": Event.EPOCH, **fields})

    def done(self, run_dir: str, report: dict[str, Any]) -> None:
        self._emit({"event": Event.DONE, "run_dir": run_dir, "report": report})

    def error(self, message: str) -> None:
        self._emit({"event": Event.ERROR, "message": message})

    def _emit(self, event: dict[str, Any]) -> None:
        self._stream.write(json.dumps(finite(event)) + "\n")
        self._stream.flush()


class BarProgress(Progress):
    """A progress bar for a person at a terminal, drawn on stderr so stdout stays clean."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._label = ""

    def stage(self, name: str) -> None:
        self._line(f"{name}...")

    def start(self, **info: Any) -> None:
        sizes = info.get("split_sizes", {})
        self._line(
            f"training {info.get('backbone')} on {len(info.get('classes', []))} classes "
            f"(train {sizes.get('train')}, val {sizes.get('val')}, test {sizes.get('test')}; "
            f"{info.get('skipped', 0)} files skipped)"
        )

    def batch(self, step: int, steps: int) -> None:
        filled = round(self.WIDTH * step / max(steps, 1))
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {step}/{steps}")
        self._stream.flush()

    def epoch(self, **fields: Any) -> None:
        metrics = "  ".join(
            f"{key} {value:.4f}"
            for key, value in fields.items()
            if key in ("loss", "accuracy", "val_loss", "val_accuracy") and value is not None
        )
        self._stream.write("\r" + " " * (len(self._label) + self.WIDTH + 20) + "\r")
        self._line(
            f"{fields['phase']} epoch {fields['epoch']}/{fields['epochs']}  {metrics}  "
            f"{fields['seconds']:.1f}s"
        )

    def epoch_begins(self, phase: str, epoch: int, epochs: int) -> None:
        self._label = f"{phase} epoch {epoch}/{epochs}"

    def done(self, run_dir: str, report: dict[str, Any]) -> None:
        self._line(
            f"done: test accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}; "
            f"model and report in {run_dir}"
        )

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
