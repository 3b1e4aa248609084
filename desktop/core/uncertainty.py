"""Where the model hesitates: what to label next, and which images it should not force into a class.

Labels help most where the model hesitates between two classes, so "label next" orders the
unlabelled images by the margin between their top two probabilities. "None of these" needs a
confidence threshold; we calibrate it on the validation split (images the model never trained on)
as the lowest confidence at which the predictions it keeps still reach a target precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from desktop.core.prediction_cache import PredictionCache, predictions_of
from desktop.core.version_data import (
    VersionDataError,
    current_or,
    label_names,
    predicted_names,
    split_image_ids,
)

if TYPE_CHECKING:
    from desktop.core.store import Project

DEFAULT_TARGET_PRECISION = 0.95


class CalibrationError(ValueError):
    """The validation predictions cannot calibrate a threshold; the message says why."""


@dataclass(frozen=True)
class Calibration:
    """A confidence threshold and what it achieved on the validation split."""

    threshold: float
    """Predictions with confidence below this go to "uncertain"."""
    target_precision: float
    precision: float
    """Precision of the kept validation predictions (NaN when none are kept)."""
    coverage: float
    """Fraction of validation images kept (confidence >= threshold)."""
    reached: bool
    """False when no threshold reaches the target: then every image is uncertain."""


def top2_margin(probs: np.ndarray) -> np.ndarray:
    """p_best - p_second per row; 1.0 for a single-class model (nothing to hesitate between)."""
    probs = _as_probs(probs)
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def label_next(
    image_ids: Sequence[int], margins: Sequence[float] | np.ndarray, limit: int | None = None
) -> list[int]:
    """Unlabelled image ids, smallest top-2 margin first (ties keep the given order).

    ``margins`` come from ``top2_margin`` or from the margins the store keeps per prediction.
    """
    margins = np.asarray(margins, dtype=np.float64)
    if len(image_ids) != len(margins):
        raise ValueError(f"{len(image_ids)} image ids but {len(margins)} margins")
    order = np.argsort(margins, kind="stable")
    if limit is not None:
        order = order[:limit]
    return [int(image_ids[i]) for i in order]


def calibrate_threshold(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    cache: PredictionCache | None = None,
) -> Calibration:
    """The lowest confidence threshold whose kept validation predictions reach the precision.

    ``confidence`` is each validation image's best probability and ``correct`` whether that
    prediction matches its label. Lowest, so that as few images as possible are called
    uncertain while the ones the model does claim are right ``target_precision`` of the time.
    """
    if not 0.0 < target_precision <= 1.0:
        raise CalibrationError(f"target precision must be in (0, 1], got {target_precision}")
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if len(confidence) != len(correct):
        raise CalibrationError(
            f"{len(confidence)} validation predictions but {len(correct)} labels"
        )
    if len(confidence) == 0:
        raise CalibrationError("no labelled validation images: label more images, then train")
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    # Precision of "keep the k most confident", for every k; only k at the end of a run of equal
    # confidences is a threshold we can actually apply.
    kept = np.arange(1, len(confidence) + 1)
    precision = np.cumsum(correct) / kept
    cut_allowed = np.append(confidence[1:] < confidence[:-1], True)
    good = np.flatnonzero(cut_allowed & (precision >= target_precision))
    if len(good) == 0:
        return Calibration(
            threshold=float(np.nextafter(confidence[0], np.inf)),
            target_precision=target_precision,
            precision=float("nan"),
            coverage=0.0,
            reached=False,
        )
    k = int(good[-1])
    return Calibration(
        threshold=float(confidence[k]),
        target_precision=target_precision,
        precision=float(precision[k]),
        coverage=float(kept[k] / len(confidence)),
        reached=True,
    )


def uncertain_ids(
    image_ids: Sequence[int], confidence: Sequence[float] | np.ndarray, threshold: float
) -> set[int]:
    """Ids for the "uncertain" filter: the best class is below the threshold ("none of these")."""
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    if len(image_ids) != len(confidence):
        raise ValueError(f"{len(image_ids)} image ids but {len(confidence)} confidences")
    return {int(i) for i, c in zip(image_ids, confidence, strict=True) if c < threshold}


def label_next_in_project(
    project: Project,
    model_id: int | None = None,
    limit: int | None = None,
    cache: PredictionCache | None = None,
) -> list[int]:
    """Unlabelled images of a project a version hesitates on most, from its stored margins."""
    labelled = label_names(project, readable_only=False)
    predictions = predictions_of(project, current_or(project, model_id), cache)
    ids = [image_id for image_id in predictions if image_id not in labelled]
    return label_next(ids, [predictions[i].margin for i in ids], limit)


def calibrate_version(
    project: Project,
    model_id: int | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    cache: PredictionCache | None = None,
) -> Calibration:
    """Calibrate on the version's validation split, scored against the user's current labels."""
    model_id = current_or(project, model_id)
    try:
        val_ids = split_image_ids(project, model_id, "val")
    except VersionDataError as exc:
        raise CalibrationError(str(exc)) from exc
    labels = label_names(project)
    predictions = predictions_of(project, model_id, cache)
    predicted = predicted_names(project, model_id, predictions)
    scored = [i for i in val_ids if i in labels and i in predicted]
    return calibrate_threshold(
        [predictions[i].confidence for i in scored],
        [predicted[i] == labels[i] for i in scored],
        target_precision,
    )


def _as_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D array (images x classes), got {probs.shape}")
    return probs
