"""The review queue as it was before issue 13, kept in behaviour as the benchmark's baseline.

Out-of-fold probabilities from an unregularised-ish logistic head (C=1, standardised raw
embeddings, 500 iterations); the confident joint's off-diagonal images, not calibrated and not
pruned, ranked by margin p_suggested - p_given. See ``git show 348a110:desktop/core/review.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler


def old_out_of_fold(
    embeddings: np.ndarray, labels: np.ndarray, n_classes: int, folds: int = 5, seed: int = 0
) -> np.ndarray:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = np.zeros((len(labels), n_classes))
    for train_idx, held_idx in splitter.split(embeddings, labels):
        scaler = StandardScaler().fit(embeddings[train_idx])
        head = LogisticRegression(max_iter=500)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            head.fit(scaler.transform(embeddings[train_idx]), labels[train_idx])
        probs[np.ix_(held_idx, head.classes_)] = head.predict_proba(
            scaler.transform(embeddings[held_idx])
        )
    return probs


def old_find_label_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Off-diagonal images of the uncalibrated confident joint, by margin, then self-confidence."""
    n_classes = probs.shape[1]
    thresholds = np.full(n_classes, np.inf)
    for j in range(n_classes):
        members = labels == j
        if members.any():
            thresholds[j] = probs[members, j].mean()
    above = probs >= thresholds[np.newaxis, :]
    confident = np.where(above.any(axis=1), np.where(above, probs, -np.inf).argmax(axis=1), -1)
    issues = np.flatnonzero((confident >= 0) & (confident != labels))
    self_confidence = probs[issues, labels[issues]]
    margin = probs[issues, confident[issues]] - self_confidence
    return issues[np.lexsort((self_confidence, -margin))]


def old_review(embeddings: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Flagged rows, most suspicious first, exactly as the old ``review_queue`` ordered them."""
    return old_find_label_issues(old_out_of_fold(embeddings, labels, n_classes), labels)
