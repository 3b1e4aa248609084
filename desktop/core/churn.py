"""Prediction churn between two model versions: what the new one fixed, broke and changed.

Accuracy alone hides churn: a new version can fix 30 images and break 25 others. The user sees
both, as id sets the grid can filter on, so a round of fixes can be checked image by image.
Predictions are compared by class NAME, because versions may order or grow their classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.core.prediction_cache import PredictionCache
from desktop.core.version_data import label_names, predicted_names

if TYPE_CHECKING:
    from desktop.core.store import Project


@dataclass(frozen=True)
class Churn:
    """Image ids grouped by how the new version's prediction differs from the old one's."""

    fixed: frozenset[int]
    """Labelled images the old version got wrong and the new one gets right."""
    broken: frozenset[int]
    """Labelled images the old version got right and the new one gets wrong."""
    changed: frozenset[int]
    """Unlabelled images whose predicted class changed."""
    compared: int
    """Images both versions predicted (the others are in no set)."""

    def summary(self) -> str:
        return (
            f"fixed {len(self.fixed)}, broke {len(self.broken)}, "
            f"changed {len(self.changed)} unlabelled predictions"
        )


def prediction_churn(
    old: Mapping[int, str], new: Mapping[int, str], labels: Mapping[int, str]
) -> Churn:
    """Compare two versions' predicted class names per image id against the user's labels.

    ``old`` and ``new`` map image id -> predicted class name; ``labels`` maps image id -> the
    user's class name for labelled images. Images only one version predicted are left out.
    """
    both = old.keys() & new.keys()
    fixed, broken, changed = set(), set(), set()
    for image_id in both:
        before, after = old[image_id], new[image_id]
        label = labels.get(image_id)
        if label is None:
            if before != after:
                changed.add(image_id)
        elif before != label and after == label:
            fixed.add(image_id)
        elif before == label and after != label:
            broken.add(image_id)
    return Churn(frozenset(fixed), frozenset(broken), frozenset(changed), len(both))


def churn_between(
    project: Project, old_model_id: int, new_model_id: int, cache: PredictionCache | None = None
) -> Churn:
    """Churn from one stored version to another, against the user's current labels.

    With a ``cache`` (holding the new version for the steps before) only the old version's class
    indices are read, not its embeddings."""
    new_rows = cache.predictions(project, new_model_id) if cache is not None else None
    return prediction_churn(
        predicted_names(project, old_model_id),
        predicted_names(project, new_model_id, new_rows),
        label_names(project),
    )
