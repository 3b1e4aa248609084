"""Confident learning as the paper gives it: which given labels are wrong, and how many per class.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR
70 (2021). From out-of-fold probabilities ``probs`` (n, k) and the given labels:

1. per-class thresholds t_j: the mean p_j over the images labelled j (section 3.1);
2. the confident joint C[i, j]: images labelled i whose most probable class among those reaching
   their threshold is j (eq. 1);
3. calibrated so that each row sums to the number of images labelled i and the whole to n
   (eq. 2); C / n then estimates the joint of given and true labels, and a row's off-diagonal
   share is that class's noise rate;
4. pruning (section 3.2): by noise rate (for every off-diagonal cell, the C[i, j] images labelled
   i with the largest margin p_j - p_i), by class (the n_i - C[i, i] images labelled i with the
   lowest p_i), or both; "off-diagonal" (C_confusion in the paper) takes the confident joint's
   own off-diagonal images; "low_self_confidence" (cleanlab's ``filter_by`` of that name) takes
   the N least self-confident images over all classes, N lying a third of the way from the
   UNcalibrated confident joint's off-diagonal count (those the argmax also disputes; cleanlab's
   default ``num_label_issues``) to the calibrated one. Images whose argmax is their given label
   are never flagged;
5. ranking the flagged images by self-confidence p_given or normalized margin
   p_given - max_{j != given} p_j, lowest (most suspicious) first.

Written here from the paper rather than depending on cleanlab, which is AGPL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PruneMethod = Literal[
    "prune_by_noise_rate", "prune_by_class", "both", "off_diagonal", "low_self_confidence"
]
RankMethod = Literal["self_confidence", "normalized_margin"]
PRUNE_METHODS: tuple[PruneMethod, ...] = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "off_diagonal",
    "low_self_confidence",
)
RANK_METHODS: tuple[RankMethod, ...] = ("self_confidence", "normalized_margin")


@dataclass(frozen=True)
class LabelIssues:
    """What confident learning found: flagged rows, most suspicious first, and the noise rates."""

    order: np.ndarray
    """Row indices of the images whose label looks wrong, most suspicious first."""
    suggested: np.ndarray
    """(n,) per image, the class it confidently belongs to (-1: none reaches its threshold)."""
    quality: np.ndarray
    """(n,) the ranking score, lower = more likely a wrong label."""
    joint: np.ndarray
    """(k, k) calibrated confident joint in image counts: rows given label, columns true."""
    noise_rates: np.ndarray
    """(k,) estimated share of each class's given labels that are wrong (NaN: nobody labelled)."""


def per_class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j = mean p_j over the images labelled j: how sure the model is of class j on average.

    A class nobody labelled gets an unreachable threshold, so it is never suggested.
    """
    n_classes = probs.shape[1]
    counts = np.bincount(labels, minlength=n_classes)
    sums = np.zeros(n_classes)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def confident_classes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, the most probable class among those reaching their threshold, or -1."""
    thresholds = per_class_thresholds(probs, labels)
    above = probs >= thresholds[np.newaxis, :] - 1e-9
    masked = np.where(above, probs, -np.inf)
    return np.where(above.any(axis=1), masked.argmax(axis=1), -1)


def confident_joint(probs: np.ndarray, labels: np.ndarray, suggested: np.ndarray) -> np.ndarray:
    """C[i, j]: images labelled i counted confidently as j (before calibration)."""
    n_classes = probs.shape[1]
    counted = suggested >= 0
    joint = np.zeros((n_classes, n_classes))
    np.add.at(joint, (labels[counted], suggested[counted]), 1.0)
    return joint


def calibrate_joint(joint: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows rescaled to the given label counts (eq. 2), as whole numbers that keep each row's sum.

    A labelled class with no confident image keeps all its images on the diagonal: with no
    evidence either way, none of its labels is called wrong.
    """
    n_classes = joint.shape[0]
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    rows = joint.sum(axis=1)
    scaled = np.zeros_like(joint)
    empty = rows == 0
    scaled[~empty] = joint[~empty] / rows[~empty, np.newaxis] * counts[~empty, np.newaxis]
    scaled[empty, empty] = counts[empty]
    return _round_keeping_rows(scaled, counts)


def _round_keeping_rows(matrix: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of each row, so counts stay whole and rows keep their totals."""
    floors = np.floor(matrix)
    short = (totals - floors.sum(axis=1)).round().astype(int)
    remainders = matrix - floors
    for row, missing in enumerate(short):
        if missing > 0:
            floors[row, np.argsort(-remainders[row], kind="stable")[:missing]] += 1
    return floors


def noise_rates(joint: np.ndarray) -> np.ndarray:
    """Share of each given label that the calibrated joint puts off the diagonal."""
    rows = joint.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, 1.0 - np.diag(joint) / rows, np.nan)


def label_quality(probs: np.ndarray, labels: np.ndarray, method: RankMethod) -> np.ndarray:
    """Per image, how believable its given label is (lower: more likely wrong)."""
    given = probs[np.arange(len(labels)), labels]
    if method == "self_confidence":
        return given
    if method == "normalized_margin":
        others = probs.copy()
        others[np.arange(len(labels)), labels] = -np.inf
        return given - others.max(axis=1)
    raise ValueError(f"unknown ranking {method!r}; choose one of {', '.join(RANK_METHODS)}")


def prune_by_noise_rate(probs: np.ndarray, labels: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """For each off-diagonal cell (i, j), the joint[i, j] images labelled i most like j."""
    flagged = np.zeros(len(labels), dtype=bool)
    for i, j in zip(*np.nonzero(joint), strict=True):
        if i == j:
            continue
        members = np.flatnonzero(labels == i)
        margin = probs[members, j] - probs[members, i]
        flagged[members[np.argsort(-margin, kind="stable")[: int(joint[i, j])]]] = True
    return flagged


def prune_by_class(probs: np.ndarray, labels: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """For each class i, the n_i - joint[i, i] images labelled i with the lowest p_i."""
    flagged = np.zeros(len(labels), dtype=bool)
    for i in range(joint.shape[0]):
        members = np.flatnonzero(labels == i)
        wrong = len(members) - int(joint[i, i])
        if wrong > 0:
            flagged[members[np.argsort(probs[members, i], kind="stable")[:wrong]]] = True
    return flagged


def prune_by_self_confidence(
    probs: np.ndarray, labels: np.ndarray, suggested: np.ndarray, joint: np.ndarray
) -> np.ndarray:
    """The N least self-confident images whose argmax is not their label, over all classes."""
    disputed = probs.argmax(axis=1) != labels
    candidates = np.flatnonzero(disputed)
    count = self_confidence_count(disputed, labels, suggested, joint)
    given = probs[candidates, labels[candidates]]
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[candidates[np.argsort(given, kind="stable")[:count]]] = True
    return flagged


CALIBRATED_SHARE = 1 / 3
"""How far N moves from the uncalibrated count toward the calibrated one; chosen on the tuning
images of ``benchmarks/label_errors.py`` (10 % uniform noise, 3 seeds, both embeddings): 0 left
recall at 0.949; 1/2 left precision at 0.553-0.562, just over the 0.55 floor; 1/3 gave precision
0.579-0.585 at recall 0.959-0.960."""


def self_confidence_count(
    disputed: np.ndarray, labels: np.ndarray, suggested: np.ndarray, joint: np.ndarray
) -> int:
    """How many images ``low_self_confidence`` flags: between the two off-diagonal counts.

    The uncalibrated joint's off-diagonal images the argmax also disputes undercount: an error
    no class is confident about is not counted. Calibration scales each row up by the images no
    class is confident about, which mostly adds the head's own confusions, so the calibrated
    count overshoots; N lies ``CALIBRATED_SHARE`` of the way from the first to the second.
    """
    uncalibrated = int((disputed & (suggested >= 0) & (suggested != labels)).sum())
    calibrated = int(joint.sum() - np.trace(joint))
    return uncalibrated + round(max(calibrated - uncalibrated, 0) * CALIBRATED_SHARE)


def find_label_issues(
    probs: np.ndarray,
    labels: np.ndarray,
    prune: PruneMethod = "prune_by_noise_rate",
    rank: RankMethod = "self_confidence",
) -> LabelIssues:
    """Confident learning on out-of-fold ``probs`` (n, k) and given ``labels`` (n,) in 0..k-1."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    suggested = confident_classes(probs, labels)
    joint = calibrate_joint(confident_joint(probs, labels, suggested), labels)
    if prune == "prune_by_noise_rate":
        flagged = prune_by_noise_rate(probs, labels, joint)
    elif prune == "prune_by_class":
        flagged = prune_by_class(probs, labels, joint)
    elif prune == "both":
        flagged = prune_by_noise_rate(probs, labels, joint) & prune_by_class(probs, labels, joint)
    elif prune == "off_diagonal":
        flagged = (suggested >= 0) & (suggested != labels)
    elif prune == "low_self_confidence":
        flagged = prune_by_self_confidence(probs, labels, suggested, joint)
    else:
        raise ValueError(f"unknown pruning {prune!r}; choose one of {', '.join(PRUNE_METHODS)}")
    flagged &= probs.argmax(axis=1) != labels
    quality = label_quality(probs, labels, rank)
    rows = np.flatnonzero(flagged)
    order = rows[np.argsort(quality[rows], kind="stable")]
    suggested = np.where(suggested == labels, -1, suggested)
    return LabelIssues(order, suggested, quality, joint, noise_rates(joint))


def suggestion_for(probs: np.ndarray, labels: np.ndarray, issues: LabelIssues) -> np.ndarray:
    """The class to offer for each flagged image: its confident class, else its argmax.

    Pruning by noise rate or by class can flag an image no other class is confident about; the
    most probable class other than the given one is then the best guess.
    """
    others = np.asarray(probs, dtype=np.float64).copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return np.where(issues.suggested >= 0, issues.suggested, others.argmax(axis=1))
