"""The stable, stratified train / validation / test split, decided per group of identical files.

Rule (documented in the README too):
  0. Files are grouped by content: each file's group is its content key (``trainer.identity``,
     size and BLAKE2b of its bytes) unless the manifest names a ``group`` (the app passes its
     duplicate groups). Every file of a group gets the group's split, so an image and its copy
     are never one in train and one in test, and moving or renaming files changes nothing.
  1. Each group gets a point u in [0, 1) from the SHA-1 of its key. u < 0.70 is train, u < 0.85
     is val, the rest is test. Neither the seed, the label nor any other group takes part, so
     adding, removing or relabelling other files never moves a group, and later rounds are
     compared on the same test images. A group may be locked to a split (the manifest's
     ``split`` column: projects whose models were trained under the old path-based split keep
     their test images there); a locked group never moves, and when its files name different
     locked splits, test wins over val over train.
  2. Tiny classes are repaired, one class at a time (in name order), so that a class with >= 2
     groups has a train and a val group and one with >= 5 groups a test group too: while such a
     split is empty, the first empty one in the order test, val, train takes, from the class's
     groups not moved (nor locked) yet, the one nearest its band in u (ties by key). A moved group
     never moves again, so a split is repaired at most once and then stays filled; a repair may
     take a split's last group, which that split's own repair then replaces (a class gets at most
     two repairs). So in a tiny class a train group can lie above a val group.
     Each repair takes the first group of a ranking that adding files never changes, so adding
     files moves only repaired groups (back to their band or into another repair), except when
     the class reaches 2 or 5 groups and a new repair picks among the existing ones.
  Without groups (``assign_splits`` called with paths only) each path is its own group, keyed by
  the path: the rule the trainer used before content keys.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, path_from_cells, shown
from trainer.files import replacing
from trainer.run_folder import GROUPS_FILE as GROUPS_FILE  # the run folder's names live there
from trainer.run_folder import SPLIT_FILE as SPLIT_FILE

SPLITS = ("train", "val", "test")
TRAIN_FRACTION = 0.70
VAL_FRACTION = 0.15
MIN_FILES_FOR_TEST = 5
SPLIT_CSV_COLUMNS = ("path", "label", "split", PATH_BYTES_COLUMN)
GROUPS_CSV_COLUMNS = ("path", "group", PATH_BYTES_COLUMN)
_PRIORITY = {"test": 0, "val": 1, "train": 2}
"""When a group's files name different locked splits, the first of these wins."""
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


def assign_splits(
    items: Iterable[tuple[str, str]],
    groups: Mapping[str, str] | None = None,
    locked: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Map each (relative path, label) to its split, per the rule in this module's docstring.

    ``groups`` maps a path to its group key (a path absent from it is its own group); ``locked``
    maps a path to a split its group must keep.
    """
    by_class: dict[str, list[str]] = defaultdict(list)
    for rel, label in items:
        by_class[label].append(rel)
    group_of = {rel: (groups or {}).get(rel, rel) for rels in by_class.values() for rel in rels}
    split_of = {key: base_split(key) for key in group_of.values()}
    moved = set()
    for key, split in _locked_groups(group_of, locked or {}).items():
        split_of[key] = split
        moved.add(key)
    for label in sorted(by_class):
        keys = sorted({group_of[rel] for rel in by_class[label]})
        _repair_class(keys, split_of, moved)
    return {rel: split_of[key] for rel, key in group_of.items()}


def _locked_groups(group_of: Mapping[str, str], locked: Mapping[str, str]) -> dict[str, str]:
    """Each locked group's split: test over val over train when its files disagree."""
    splits: dict[str, str] = {}
    for rel, split in locked.items():
        if split not in _PRIORITY or rel not in group_of:
            continue
        key = group_of[rel]
        if key not in splits or _PRIORITY[split] < _PRIORITY[splits[key]]:
            splits[key] = split
    return splits


def _repair_class(keys: list[str], split_of: dict[str, str], moved: set[str]) -> None:
    """Fill one class's empty splits from its groups (``keys``), in place.

    Ranking by distance to the band, not by which split a group sits in, is what keeps the choice
    stable: a group's rank never changes when files are added, so a repair only switches to a
    newcomer. Taking a split's last group is allowed because refusing it would make the choice
    depend on counts that change as files are added.
    """
    guaranteed = [name for name, least in _GUARANTEES if len(keys) >= least]
    while empty := [name for name in guaranteed if name not in {split_of[k] for k in keys}]:
        candidates = [key for key in keys if key not in moved]
        if not candidates:
            return  # every group is locked or already repaired (for another class too)
        low, high = _BANDS[empty[0]]
        pick = min(
            candidates,
            key=lambda key: (max(low - split_point(key), split_point(key) - high, 0.0), key),
        )
        split_of[pick] = empty[0]
        moved.add(pick)


def merged_groups(groups: Mapping[str, str]) -> dict[str, int]:
    """How many groups hold more than one file, and how many files they hold, for the report."""
    sizes = Counter(groups.values())
    merged = [n for n in sizes.values() if n > 1]
    return {"groups_merged": len(merged), "files_in_merged_groups": sum(merged)}


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


def write_groups_csv(path: Path, groups: Mapping[str, str]) -> None:
    """Write (path, group) rows, sorted by path, to ``path`` via a temporary file."""
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GROUPS_CSV_COLUMNS)
        for rel, group in sorted(groups.items()):
            writer.writerow([shown(rel), group, path_bytes_cell(rel)])


def read_groups_csv(path: Path) -> dict[str, str]:
    """path -> group key from a run's groups.csv; empty when the run has none (older runs)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            path_from_cells(row["path"], row.get(PATH_BYTES_COLUMN)): row["group"]
            for row in csv.DictReader(handle)
        }
