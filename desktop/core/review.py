"""The review queue: labelled images whose label the model confidently disagrees with.

Out-of-fold probabilities come from a linear head refitted k times over the cached embeddings, so
no image is scored by a head that saw its own (possibly wrong) label. Confident learning
(Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR
2021) then flags the images that fall off the diagonal of the confident joint. We implement it
here rather than depend on cleanlab, which is AGPL.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from desktop.core.version_data import current_or, labelled_embeddings

if TYPE_CHECKING:
    from desktop.core.store import Project

DEFAULT_FOLDS = 5


class ReviewError(ValueError):
    """The labelled set cannot be reviewed; the message says what to change."""


@dataclass(frozen=True)
class Suspect:
    """One likely label error: "labelled A, looks like B (p)"."""

    image_id: int
    labelled: str
    looks_like: str
    probability: float
    """Out-of-fold probability of ``looks_like``."""
    self_confidence: float
    """Out-of-fold probability of the label the user gave."""

    @property
    def margin(self) -> float:
        """How much more the model believes the suggestion than the label; the ranking key."""
        return self.probability - self.self_confidence

    def describe(self) -> str:
        return f"labelled {self.labelled}, looks like {self.looks_like} ({self.probability:.0%})"


def out_of_fold_probabilities(
    embeddings: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> np.ndarray:
    """(n, n_classes) probabilities, each row from a head fitted without that image.

    ``labels`` are class indices in ``range(n_classes)``. A class absent from a fold's training
    part gets probability 0 in that fold, which is what a head that never saw it would say.
    """
    embeddings, labels = _check_inputs(embeddings, labels, n_classes)
    n_splits = _fold_count(labels, folds)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    with warnings.catch_warnings():
        # Rare classes smaller than the fold count are expected in a user's first labels.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for train_idx, held_idx in splitter.split(embeddings, labels):
            probs[held_idx] = _fit_and_predict(
                embeddings[train_idx], labels[train_idx], embeddings[held_idx], n_classes
            )
    return probs


def per_class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j = mean p_j over the images labelled j: how sure the model is of class j on average.

    A class nobody labelled gets an unreachable threshold, so it is never suggested.
    """
    n_classes = probs.shape[1]
    thresholds = np.full(n_classes, np.inf)
    for j in range(n_classes):
        members = labels == j
        if members.any():
            thresholds[j] = probs[members, j].mean()
    return thresholds


def confident_classes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, the class it confidently belongs to, or -1 when no class reaches its threshold.

    This is the row assignment of the confident joint: among the classes j with p_j >= t_j, the
    most probable one.
    """
    thresholds = per_class_thresholds(probs, labels)
    above = probs >= thresholds[np.newaxis, :]
    masked = np.where(above, probs, -np.inf)
    best = masked.argmax(axis=1)
    return np.where(above.any(axis=1), best, -1)


def find_label_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of images off the confident joint's diagonal, most suspicious first.

    Ranked by normalized margin (p_suggested - p_given), then by lower self-confidence.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confident = confident_classes(probs, labels)
    issues = np.flatnonzero((confident >= 0) & (confident != labels))
    suggested = confident[issues]
    given = labels[issues]
    self_confidence = probs[issues, given]
    margin = probs[issues, suggested] - self_confidence
    order = np.lexsort((self_confidence, -margin))
    return issues[order]


def review_queue(
    image_ids: Sequence[int],
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> list[Suspect]:
    """Suspected label errors among labelled images, most suspicious first.

    ``labels[i]`` is the user's class name for ``image_ids[i]``; ``classes`` fixes the class
    order (every label must be in it).
    """
    if len(image_ids) != len(labels):
        raise ReviewError(f"{len(image_ids)} image ids but {len(labels)} labels")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({name for name in labels if name not in index})
    if unknown:
        raise ReviewError(f"labels not in the class list: {', '.join(unknown)}")
    label_idx = np.array([index[name] for name in labels], dtype=np.int64)
    probs = out_of_fold_probabilities(embeddings, label_idx, len(classes), folds, seed)
    suggested = confident_classes(probs, label_idx)
    return [
        Suspect(
            image_id=int(image_ids[i]),
            labelled=classes[label_idx[i]],
            looks_like=classes[suggested[i]],
            probability=float(probs[i, suggested[i]]),
            self_confidence=float(probs[i, label_idx[i]]),
        )
        for i in find_label_issues(probs, label_idx)
    ]


def review_project(
    project: Project, model_id: int | None = None, folds: int = DEFAULT_FOLDS
) -> list[Suspect]:
    """The review queue for a project, from one version's cached embeddings (default: current)."""
    data = labelled_embeddings(project, current_or(project, model_id))
    classes = [record.name for record in project.classes()]
    return review_queue(data.image_ids, data.embeddings, data.labels, classes, folds)


def _check_inputs(
    embeddings: np.ndarray, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ReviewError(
            f"need one embedding row per labelled image: got embeddings of shape "
            f"{embeddings.shape} for {len(labels)} labels"
        )
    if not np.isfinite(embeddings).all():
        raise ReviewError("some cached embeddings are not finite numbers: reclassify the images")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ReviewError(f"label indices must lie in 0..{n_classes - 1}")
    present = np.unique(labels)
    if len(present) < 2:
        raise ReviewError("label images of at least two classes before reviewing labels")
    return embeddings, labels


def _fold_count(labels: np.ndarray, folds: int) -> int:
    """As many folds as asked, but no more than the best-populated class can fill."""
    largest = int(np.bincount(labels).max())
    n_splits = min(folds, largest)
    if n_splits < 2:
        raise ReviewError("label at least two images of one class before reviewing labels")
    return n_splits


def _fit_and_predict(
    train_x: np.ndarray, train_y: np.ndarray, held_x: np.ndarray, n_classes: int
) -> np.ndarray:
    probs = np.zeros((len(held_x), n_classes), dtype=np.float64)
    present = np.unique(train_y)
    if len(present) == 1:
        probs[:, present[0]] = 1.0
        return probs
    scaler = StandardScaler().fit(train_x)
    head = LogisticRegression(max_iter=500)
    with warnings.catch_warnings():
        # A few hundred iterations rank suspects well even when lbfgs has not fully converged.
        warnings.simplefilter("ignore", ConvergenceWarning)
        head.fit(scaler.transform(train_x), train_y)
    probs[:, head.classes_] = head.predict_proba(scaler.transform(held_x))
    return probs
