"""Real labelled images for the trainer-quality benchmark, written out as a user would give them.

Two real datasets this machine has offline:

- scikit-learn's bundled handwritten digits (``load_digits``: 1,797 real 8x8 scans, classes
  named "0".."9", not mirror-symmetric), and
- Debian's Fashion-MNIST (``dataset-fashion-mnist``: 28x28 greyscale photos of clothes).

Each dataset is cut into a training pool and a test set that never meet; a row of the benchmark
gives ``per_class`` images of each class from the pool to every method, and scores all methods on
the same test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.trainer_fashion_mnist import CLASS_NAMES as FASHION_CLASSES
from benchmarks.trainer_fashion_mnist import load_split

DIGITS_TEST = 1000
"""Digits held out for testing, as in the issue's first measurement (1,000 other scans)."""


@dataclass(frozen=True)
class Images:
    """Greyscale images (N, H, W) uint8, their labels (N,) and the class names labels index."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def take(self, index: np.ndarray) -> Images:
        return Images(self.images[index], self.labels[index], self.classes)

    def per_class(self, count: int | None, seed: int) -> Images:
        """``count`` images of each class by a seeded shuffle; all of them for None."""
        if count is None:
            return self
        rng = np.random.default_rng(seed)
        chosen = [
            rng.permutation(np.flatnonzero(self.labels == label))[:count]
            for label in range(len(self.classes))
        ]
        return self.take(np.sort(np.concatenate(chosen)))


def digits(seed: int = 0) -> tuple[Images, Images]:
    """(training pool of 797, test set of 1,000) real digit scans, stratified by a seeded split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    pixels = np.clip(bunch.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    every = Images(pixels, bunch.target.astype(np.int64), tuple(str(d) for d in range(10)))
    pool, test = train_test_split(
        np.arange(len(every.labels)),
        test_size=DIGITS_TEST,
        stratify=every.labels,
        random_state=seed,
    )
    return every.take(np.sort(pool)), every.take(np.sort(test))


def fashion() -> tuple[Images, Images]:
    """(the official 60,000 training images, the official 10,000 test images)."""
    train, test = load_split("train"), load_split("t10k")
    return (
        Images(train.images, train.labels.astype(np.int64), FASHION_CLASSES),
        Images(test.images, test.labels.astype(np.int64), FASHION_CLASSES),
    )


def write_class_folders(data: Images, root: Path) -> Path:
    """One folder per class name, one PNG per image; returns ``root``."""
    for name in data.classes:
        (root / name).mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        Image.fromarray(image).save(root / data.classes[label] / f"{index:05d}.png")
    return root
