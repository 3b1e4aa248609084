"""Rebuild resources/sample/: a few hundred Fashion-MNIST photos and a model trained on them.

The images come from Debian's ``dataset-fashion-mnist`` package (MIT; its copyright file is kept
as resources/sample/LICENSE). The model is trained by our own trainer (``trainer.train``), so the
sample shows what a user's first training run produces.

    apt-get install -y dataset-fashion-mnist
    python tools/make_sample.py            # images, then the model
    python tools/make_sample.py images     # only the images
    python tools/make_sample.py model      # only the model (needs the trainer's extras)
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"
DATASET = Path("/usr/share/datasets/fashion-mnist")
COPYRIGHT = Path("/usr/share/doc/dataset-fashion-mnist/copyright")
CLASS_NAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
"""Fashion-MNIST's label order (0..9), as folder names."""
PER_CLASS = 40
IMAGE_SIZE = 32
BACKBONE = "small_cnn"
EPOCHS = 50
PATIENCE = 50
BATCH_SIZE = 16
"""Small batches and no early stopping: from scratch on 280 images, the batch-norm statistics
need ~200 steps before validation accuracy leaves chance, and val_loss rises meanwhile."""


class SampleError(Exception):
    """The sample could not be rebuilt; the message says what to install or fix."""


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one gzipped IDX file (the MNIST container format) into a uint8 array."""
    if not path.is_file():
        raise SampleError(f"{path} not found: run `apt-get install -y dataset-fashion-mnist`")
    with gzip.open(path, "rb") as f:
        data = f.read()
    found, count = struct.unpack(">II", data[:8])
    if found != magic:
        raise SampleError(f"{path} is not an IDX file (magic {found}, expected {magic})")
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


def pick_first(labels: np.ndarray, per_class: int) -> list[int]:
    """Indices of the first ``per_class`` examples of each class: deterministic, balanced."""
    chosen: list[int] = []
    for label in range(len(CLASS_NAMES)):
        (indices,) = np.nonzero(labels == label)
        if len(indices) < per_class:
            raise SampleError(f"only {len(indices)} images of {CLASS_NAMES[label]}")
        chosen.extend(int(i) for i in indices[:per_class])
    return chosen


def write_images(out: Path, per_class: int = PER_CLASS) -> int:
    """Write class folders of PNGs (replacing earlier ones) and the dataset's licence."""
    images = read_idx(DATASET / "train-images-idx3-ubyte.gz", 2051)
    labels = read_idx(DATASET / "train-labels-idx1-ubyte.gz", 2049)
    target = out / "images"
    if target.exists():
        shutil.rmtree(target)
    for index in pick_first(labels, per_class):
        folder = target / CLASS_NAMES[labels[index]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[index], mode="L").save(folder / f"fmnist-{index:05d}.png")
    shutil.copyfile(COPYRIGHT, out / "LICENSE")
    return per_class * len(CLASS_NAMES)


def train_model(out: Path, image_size: int, epochs: int, backbone: str, patience: int) -> Path:
    """Train with ``trainer.train`` and copy the exported model to ``out/model.onnx``.

    The Python API rather than the CLI because the CLI has no ``--patience``, and the default (3)
    stops this tiny from-scratch run before validation accuracy leaves chance (see BATCH_SIZE).
    """
    import trainer
    from trainer.progress import BarProgress

    with tempfile.TemporaryDirectory(prefix="pigeonhole-sample-") as tmp:
        run_dir = Path(tmp) / "run"
        try:
            report = trainer.train(
                out / "images",
                run_dir,
                backbone=backbone,
                image_size=image_size,
                epochs=epochs,
                patience=patience,
                batch_size=BATCH_SIZE,
                progress=BarProgress(sys.stderr),
            )
        except trainer.TrainerError as exc:
            raise SampleError(f"the trainer refused: {exc}") from exc
        shutil.copyfile(run_dir / "model.onnx", out / "model.onnx")
        shutil.copyfile(run_dir / "report.json", out / "report.json")
    print(f"test accuracy {report.get('accuracy', float('nan')):.3f} on the held-out split")
    return out / "model.onnx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", choices=("all", "images", "model"), default="all")
    parser.add_argument("--out", type=Path, default=SAMPLE)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--backbone", default=BACKBONE)
    parser.add_argument("--patience", type=int, default=PATIENCE)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.step in ("all", "images"):
            count = write_images(args.out, args.per_class)
            print(f"wrote {count} images to {args.out / 'images'}")
        if args.step in ("all", "model"):
            model = train_model(
                args.out, args.image_size, args.epochs, args.backbone, args.patience
            )
            print(f"wrote {model} ({model.stat().st_size / 1e6:.1f} MB)")
    except SampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
