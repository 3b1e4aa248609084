"""The training story, top to bottom (after keras-io "Transfer learning & fine-tuning").

Data -> augmentation -> model with a frozen pretrained backbone -> fit the head with class
weights and early stopping -> optionally unfreeze the top blocks and fit again at a low learning
rate -> save -> export to ONNX with a parity check -> evaluate on the test split. Seeded, so the
same data and options give the same model on the same machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

import trainer
from trainer.data import TrainingData, tf_dataset
from trainer.distribute import even_batch
from trainer.errors import TrainerError
from trainer.evaluate import write_json
from trainer.export import HISTORY_FILE, KERAS_FILE, SPLIT_FILE, export_run
from trainer.files import replacing
from trainer.models import build_classifier, unfreeze_top_blocks
from trainer.options import TrainOptions
from trainer.progress import Progress
from trainer.split import write_split_csv


def train_and_export(
    data: TrainingData,
    out: Path,
    options: TrainOptions,
    progress: Progress,
    scan_seconds: float = 0.0,
) -> dict[str, Any]:
    """Fit a model on ``data``, fill the run folder ``out`` and return the run's report."""
    keras.utils.set_random_seed(options.seed)
    out.mkdir(parents=True, exist_ok=True)
    write_split_csv(out / SPLIT_FILE, [(s.rel, s.label, data.splits[s.rel]) for s in data.samples])
    progress.start(
        backbone=options.backbone,
        classes=data.classes,
        image_size=options.image_size,
        epochs=options.epochs,
        fine_tune_epochs=options.fine_tune_epochs,
        split_sizes=data.split_sizes(),
        skipped=len(data.skipped),
    )

    size, batch = options.image_size, options.batch_size
    augment = augmentation(options.seed)
    train_batch, val_batch = (even_batch(batch, len(data.part(p))) for p in ("train", "val"))
    train_ds = tf_dataset(
        data.part("train"), data.classes, size, train_batch, shuffle_seed=options.seed
    )
    train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y))
    val_ds = tf_dataset(data.part("val"), data.classes, size, val_batch)

    classifier = build_classifier(options.backbone, size, len(data.classes))
    weights = class_weights(data, len(data.classes))

    progress.stage("training")
    started = time.perf_counter()
    fit = Fit(classifier.model, train_ds, val_ds, weights, options.patience, progress)
    phases = {"head": fit.phase("head", options.epochs, options.learning_rate), "fine_tune": {}}
    if options.fine_tune_epochs and unfreeze_top_blocks(classifier, options.fine_tune_blocks):
        phases["fine_tune"] = fit.phase(
            "fine_tune", options.fine_tune_epochs, options.fine_tune_learning_rate
        )
    train_seconds = time.perf_counter() - started

    epochs_run = sum(len(phase.get("loss", [])) for phase in phases.values())
    save_model(classifier.model, out / KERAS_FILE)
    write_json(
        out / HISTORY_FILE,
        {
            "trainer_version": trainer.__version__,
            "data_root": str(data.root.absolute()),
            "options": asdict(options),
            "classes": data.classes,
            "skipped": [item.as_dict() for item in data.skipped],
            "phases": phases,
            "timings": {
                "scan_seconds": round(scan_seconds, 3),
                "train_seconds": round(train_seconds, 3),
                "train_images_per_second": round(
                    epochs_run * len(data.part("train")) / max(train_seconds, 1e-9), 2
                ),
            },
        },
    )
    return export_run(out, model=classifier.model, progress=progress)


def augmentation(seed: int) -> keras.Sequential:
    """Random flips, small rotations and zooms: more variety from few images, training only."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed + 1),
            keras.layers.RandomZoom(0.1, seed=seed + 2),
        ],
        name="augmentation",
    )


def class_weights(data: TrainingData, num_classes: int) -> dict[int, float]:
    """'Balanced' weights so a class with few images counts as much as a big one."""
    index = {name: i for i, name in enumerate(data.classes)}
    labels = np.array([index[s.label] for s in data.part("train")])
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    found = dict(zip(present.tolist(), weights.tolist(), strict=True))
    return {i: float(found.get(i, 1.0)) for i in range(num_classes)}


@dataclass
class Fit:
    """What every training phase shares: the model, the data and how progress is reported."""

    model: keras.Model
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    class_weight: dict[int, float]
    patience: int
    progress: Progress

    def phase(self, name: str, epochs: int, learning_rate: float) -> dict[str, list[float]]:
        """Compile and fit one phase; early stopping restores the epoch with the best val_loss."""
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.patience, restore_best_weights=True
            ),
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


def save_model(model: keras.Model, path: Path) -> None:
    """Save as .keras under a temporary name first, so a crash never leaves half a file."""
    with replacing(path) as tmp:
        model.save(tmp)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
