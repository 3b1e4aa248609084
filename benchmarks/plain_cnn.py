"""The baseline a user could write in a notebook: a fifteen-line Keras CNN, no Pigeonhole code.

The seed's recipe, as the model-quality issue describes it: Rescaling, three Conv2D/MaxPooling
blocks, Dense 128, Dropout, Adam, early stopping on val_loss with the best epoch restored, 64 px,
no augmentation. Images are read with Pillow and resized with bilinear filtering, as
``keras.utils.image_dataset_from_directory`` does. It is given exactly the training and
validation files the trainer used, so both are scored on the same test set after the same data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 64


def load(paths: Sequence[Path]) -> np.ndarray:
    """float32 (N, 64, 64, 3) RGB 0..255."""
    return np.stack(
        [
            np.asarray(Image.open(p).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
            for p in paths
        ]
    ).astype(np.float32)


def train_plain_cnn(
    train: tuple[Sequence[Path], np.ndarray],
    val: tuple[Sequence[Path], np.ndarray],
    num_classes: int,
    seed: int = 0,
    max_epochs: int = 100,
) -> tuple[object, float]:
    """Fit the notebook CNN; return (model, training seconds)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x_train, x_val = load(train[0]), load(val[0])
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    started = time.perf_counter()
    model.fit(
        x_train,
        train[1],
        validation_data=(x_val, val[1]),
        epochs=max_epochs,
        batch_size=32,
        callbacks=[stop],
        verbose=0,
    )
    return model, time.perf_counter() - started


def predict(model: object, paths: Sequence[Path]) -> np.ndarray:
    """Class probabilities for image files, 256 at a time."""
    parts = [
        model.predict(load(paths[start : start + 256]), verbose=0)  # type: ignore[attr-defined]
        for start in range(0, len(paths), 256)
    ]
    return np.concatenate(parts)
