"""The stable, stratified train / validation / test split.

Rule (documented in the README too):
  1. Each file gets a point u in [0, 1) from the SHA-1 of its path relative to DATA in posix
     form ("cats/2024/img_001.jpg"). u < 0.70 is train, u < 0.85 is val, the rest is test.
     Neither the seed, the label nor any other file takes part, so adding, removing or relabelling
     other files never moves a file, and later rounds are compared on the same test images.
  2. Tiny classes are repaired, one class at a time, so that a class with >= 2 files has a train
     and a val file and one with >= 5 files a test file too: while such a split is empty, the
     first empty one in the order test, val, train takes, from the class's files not moved yet,
     the one nearest its band in u (ties by path). A moved file never moves again, so a split is
     repaired at most once and then stays filled; a repair may take a split's last file, which
     that split's own repair then replaces (a class gets at most two repairs). So in a tiny class
     a train file can lie above a val file.
     Each repair takes the first file of a ranking that adding files never changes, so adding
     files moves only repaired files (back to their band or into another repair), except when
     the class reaches 2 or 5 files and a new repair picks among the existing files.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, path_from_cells, shown
from trainer.files import replacing

SPLITS = ("train", "val", "test")
TRAIN_FRACTION = 0.70
VAL_FRACTION = 0.15
MIN_FILES_FOR_TEST = 5
SPLIT_CSV_COLUMNS = ("path", "label", "split", PATH_BYTES_COLUMN)
# Each split's band of u, and the class size from which the repairs keep it non-empty, in the
# order the repairs run (any fixed order keeps the rule stable; this one is the documented one).
_BANDS = {
    "train": (0.0, TRAIN_FRACTION),
    "val": (TRAIN_FRACTION, TRAIN_FRACTION + VAL_FRACTION),
    "test": (TRAIN_FRACTION + VAL_FRACTION, 1.0),
}
_GUARANTEES = (("test", MIN_FILES_FOR_TEST), ("val", 2), ("train", 2))


def split_point(rel: str) -> float:
    """Where a file falls in [0, 1): the first 60 bits of SHA-1 of its posix relative path."""
    digest = hashlib.sha1(os.fsencode(rel)).hexdigest()  # UTF-8, and any name's exact bytes
    return int(digest[:15], 16) / float(16**15)


def base_split(rel: str) -> str:
    """The split a file gets from its path alone, before tiny classes are repaired."""
    point = split_point(rel)
    if point < TRAIN_FRACTION:
        return "train"
    if point < TRAIN_FRACTION + VAL_FRACTION:
        return "val"
    return "test"


def assign_splits(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map each (relative path, label) to its split, per the rule in this module's docstring."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for rel, label in items:
        by_class[label].append(rel)
    splits: dict[str, str] = {}
    for rels in by_class.values():
        splits.update(_class_splits(rels))
    return splits


def _class_splits(rels: list[str]) -> dict[str, str]:
    """One class's splits: the hash bands, then the repairs for empty splits.

    Ranking by distance to the band, not by which split a file sits in, is what keeps the choice
    stable: a file's rank never changes when files are added, so a repair only switches to a
    newcomer. Taking a split's last file is allowed because refusing it would make the choice
    depend on counts that change as files are added.
    """
    points = {rel: split_point(rel) for rel in rels}
    splits = {rel: base_split(rel) for rel in rels}
    guaranteed = [name for name, least in _GUARANTEES if len(rels) >= least]
    moved: set[str] = set()
    while empty := [name for name in guaranteed if name not in splits.values()]:
        low, high = _BANDS[empty[0]]
        pick = min(
            (rel for rel in rels if rel not in moved),
            key=lambda rel: (max(low - points[rel], points[rel] - high, 0.0), rel),
        )
        splits[pick] = empty[0]
        moved.add(pick)
    return splits


def write_split_csv(path: Path, rows: Iterable[tuple[str, str, str]]) -> None:
    """Write (path, label, split) rows, sorted by path, to ``path`` via a temporary file."""
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SPLIT_CSV_COLUMNS)
        for rel, label, split in sorted(rows):
            writer.writerow([shown(rel), label, split, path_bytes_cell(rel)])


def read_split_csv(path: Path) -> list[tuple[str, str, str]]:
    """The (path, label, split) rows of a run's split.csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            (path_from_cells(row["path"], row.get(PATH_BYTES_COLUMN)), row["label"], row["split"])
            for row in csv.DictReader(handle)
        ]
