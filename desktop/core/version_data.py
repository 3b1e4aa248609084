"""What one model version knows about the project's images, as plain arrays and maps.

Review, active selection, churn, evaluation and quick retrain are pure functions over numpy
arrays; this module is their one thin adapter to the store. Predictions are kept per model with
the MODEL's class index, so they are turned into class NAMES here, which is what lets versions
with different class lists be compared.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop.core.prediction_cache import PredictionCache, predictions_of
from trainer.run_folder import GROUPS_FILE, HISTORY_FILE, SPLIT_FILE

if TYPE_CHECKING:
    from desktop.core.records import PredictionRow
    from desktop.core.store import Project


class VersionDataError(ValueError):
    """The project lacks what a step needs (a model, predictions, embeddings)."""


@dataclass(frozen=True)
class LabelledEmbeddings:
    """Labelled, readable images that have a cached embedding from one model."""

    image_ids: list[int]
    embeddings: np.ndarray  # (n, d) float32
    labels: list[str]
    missing: int
    """Labelled images left out because this model has no embedding for them yet."""


def label_names(project: Project, *, readable_only: bool = True) -> dict[int, str]:
    """image id -> the user's class name, for (readable) labelled images."""
    names = {record.id: record.name for record in project.classes()}
    return {
        row.id: names[row.label_id]
        for row in project.image_rows()
        if row.label_id is not None and (row.status == "ok" or not readable_only)
    }


def predicted_names(
    project: Project, model_id: int, rows: Mapping[int, PredictionRow] | None = None
) -> dict[int, str]:
    """image id -> the class name the model predicted, as the grid shows it (from ``rows`` when
    already loaded): a renamed class has its new name, so it still matches the labels."""
    classes = project.version_class_names(model_id)
    if rows is None:
        indices = project.predicted_classes(model_id)  # the names need no embeddings
    else:
        indices = {image_id: row.class_index for image_id, row in rows.items()}
    return {
        image_id: classes[index] for image_id, index in indices.items() if 0 <= index < len(classes)
    }


def labelled_embeddings(
    project: Project, model_id: int, cache: PredictionCache | None = None
) -> LabelledEmbeddings:
    """The labelled images' cached embeddings from ``model_id``, ready for a linear head."""
    labels = label_names(project)
    predictions = predictions_of(project, model_id, cache)
    ids = [i for i in labels if predictions.get(i) is not None and predictions[i].embedding]
    if not ids:
        raise VersionDataError(
            "no labelled image has a cached embedding from this model: classify the labelled "
            "images with it first"
        )
    rows = [np.frombuffer(predictions[i].embedding, dtype=np.float32) for i in ids]
    if len({len(row) for row in rows}) != 1:
        raise VersionDataError(
            "the cached embeddings have different sizes: reclassify the images with one model"
        )
    return LabelledEmbeddings(
        image_ids=ids,
        embeddings=np.stack(rows),
        labels=[labels[i] for i in ids],
        missing=len(labels) - len(ids),
    )


def current_or(project: Project, model_id: int | None) -> int:
    """``model_id``, or the project's current model; a clear error when there is none."""
    chosen = model_id if model_id is not None else project.current_model_id()
    if chosen is None:
        raise VersionDataError("open or train a model first")
    return chosen


def split_image_ids(project: Project, model_id: int, split: str) -> list[int]:
    """Ids of the images the model's training run put in ``split`` (train, val or test).

    Read from the run's split.csv next to the model file. Paths in it are absolute when the app
    trained the model (its manifest lists absolute paths); relative ones are resolved against the
    data folder recorded in history.json. A path the project no longer knows (the file moved) is
    found by its content key from the run's groups.csv, so a moved test image stays a test image.
    """
    from trainer.split import read_groups_csv, read_split_csv

    model_path = Path(project.model(model_id).path)
    split_csv = model_path.parent / SPLIT_FILE
    if not split_csv.is_file():
        raise VersionDataError(
            f"this version ({model_path.name}) was not trained in this app, or its run folder "
            "lost its split file, so it has no validation or test images of its own; train a "
            "version here (Model → Train…) to get them"
        )
    root = data_root_of(model_path.parent)
    rels = [rel for rel, _, where in read_split_csv(split_csv) if where == split]
    paths = [absolute_split_path(rel, root) for rel in rels]
    found = project.image_ids_by_path(paths)
    ids = [found[p] for p in paths if p in found]
    lost = [rel for rel, path in zip(rels, paths, strict=True) if path not in found]
    if lost:
        groups = read_groups_csv(model_path.parent / GROUPS_FILE)
        keys = [groups[rel] for rel in lost if rel in groups]
        by_key = project.image_ids_by_content(keys)
        ids += [i for key in dict.fromkeys(keys) for i in by_key.get(key, [])]
    return list(dict.fromkeys(ids))


def data_root_of(run_dir: Path) -> Path | None:
    """The data folder a trainer run recorded in its history.json (None when unknown)."""
    try:
        history = json.loads((run_dir / HISTORY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    root = history.get("data_root") if isinstance(history, dict) else None
    return Path(root) if isinstance(root, str) else None


def absolute_split_path(path: str, root: Path | None) -> str:
    """A split.csv path as the absolute path the project stores."""
    candidate = Path(path)
    if candidate.is_absolute():
        return os.path.abspath(candidate)
    if root is None:
        raise VersionDataError(
            f"split.csv lists {path} relative to a data folder that history.json does not name"
        )
    return os.path.abspath(root / candidate)
