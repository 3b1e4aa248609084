"""Embeddings of Fashion-MNIST images for the label-error benchmark, cached under /tmp.

Two models the trainer made on OTHER images than those reviewed: the shipped sample model
(small_cnn, the first 40 training images per class) and an EfficientNet-Lite0 trained here on
200 seeded training images per class. Each embeds two sets through the classify pipeline the
window uses (PNG files, ``decode_for_model``, ONNX Runtime): the official 10,000 test images
(where the benchmark reports) and 5,000 further training images no model saw (where the review's
settings were tuned). Embedding 15,000 images costs minutes on 2 cores, so the arrays are kept in
``CACHE`` keyed by the model file's SHA-1; reruns are cheap.

    python -m benchmarks.label_embeddings      # build the cache (the benchmark also does this)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.trainer_fashion_mnist import (
    CLASS_NAMES,
    Split,
    load_split,
    write_class_folders,
)

CACHE = Path(tempfile.gettempdir()) / "pigeonhole-label-errors"
SAMPLE_MODEL = Path(__file__).resolve().parent.parent / "resources" / "sample" / "model.onnx"
SAMPLE_PER_CLASS = 40
"""tools/make_sample.py trains the sample on the first 40 training images of each class."""
LITE0_PER_CLASS = 200
LITE0_OPTIONS = {
    "backbone": "efficientnet_lite0",
    "image_size": 32,
    "epochs": 2,
    "fine_tune_epochs": 4,
    "fine_tune_blocks": 16,
    "batch_size": 64,
    "seed": 0,
}
TUNE_COUNT = 5000


@dataclass(frozen=True)
class Embedded:
    """One model's embeddings of one image set, with the true labels (0..9, CLASS_NAMES order)."""

    model: str
    images: str
    embeddings: np.ndarray
    truth: np.ndarray


def trained_on() -> set[int]:
    """Indices into the official training split that either model was trained on."""
    labels = load_split("train").labels
    used: set[int] = set()
    for label in range(len(CLASS_NAMES)):
        used.update(int(i) for i in np.flatnonzero(labels == label)[:SAMPLE_PER_CLASS])
    lite0 = _lite0_indices(labels)
    return used | set(lite0.tolist())


def _lite0_indices(labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(LITE0_OPTIONS["seed"])
    chosen = [
        rng.permutation(np.flatnonzero(labels == label))[:LITE0_PER_CLASS]
        for label in range(len(CLASS_NAMES))
    ]
    return np.sort(np.concatenate(chosen))


def image_sets() -> dict[str, Split]:
    """``test``: the official test split; ``tune``: the last training images no model saw."""
    train = load_split("train")
    used = trained_on()
    tune = [i for i in range(len(train.labels) - 1, -1, -1) if i not in used][:TUNE_COUNT]
    tune_index = np.sort(np.array(tune))
    return {
        "test": load_split("t10k"),
        "tune": Split(train.images[tune_index], train.labels[tune_index]),
    }


def lite0_model() -> Path:
    """The EfficientNet-Lite0 model the trainer makes on its 2,000 images (trained once)."""
    model = CACHE / "lite0-run" / "model.onnx"
    if model.is_file():
        return model
    import trainer

    train = load_split("train")
    index = _lite0_indices(train.labels)
    with tempfile.TemporaryDirectory(prefix="pigeonhole-lite0-") as tmp:
        data = write_class_folders(Split(train.images[index], train.labels[index]), Path(tmp))
        run = CACHE / "lite0-run"
        shutil.rmtree(run, ignore_errors=True)
        report = trainer.train(data, run, **LITE0_OPTIONS)
    print(f"lite0: held-out accuracy {report['accuracy']:.3f}", file=sys.stderr)
    return model


def models() -> dict[str, Path]:
    return {"sample small_cnn": SAMPLE_MODEL, "lite0 (2,000 images)": lite0_model()}


def embed(model_name: str, model: Path, images_name: str, split: Split) -> Embedded:
    """Embeddings of ``split`` by ``model``, from the cache when this model made them before."""
    digest = hashlib.sha1(model.read_bytes()).hexdigest()[:12]
    cached = CACHE / f"{digest}-{images_name}-{len(split.labels)}.npz"
    if cached.is_file():
        data = np.load(cached)
        return Embedded(model_name, images_name, data["embeddings"], data["truth"])
    embeddings = _embed_files(model, split)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cached, embeddings=embeddings, truth=split.labels)
    return Embedded(model_name, images_name, embeddings, split.labels.copy())


def _embed_files(model: Path, split: Split) -> np.ndarray:
    """Write PNGs and run them through ``classify_images``, exactly the window's path."""
    from desktop.core.classify import ClassifyOptions, classify_images
    from desktop.core.inference import open_session
    from desktop.core.model_file import check_model_file

    session = open_session(check_model_file(model), "cpu")
    with tempfile.TemporaryDirectory(prefix="pigeonhole-embed-") as tmp:
        root = write_class_folders(split, Path(tmp))
        files = sorted(root.glob("*/*.png"), key=lambda p: int(p.stem))
        rows = np.zeros((len(files), session.model.embedding_dim), np.float32)
        items = [(int(p.stem), p) for p in files]
        for batch in classify_images(session, items, ClassifyOptions(workers=1, batch_size=64)):
            if batch.errors:
                raise RuntimeError(f"could not embed {batch.errors[0]}")
            rows[batch.keys] = batch.embedding
            print(f"\r{batch.done}/{len(files)} embedded", end="", file=sys.stderr)
        print(file=sys.stderr)
    return rows


def all_embeddings() -> list[Embedded]:
    sets = image_sets()
    return [
        embed(name, path, images, split)
        for name, path in models().items()
        for images, split in sets.items()
    ]


if __name__ == "__main__":
    for item in all_embeddings():
        print(item.model, item.images, item.embeddings.shape)
