"""Export the labelled images in the folder layouts other ML tools read without a script.

* Hugging Face ``imagefolder``: ``train/<class>/``, ``validation/<class>/``, ``test/<class>/``;
  ``datasets.load_dataset("imagefolder", data_dir=...)`` takes the split from the top folder and
  the label from the class folder.
* ImageNet style (torchvision ``ImageFolder``, Keras ``image_dataset_from_directory``):
  ``train/<class>/`` and ``val/<class>/``; our train and validation images go to ``train`` and
  our test images to ``val``, so a model trained elsewhere is scored on our test images.

Each image goes to the split the project gives it: the current version's split.csv for the images
it was trained and scored on, the trainer's own rule (content groups, locked splits) for the rest;
so the test images are the ones every Pigeonhole version is scored on. Copying (or linking) is
``folders_export``'s: sources are never changed and nothing in the destination is overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.cancel import Cancel
from desktop.core.errors import ExportError
from desktop.core.folders_export import (
    Progress,
    check_mode,
    copy_all,
    folder_names,
    prepare_destination,
)
from desktop.core.records import ExportSummary, Skipped
from desktop.core.safe_copy import Folder
from desktop.core.version_data import VersionDataError, split_image_ids
from trainer.split import SPLITS, assign_splits, base_split

if TYPE_CHECKING:
    from desktop.core.store import Project

LAYOUTS: dict[str, dict[str, str]] = {
    "huggingface": {"train": "train", "val": "validation", "test": "test"},
    "imagenet": {"train": "train", "val": "train", "test": "val"},
}
"""Our split -> the top folder each layout puts it in."""
LAYOUT_NAMES = {"huggingface": "Hugging Face imagefolder", "imagenet": "ImageNet-style folders"}


def project_splits(project: Project) -> dict[str, tuple[str, str]]:
    """path -> (class name, train/val/test) for every labelled image a training run would use."""
    rows = project.training_rows()
    ruled = assign_splits(
        ((path, label) for path, label, _, _ in rows),
        groups={path: group for path, _, group, _ in rows if group},
        locked={path: split for path, _, _, split in rows if split},
    )
    version = _version_splits(project)
    return {
        path: (label, version.get(path) or ruled.get(path) or base_split(path))
        for path, label, _, _ in rows
    }


def _version_splits(project: Project) -> dict[str, str]:
    """path -> split from the current version's split.csv; empty when it has none."""
    model_id = project.current_model_id()
    if model_id is None:
        return {}
    ids: dict[int, str] = {}
    for split in SPLITS:
        try:
            ids |= {image_id: split for image_id in split_image_ids(project, model_id, split)}
        except VersionDataError:
            return {}
    return {row.path: ids[row.id] for row in project.image_rows(ids=list(ids))}


def export_split_folders(
    project: Project,
    destination: str | os.PathLike[str],
    layout: str,
    *,
    mode: str = "copy",
    cancel: Cancel = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Copy (or link) each labelled image into ``destination/<split folder>/<class>/``.

    The summary counts per "split folder/class". Labelled images that are unreadable, missing
    or marked as duplicates are left out, as training leaves them out; the unreadable ones are
    listed in the summary with their reason.
    """
    if layout not in LAYOUTS:
        raise ExportError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.")
    check_mode(mode)
    root = prepare_destination(Path(destination))
    splits = project_splits(project)
    tops = LAYOUTS[layout]
    classes = folder_names(sorted({label for label, _ in splits.values()}))
    items = [(path, f"{tops[split]}/{label}") for path, (label, split) in splits.items()]
    wanted = sorted({(tops[split], label) for label, split in splits.values()})
    with Folder.root(root) as top:
        opened: list[Folder] = []
        try:
            folders = _open_folders(top, wanted, classes, opened)
            summary = copy_all(root, items, _unreadable(project), folders, mode, cancel, progress)
        finally:
            for folder in reversed(opened):
                folder.close()
    return summary


def _open_folders(
    top: Folder, wanted: list[tuple[str, str]], classes: dict[str, str], opened: list[Folder]
) -> dict[str, Folder]:
    """ "split/class" -> its open folder, every one made before anything is copied. Only folders
    that get images are made: torchvision's ImageFolder refuses an empty class folder."""
    parents: dict[str, Folder] = {}
    folders: dict[str, Folder] = {}
    for split_folder, class_name in wanted:
        if split_folder not in parents:
            parents[split_folder] = top.subfolder(split_folder)
            opened.append(parents[split_folder])
        folder = parents[split_folder].subfolder(classes[class_name])
        opened.append(folder)
        folder.remove_leftovers()
        folders[f"{split_folder}/{class_name}"] = folder
    return folders


def _unreadable(project: Project) -> list[Skipped]:
    return [
        Skipped(row.path, f"{row.status}: {row.error or 'no reason given'}")
        for row in project.image_rows()
        if row.label_id is not None and row.status != "ok"
    ]
