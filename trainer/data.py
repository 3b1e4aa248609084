"""Labelled images in: class folders or a ``path,label`` CSV manifest, checked and split.

Both inputs become the same list of samples keyed by the path relative to DATA (for a CSV: to the
CSV's folder), so a CSV listing ``cats/a.jpg`` and a folder holding ``cats/a.jpg`` train on the
same files with the same split. The split follows each file's group (see ``trainer.split``): the
manifest's optional ``group`` column (the app's duplicate groups), else the file's content key, so
exact copies always share a split; an optional ``split`` column locks a file's group to a
split. Every image is decoded once with the contract's decode function before training, so
unreadable files are skipped with a reason up front instead of failing an epoch half-way; files
are only ever read, never moved or deleted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.contract import UnreadableImage, decode_for_model, is_image_path
from trainer.errors import TrainerError
from trainer.identity import content_key
from trainer.run_folder import (
    ManifestError,
    ManifestRow,
    Skipped,
    class_of_folder,
    read_manifest,
)
from trainer.split import SPLITS, assign_splits, merged_groups

MIN_IMAGES_PER_CLASS = 2
CACHE_LIMIT_BYTES = 1 << 30
"""Decoded training images are kept in memory across epochs when they fit in this budget, as
uint8 (a quarter of float32): about 7,000 images at 224 px, every Fashion-MNIST-sized set."""


@dataclass(frozen=True)
class Sample:
    """One labelled image; ``rel`` (posix, relative to DATA) is its name in splits and reports."""

    path: Path
    rel: str
    label: str
    group: str | None = None
    """The manifest's group key; None means the file's content key decides."""
    locked: str | None = None
    """A split the manifest locks this file's group to (train, val or test)."""


@dataclass(frozen=True)
class LabelledData:
    """The readable samples of DATA (sorted by ``rel``), its classes and the skipped files."""

    root: Path
    samples: list[Sample]
    classes: list[str]
    skipped: list[Skipped]


@dataclass(frozen=True)
class TrainingData(LabelledData):
    """Labelled data fit for training, with each sample's split ("train", "val" or "test")."""

    splits: dict[str, str]
    groups: dict[str, str]
    """rel -> group key: files with one key share one split."""

    def part(self, split: str) -> list[Sample]:
        return [sample for sample in self.samples if self.splits[sample.rel] == split]

    def split_sizes(self) -> dict[str, int]:
        counts = Counter(self.splits.values())
        return {name: counts.get(name, 0) for name in ("train", "val", "test")}

    def merged_groups(self) -> dict[str, int]:
        """How many groups of identical files were kept together in one split."""
        return merged_groups(self.groups)


def load_training_data(data: Path, image_size: int) -> TrainingData:
    """Read, check and split DATA; raise TrainerError saying what to fix if it cannot train."""
    labelled = load_labelled_data(data, image_size)
    _require_trainable(labelled, data)
    splits, groups = split_samples(labelled.samples)
    return TrainingData(
        root=labelled.root,
        samples=labelled.samples,
        classes=labelled.classes,
        skipped=labelled.skipped,
        splits=splits,
        groups=groups,
    )


def split_samples(samples: Sequence[Sample]) -> tuple[dict[str, str], dict[str, str]]:
    """(rel -> split, rel -> group key) for readable samples, grouped as the module says."""
    groups = group_keys(samples)
    locked = {s.rel: s.locked for s in samples if s.locked}
    return assign_splits(((s.rel, s.label) for s in samples), groups, locked), groups


def group_keys(samples: Sequence[Sample]) -> dict[str, str]:
    """Each sample's group: the manifest's, else the content key of its bytes (hashed here).

    The samples were just decoded, so a file that cannot be read now vanished in between: it is
    its own group under its path, and training will report it.
    """
    unnamed = [s for s in samples if not s.group]
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        keys = list(pool.map(_content_key_or_rel, unnamed))
    found = {s.rel: key for s, key in zip(unnamed, keys, strict=True)}
    return {s.rel: s.group or found[s.rel] for s in samples}


def _content_key_or_rel(sample: Sample) -> str:
    try:
        return content_key(sample.path)
    except OSError:
        return sample.rel


def load_labelled_data(data: Path, image_size: int) -> LabelledData:
    """DATA's readable samples and skipped files, without the rules training adds."""
    root, samples, classes, skipped = list_labelled_files(data)
    readable, unreadable = keep_readable(samples, image_size)
    return LabelledData(root, readable, classes, sorted(skipped + unreadable, key=_by_path))


def list_labelled_files(data: Path) -> tuple[Path, list[Sample], list[str], list[Skipped]]:
    """(root, samples, classes, skipped) from class folders or a CSV manifest; nothing decoded."""
    if not data.exists():
        raise TrainerError(
            f"{data} does not exist: give a folder of class folders or a CSV manifest (path,label)"
        )
    if data.is_dir():
        return _list_folder(data)
    if not data.is_file():  # opening a FIFO would block until someone writes to it
        raise TrainerError(
            f"{data} is not a regular file (a pipe or device?): give a folder of class folders "
            "or a CSV manifest (path,label)"
        )
    if data.suffix.lower() == ".csv":
        return _list_csv(data)
    raise TrainerError(f"{data} is neither a folder of class folders nor a .csv manifest")


def _list_folder(root: Path) -> tuple[Path, list[Sample], list[str], list[Skipped]]:
    """Class = first-level folder (``class_of_folder``, the app's rule too); its images are found
    recursively; hidden names ignored."""
    classes, samples, skipped = [], [], []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = class_of_folder(entry.name)
        if name is None:
            continue
        if entry.is_dir():
            classes += [] if name in classes else [name]
            samples += [
                Sample(path, path.relative_to(root).as_posix(), name)
                for path in _images_below(Path(entry.path))
            ]
        elif is_image_path(entry.name):
            skipped.append(Skipped(entry.name, "not inside a class folder"))
    if not samples:
        raise TrainerError(
            f"no images found in {root}: put each class's images in a sub-folder named after it"
        )
    return root, sorted(samples, key=_by_rel), classes, skipped


def _images_below(folder: Path) -> list[Path]:
    """Image files under ``folder``, hidden files and folders left out, links not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        found += [
            Path(dirpath, name)
            for name in filenames
            if not name.startswith(".") and is_image_path(name)
        ]
    return found


def _list_csv(manifest: Path) -> tuple[Path, list[Sample], list[str], list[Skipped]]:
    """Rows of ``path,label`` with paths relative to the CSV's folder (absolute paths work too)."""
    root = manifest.parent
    rows = _read_manifest_rows(manifest)
    labels: dict[str, tuple[str, int]] = {}
    extras: dict[str, tuple[str | None, str | None]] = {}
    missing: list[tuple[int, str]] = []
    for line, raw_path, label, group, split in (astuple(row) for row in rows):
        rel = _manifest_rel(root, raw_path)
        if rel in labels and labels[rel][0] != label:
            raise TrainerError(
                f"{manifest.name} lists {raw_path} twice with different labels "
                f"({labels[rel][0]} on line {labels[rel][1]}, {label} on line {line}): keep one"
            )
        if split and split not in SPLITS:
            raise TrainerError(
                f"{manifest.name} line {line} has split {split!r}: use train, val, test or "
                "leave it empty"
            )
        if not (root / rel).is_file():
            missing.append((line, raw_path))
        labels.setdefault(rel, (label, line))
        extras.setdefault(rel, (group or None, split or None))
    if missing:
        line, raw_path = missing[0]
        raise TrainerError(
            f"{manifest.name}: {len(missing)} listed file(s) do not exist (first: line {line}, "
            f"{raw_path}); fix the paths (relative to the CSV's folder) or remove those rows"
        )
    if not labels:
        raise TrainerError(f"{manifest.name} lists no images: add rows of path,label")
    samples = [Sample(root / rel, rel, label, *extras[rel]) for rel, (label, _) in labels.items()]
    classes = sorted({label for label, _ in labels.values()})
    return root, sorted(samples, key=_by_rel), classes, []


def _read_manifest_rows(manifest: Path) -> list[ManifestRow]:
    """The manifest's rows, read by the contract's one strict reader; TrainerError if unusable."""
    try:
        return read_manifest(manifest).rows
    except ManifestError as exc:
        raise TrainerError(str(exc)) from exc


def _manifest_rel(root: Path, raw_path: str) -> str:
    """A manifest path as the split key: posix, relative to the CSV's folder when inside it.

    A manifest written on Windows separates folders with backslashes, but on POSIX a backslash
    is an ordinary character of a name, so the path is taken as written when that file exists and
    with backslashes as separators only when it does not.
    """
    if "\\" in raw_path and not (root / raw_path).is_file():
        raw_path = raw_path.replace("\\", "/")
    path = Path(os.path.normpath(root / raw_path))
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def keep_readable(samples: Sequence[Sample], image_size: int) -> tuple[list[Sample], list[Skipped]]:
    """Split samples into readable ones and skipped ones, decoding each exactly as training will."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(lambda s: _unreadable_reason(s, image_size), samples))
    readable = [sample for sample, reason in zip(samples, reasons, strict=True) if not reason]
    skipped = [
        Skipped(sample.rel, reason)
        for sample, reason in zip(samples, reasons, strict=True)
        if reason
    ]
    return readable, skipped


def _unreadable_reason(sample: Sample, image_size: int) -> str | None:
    try:
        decode_for_model(sample.path, image_size)
    except UnreadableImage as exc:
        return str(exc)
    return None


def _require_trainable(data: LabelledData, source: Path) -> None:
    """At least two classes, each with at least two readable images."""
    counts = Counter(sample.label for sample in data.samples)
    skipped = Counter(class_of_folder(item.what.split("/", 1)[0]) for item in data.skipped)
    for label in data.classes:
        if counts[label] < MIN_IMAGES_PER_CLASS:
            unreadable = f" ({skipped[label]} unreadable)" if skipped[label] else ""
            raise TrainerError(
                f"class '{label}' has {counts[label]} readable image(s){unreadable}; each class "
                f"needs at least {MIN_IMAGES_PER_CLASS}: add images to it or remove it"
            )
    if len(data.classes) < 2:
        raise TrainerError(
            f"{source} has only one class ({', '.join(data.classes)}); add a second class"
        )


def read_images(samples: Sequence[Sample], image_size: int) -> np.ndarray:
    """Decode samples into one float32 (N, size, size, 3) batch of RGB 0..255, as the app does."""
    arrays = [decode_for_model(sample.path, image_size) for sample in samples]
    batch = np.stack(arrays) if arrays else np.zeros((0, image_size, image_size, 3), np.uint8)
    return batch.astype(np.float32)


def tf_dataset(
    samples: Sequence[Sample],
    classes: Sequence[str],
    image_size: int,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> Any:
    """A batched tf.data pipeline of (float32 image, class index) decoded by ``decode_for_model``.

    TensorFlow is imported here, not at module level, so scanning and splitting work without it.
    Pixels come from the contract's numpy decode, so they are exactly what the app feeds the model.
    """
    import tensorflow as tf

    index = {name: i for i, name in enumerate(classes)}
    paths = [os.fsencode(sample.path) for sample in samples]  # bytes: any file name fits
    labels = np.array([index[sample.label] for sample in samples], dtype=np.int32)

    def decode(path: bytes) -> np.ndarray:
        return decode_for_model(os.fsdecode(path), image_size)

    def load(path: Any, label: Any) -> tuple[Any, Any]:
        image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        return tf.ensure_shape(image, (image_size, image_size, 3)), label

    def to_float(image: Any, label: Any) -> tuple[Any, Any]:
        return tf.cast(image, tf.float32), label

    def shuffled(ds: Any) -> Any:
        if shuffle_seed is None:
            return ds
        return ds.shuffle(len(samples), seed=shuffle_seed, reshuffle_each_iteration=True)

    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    cached = len(samples) * image_size * image_size * 3 <= CACHE_LIMIT_BYTES
    if cached:  # decode once, keep the uint8 pixels, reshuffle them every epoch
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
        ds = shuffled(ds)
    else:  # shuffle the paths, so the shuffle buffer never holds decoded images
        ds = shuffled(ds).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.map(to_float).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _by_rel(sample: Sample) -> str:
    return sample.rel


def _by_path(item: Skipped) -> str:
    return item.what
