"""One training phase: compile, fit with early stopping and a deadline, report every epoch.

Early stopping watches val_loss and restores the best epoch. The deadline stops a phase when the
candidate's share of the time budget is spent; the best epoch so far is restored then too, so a
budget never leaves a model from a worse epoch than one it already had.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from trainer.errors import TrainerError
from trainer.progress import Progress


@dataclass
class Fit:
    """What every training phase of one candidate shares: model, data, weights, progress."""

    model: keras.Model
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    class_weight: dict[int, float]
    progress: Progress
    deadline: float | None = None
    """time.monotonic() by which training ends (no epoch is started that would pass it)."""

    def __post_init__(self) -> None:
        # One for every phase: the epochs already timed tell how long the next one takes.
        self._deadline = Deadline(self.deadline)

    def phase(
        self, name: str, epochs: int, learning_rate: float, patience: int
    ) -> dict[str, list[float]]:
        """Compile and fit one phase; returns Keras' history (loss, accuracy, val_... per epoch)."""
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            ),
            self._deadline,
            ProgressCallback(self.progress, name, epochs),
        ]
        try:
            history = self.model.fit(
                self.train_ds,
                validation_data=self.val_ds,
                epochs=epochs,
                class_weight=self.class_weight,
                callbacks=callbacks,
                shuffle=False,  # the tf.data pipeline shuffles, seeded
                verbose=0,
            )
        except tf.errors.OpError as exc:
            first_line = exc.message.splitlines()[0]
            raise TrainerError(
                f"training stopped: an image could not be read any more ({first_line})"
            ) from exc
        return {key: [float(v) for v in values] for key, values in history.history.items()}

    def out_of_time(self) -> bool:
        """Whether the deadline stopped a phase or has passed: no further phase should start."""
        if self.deadline is None:
            return False
        return self._deadline.stopped or time.monotonic() >= self.deadline


class Deadline(keras.callbacks.Callback):
    """Stops training before an epoch that would end after ``deadline`` (time.monotonic).

    The next epoch is assumed to take as long as the longest so far, so a budget is an upper
    bound on the seconds spent, not a point after which one more epoch still runs.
    """

    def __init__(self, deadline: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._deadline, self._clock = deadline, clock
        self._epoch_started = 0.0
        self._longest_epoch = 0.0
        self.stopped = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = self._clock()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = self._clock()
        self._longest_epoch = max(self._longest_epoch, now - self._epoch_started)
        if self._deadline is not None and now + self._longest_epoch >= self._deadline:
            self.stopped = True
            self.model.stop_training = True


class ProgressCallback(keras.callbacks.Callback):
    """Forwards Keras' batch and epoch ends to a Progress (bar or JSON lines)."""

    def __init__(self, progress: Progress, phase: str, epochs: int) -> None:
        super().__init__()
        self._progress, self._phase, self._epochs = progress, phase, epochs
        self._started = 0.0
        self._steps = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()
        self._steps = int(self.params.get("steps") or 0)
        self._progress.epoch_begins(self._phase, epoch + 1, self._epochs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._progress.batch(batch + 1, self._steps or batch + 1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self._progress.epoch(
            epoch=epoch + 1,
            epochs=self._epochs,
            phase=self._phase,
            **{
                key: _number(logs.get(key))
                for key in ("loss", "accuracy", "val_loss", "val_accuracy")
            },
            seconds=round(time.perf_counter() - self._started, 3),
        )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
