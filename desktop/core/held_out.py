"""Which labelled images fit a quick-retrained head, which calibrate it, which score it.

A quick retrain must be scored like a full training: on the locked test images, which no head
was fitted on. The split is the source version's split.csv; images labelled since get the split
the next full training will give them (the trainer's own rule over the project's manifest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from desktop.core.version_data import LabelledEmbeddings, VersionDataError, split_image_ids
from trainer.split import SPLITS, assign_splits, base_split

if TYPE_CHECKING:
    from desktop.core.store import Project


@dataclass(frozen=True)
class HeldOut:
    """Which labelled rows fit the head, which calibrate it, which score it (index arrays)."""

    fit: np.ndarray
    calibrate: np.ndarray
    test: np.ndarray

    @classmethod
    def from_splits(cls, splits: Sequence[str]) -> HeldOut:
        """train and val fit the head, val also fits the temperature, test only scores."""
        where = np.asarray(splits)
        return cls(
            fit=np.flatnonzero((where == "train") | (where == "val")),
            calibrate=np.flatnonzero(where == "val"),
            test=np.flatnonzero(where == "test"),
        )

    @classmethod
    def everything(cls, n: int) -> HeldOut:
        """No split: fit on all, calibrate and score on nothing."""
        return cls(np.arange(n), np.zeros(0, np.int64), np.zeros(0, np.int64))


def locked_splits(project: Project, model_id: int, data: LabelledEmbeddings) -> dict[int, str]:
    """image id -> train/val/test: the version's split.csv, else the trainer's own rule.

    Images the split does not list (labelled since) get the split the next full training will
    give them: the trainer's rule over the project's manifest (content groups, locked splits).
    """
    found: dict[int, str] = {}
    for split in SPLITS:
        try:
            found |= {image_id: split for image_id in split_image_ids(project, model_id, split)}
        except VersionDataError:
            break
    rows = project.training_rows()
    ruled = assign_splits(
        ((path, label) for path, label, _, _ in rows),
        groups={path: group for path, _, group, _ in rows if group},
        locked={path: split for path, _, _, split in rows if split},
    )
    rest = {i: path for i, path, _ in paths_of(project, data) if i not in found}
    return found | {i: ruled.get(path) or base_split(path) for i, path in rest.items()}


def split_rows(project: Project, splits: dict[int, str]) -> list[tuple[str, str, str]]:
    """split.csv rows for every image the split knows, labelled or not, so it stays whole."""
    names = {record.id: record.name for record in project.classes()}
    return [
        (row.path, names.get(row.label_id, "") if row.label_id is not None else "", splits[row.id])
        for row in project.image_rows(ids=splits)
    ]


def paths_of(project: Project, data: LabelledEmbeddings) -> list[tuple[int, str, str]]:
    paths = {row.id: row.path for row in project.image_rows(ids=data.image_ids)}
    return [(i, paths[i], label) for i, label in zip(data.image_ids, data.labels, strict=True)]
