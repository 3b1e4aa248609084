"""Augmentation that keeps labels true, and the test that decides whether mirroring does.

Small rotations, zooms and shifts keep almost any label. A horizontal flip does not: it turns a
"2" into no digit at all, a left arrow into a right one, text into mirror writing, while a shirt
stays a shirt. So with ``--flips auto`` we ask the data: a linear head fitted on pretrained
embeddings of the training images classifies the validation images and their mirror images. If
the mirror images lose more than a tenth of the accuracy, mirroring changes what the images
show and flips stay off. The figures go to the report, so the user sees why.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from trainer.data import Sample, TrainingData, read_images
from trainer.errors import TrainerError

FLIP_KEEP_RATIO = 0.9
"""Flips stay on when mirrored validation images keep this share of the accuracy."""
PROBE_TRAIN, PROBE_VAL = 2000, 1000
"""At most this many images are embedded for the test: enough to see a drop, quick at any size."""
MIN_PROBE_VAL = 20
"""With fewer validation images, the training images are mirrored too, so the test has data."""


@dataclass(frozen=True)
class FlipDecision:
    """Whether random horizontal flips are on, and the evidence."""

    flips: bool
    decided_by: str
    accuracy: float | None = None
    mirrored_accuracy: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def augmentation(seed: int, flips: bool, geometric: bool = True) -> keras.Sequential:
    """Horizontal flips only where they keep labels; small rotations, zooms and shifts if asked."""
    steps = [keras.layers.RandomFlip("horizontal", seed=seed)] if flips else []
    if geometric:
        steps += [
            keras.layers.RandomRotation(0.03, seed=seed + 1),  # about ±11°
            keras.layers.RandomZoom(0.1, seed=seed + 2),
            keras.layers.RandomTranslation(0.05, 0.05, seed=seed + 3),
        ]
    return keras.Sequential(steps or [keras.layers.Identity()], name="augmentation")


def decide_flips(data: TrainingData, image_size: int, choice: str, seed: int) -> FlipDecision:
    """``choice`` "on"/"off" is the user's; "auto" runs the mirror test on the data."""
    if choice in ("on", "off"):
        return FlipDecision(choice == "on", "--flips " + choice)
    from trainer.models import efficientnet_lite0_backbone

    try:
        backbone = efficientnet_lite0_backbone(image_size, pretrained=True)
    except TrainerError as exc:
        return FlipDecision(False, f"no pretrained features for the mirror test ({exc}): off")
    train = _spread(data.part("train"), PROBE_TRAIN)
    val = _spread(data.part("val"), PROBE_VAL)
    if len(val) < MIN_PROBE_VAL:
        val = val + train
    accuracy, mirrored = mirror_test(backbone, train, val, data.classes, image_size, seed)
    keep = mirrored >= FLIP_KEEP_RATIO * accuracy
    return FlipDecision(keep, "mirror test", round(accuracy, 4), round(mirrored, 4))


def mirror_test(
    backbone: keras.Model,
    train: list[Sample],
    val: list[Sample],
    classes: list[str],
    image_size: int,
    seed: int,
) -> tuple[float, float]:
    """(accuracy, mirrored accuracy) of a linear head on ``backbone``'s pooled features."""
    index = {name: i for i, name in enumerate(classes)}
    x_train = _embed(backbone, read_images(train, image_size))
    images = read_images(val, image_size)
    x_val, x_mirrored = _embed(backbone, images), _embed(backbone, images[:, :, ::-1, :])
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    x_train, x_val, x_mirrored = ((x - mean) / scale for x in (x_train, x_val, x_mirrored))
    y_train = np.array([index[s.label] for s in train])
    y_val = np.array([index[s.label] for s in val])
    head = LogisticRegression(max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        head.fit(x_train, y_train)
    return float(head.score(x_val, y_val)), float(head.score(x_mirrored, y_val))


def _embed(backbone: keras.Model, images: np.ndarray) -> np.ndarray:
    """Globally pooled features: the embedding a head would read."""
    return backbone.predict(images, batch_size=64, verbose=0).mean(axis=(1, 2))


def _spread(samples: list[Sample], limit: int) -> list[Sample]:
    """At most ``limit`` samples evenly spaced over the (sorted) list, so every class is in."""
    step = max(1, -(-len(samples) // limit))
    return samples[::step]
