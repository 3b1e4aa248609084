"""The review queue: labelled images whose label looks wrong, most suspicious first.

Out-of-fold probabilities (``out_of_fold``) feed confident learning (``confident_learning``),
which flags the images and estimates how many of each class's labels are wrong. What the user
sees next to a suspect is NOT the out-of-fold head's number but the version's own probability for
the suggestion, the one the preview shows for that image, so the two never disagree. The window
(``review_project``) and ``python -m desktop review`` both end in ``review_queue``; both feed it
images in path order, so the same images, labels and model give the same queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from desktop.core.confident_learning import (
    PruneMethod,
    RankMethod,
    find_label_issues,
    suggestion_for,
)
from desktop.core.out_of_fold import DEFAULT_FOLDS, ReviewError, out_of_fold_probabilities
from desktop.core.prediction_cache import PredictionCache, predictions_of
from desktop.core.records import PredictionRow
from desktop.core.version_data import current_or, labelled_embeddings

if TYPE_CHECKING:
    from desktop.core.store import Project

__all__ = ["ClassNoise", "ReviewError", "ReviewResult", "Suspect", "review_project", "review_queue"]

DEFAULT_PRUNE: PruneMethod = "low_self_confidence"
DEFAULT_RANK: RankMethod = "self_confidence"
"""Chosen by ``benchmarks/label_errors.py`` on images it was not tuned on (BENCHMARKS.md)."""


@dataclass(frozen=True)
class Suspect:
    """One likely label error: "labelled A, looks like B (v3: 63.0 %)"."""

    image_id: int
    labelled: str
    looks_like: str
    probability: float | None
    """The version's own probability of ``looks_like`` (what the preview shows), or None when it
    is not among the top-k the version stored for the image (then it is below ``below``)."""
    self_confidence: float
    """Out-of-fold probability of the given label: confident learning's ranking score."""
    model_id: int | None = None
    below: float | None = None

    def describe(self) -> str:
        version = f"v{self.model_id}: " if self.model_id is not None else ""
        if self.probability is not None:
            shown = f"{self.probability:.1%}"
        elif self.below is not None:
            shown = f"under {self.below:.1%}"
        else:
            shown = "no probability stored"
        return f"labelled {self.labelled}, looks like {self.looks_like} ({version}{shown})"


@dataclass(frozen=True)
class ClassNoise:
    """Confident learning's estimate of how many of one class's labels are wrong."""

    name: str
    rate: float
    labelled: int

    def describe(self) -> str:
        return f"about {self.rate:.0%} of '{self.name}' labels look wrong"


@dataclass(frozen=True)
class ReviewResult:
    """The queue for one version, the per-class noise estimate, and what was left out."""

    suspects: list[Suspect]
    noise: list[ClassNoise]
    model_id: int | None = None
    settled: int = 0
    """Flagged images left out because the user answered for the label they still have."""
    missing: int = 0
    """Labelled images left out because the version has no embedding of them yet."""
    flagged: list[Suspect] = field(default_factory=list, repr=False)
    """Every flagged image, settled ones included (for exports and tests)."""

    def noise_summary(self, limit: int = 3) -> str:
        """The noisiest classes in one sentence, e.g. "About 4 % of 'cat' labels look wrong"."""
        noisy = sorted((c for c in self.noise if c.rate > 0), key=lambda c: -c.rate)[:limit]
        if not noisy:
            return "No class's labels look noisy."
        text = "; ".join(c.describe() for c in noisy)
        return text[0].upper() + text[1:] + "."


def review_queue(
    image_ids: Sequence[int],
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    predictions: Mapping[int, PredictionRow] | None = None,
    model_classes: Sequence[str] = (),
    model_id: int | None = None,
    settled: frozenset[int] | set[int] = frozenset(),
    prune: PruneMethod = DEFAULT_PRUNE,
    rank: RankMethod = DEFAULT_RANK,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> ReviewResult:
    """Suspected label errors among labelled images, most suspicious first.

    ``labels[i]`` is the class name given to ``image_ids[i]`` and must be in ``classes``. Rows
    are taken in the order given (callers sort by path, see ``path_order``). ``predictions`` and
    ``model_classes`` are the version's stored top-k and its class names: they give the numbers
    shown. Images in ``settled`` are answered already and left out of the queue.
    """
    if len(image_ids) != len(labels):
        raise ReviewError(f"{len(image_ids)} image ids but {len(labels)} labels")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ReviewError(f"labels not in the class list: {', '.join(unknown)}")
    names = sorted(set(labels))  # the same indices whatever order the caller lists classes in
    index = {name: i for i, name in enumerate(names)}
    label_idx = np.array([index[name] for name in labels], dtype=np.int64)
    probs = out_of_fold_probabilities(embeddings, label_idx, len(names), folds, seed)
    issues = find_label_issues(probs, label_idx, prune, rank)
    suggested = suggestion_for(probs, label_idx, issues)
    shown = _ShownProbability(predictions or {}, model_classes)
    flagged = []
    for row in issues.order:
        image_id, looks_like = int(image_ids[row]), names[suggested[row]]
        probability, below = shown(image_id, looks_like)
        given = names[label_idx[row]]
        self_confidence = float(probs[row, label_idx[row]])
        flagged.append(
            Suspect(image_id, given, looks_like, probability, self_confidence, model_id, below)
        )
    counts = np.bincount(label_idx, minlength=len(names))
    noise = [
        ClassNoise(name, float(issues.noise_rates[i]), int(counts[i]))
        for i, name in enumerate(names)
    ]
    queue = [s for s in flagged if s.image_id not in settled]
    return ReviewResult(queue, noise, model_id, len(flagged) - len(queue), 0, flagged)


class _ShownProbability:
    """The version's stored probability of a class for an image, as the preview shows it."""

    def __init__(self, predictions: Mapping[int, PredictionRow], model_classes: Sequence[str]):
        self.predictions = predictions
        self.index = {name.casefold(): i for i, name in enumerate(model_classes)}

    def __call__(self, image_id: int, name: str) -> tuple[float | None, float | None]:
        row = self.predictions.get(image_id)
        wanted = self.index.get(name.casefold())
        if row is None or wanted is None or not row.topk:
            return None, None
        for index, probability in row.topk:
            if index == wanted:
                return float(probability), None
        return None, float(min(p for _, p in row.topk))


def path_order(paths: Sequence[str]) -> list[int]:
    """Positions of ``paths`` in sorted order: the row order both callers give ``review_queue``."""
    return sorted(range(len(paths)), key=lambda i: paths[i])


def review_project(
    project: Project,
    model_id: int | None = None,
    *,
    prune: PruneMethod = DEFAULT_PRUNE,
    rank: RankMethod = DEFAULT_RANK,
    cache: PredictionCache | None = None,
) -> ReviewResult:
    """The review queue of one version (default: current) from its cached embeddings."""
    model_id = current_or(project, model_id)
    predictions = predictions_of(project, model_id, cache)
    data = labelled_embeddings(project, model_id, cache)
    paths = {row.id: row.path for row in project.image_rows(model_id, ids=data.image_ids)}
    order = path_order([paths[i] for i in data.image_ids])
    result = review_queue(
        [data.image_ids[i] for i in order],
        data.embeddings[order],
        [data.labels[i] for i in order],
        [record.name for record in project.classes()],
        predictions=predictions,
        model_classes=project.version_class_names(model_id),
        model_id=model_id,
        settled=project.settled_image_ids(),
        prune=prune,
        rank=rank,
    )
    return ReviewResult(
        result.suspects, result.noise, model_id, result.settled, data.missing, result.flagged
    )
