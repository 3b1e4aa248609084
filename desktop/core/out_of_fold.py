"""Out-of-fold class probabilities from cached embeddings: what confident learning reads.

A linear head is refitted k times, each time without one fold, so no image is scored by a head
that saw its own (possibly wrong) label. The fit is made cheap enough for 10,000 images in a few
seconds on 2 cores: embeddings are reduced to at most ``MAX_DIMS`` principal components (fitted on
all images without labels, so nothing about a held-out label leaks), and the softmax head is
regularised (``C``) so its probabilities are not the near-0/1 numbers an unregularised head gives
on separable embeddings, which hide the ranking confident learning relies on.

The linear head's probabilities are averaged with a leave-one-out vote of each image's nearest
neighbours (cosine, in the same reduced space): the two err on different images, and on the
benchmark's tuning images the blend ranks planted errors better than either alone (BENCHMARKS.md).
An image never votes for itself, so the vote is out of sample like the folds.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

DEFAULT_FOLDS = 5
MAX_DIMS = 64
C = 0.05
"""Inverse L2 strength on standardised components; chosen on the tuning images of
``benchmarks/label_errors.py`` (see BENCHMARKS.md), not on the images it reports."""
MAX_ITER = 300
NEIGHBOURS = 30
NEIGHBOUR_TEMPERATURE = 0.1
"""Votes weigh exp(cosine / T) relative to the nearest neighbour, so closer ones count more."""
NEIGHBOUR_WEIGHT = 0.5
"""Share of the neighbour vote in the blend; both chosen on the tuning images."""
NEIGHBOUR_SMOOTHING = 1e-3
CHUNK = 2048
POWER_ITERATIONS = 3
"""Randomized PCA's power iterations: sklearn's default 7 took twice as long on 10,000 x 1,280
embeddings for components the heads cannot tell apart."""
BLAS_THREADS = 1
"""The head's matrices are small (n x 64), so more BLAS threads only add waiting: on a busy
2-core machine, 1,000 products of 4000x64 by 64x10 took 34 s with OpenBLAS's 2 threads and
5.4 s with one."""


class ReviewError(ValueError):
    """The labelled set cannot be scored out of fold; the message says what to change."""


def out_of_fold_probabilities(
    embeddings: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    c: float = C,
    max_dims: int = MAX_DIMS,
) -> np.ndarray:
    """(n, n_classes) probabilities, each row from a head fitted without that image.

    ``labels`` are class indices in ``range(n_classes)``. A class absent from a fold's training
    part gets probability 0 in that fold, which is what a head that never saw it would say.
    """
    embeddings, labels = check_inputs(embeddings, labels, n_classes)
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        features = _reduce(embeddings, max_dims, seed)
    n_splits = _fold_count(labels, folds)
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        votes = neighbour_votes(features, labels, n_classes)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    with warnings.catch_warnings(), threadpool_limits(BLAS_THREADS, user_api="blas"):
        # Rare classes smaller than the fold count are expected in a user's first labels.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for train_idx, held_idx in splitter.split(features, labels):
            probs[held_idx] = _fit_and_predict(
                features[train_idx], labels[train_idx], features[held_idx], n_classes, c
            )
    return (1.0 - NEIGHBOUR_WEIGHT) * probs + NEIGHBOUR_WEIGHT * votes


def neighbour_votes(
    features: np.ndarray, labels: np.ndarray, n_classes: int, k: int = NEIGHBOURS
) -> np.ndarray:
    """(n, n_classes) leave-one-out vote of each image's ``k`` most similar other images.

    Classes nobody labelled get no vote (probability 0); the others a small floor, so a label
    no neighbour shares is very unlikely rather than impossible.
    """
    unit = features.astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True) + 1e-12
    n = len(unit)
    k = min(k, n - 1)
    votes = np.zeros((n, n_classes), dtype=np.float64)
    for start in range(0, n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, n))
        similarity = unit[rows] @ unit.T
        similarity[rows - start, rows] = -np.inf  # an image never votes for itself
        nearest = _top_k(similarity, k)
        closeness = np.take_along_axis(similarity, nearest, axis=1)
        weights = np.exp((closeness - closeness.max(axis=1, keepdims=True)) / NEIGHBOUR_TEMPERATURE)
        cells = rows[:, np.newaxis] * n_classes + labels[nearest]
        votes.ravel()[:] += np.bincount(cells.ravel(), weights.ravel(), minlength=votes.size)
    present = np.bincount(labels, minlength=n_classes) > 0
    votes[:, present] += NEIGHBOUR_SMOOTHING
    return votes / votes.sum(axis=1, keepdims=True)


def check_inputs(
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
    if len(np.unique(labels)) < 2:
        raise ReviewError("label images of at least two classes before reviewing labels")
    return embeddings, labels


def _top_k(similarity: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Column indices of each row's ``k`` largest values, in no particular order.

    A row's k largest values lie in the k blocks with the largest maxima, so selecting among
    those k * ``block`` candidates gives the same answer as ``argpartition`` over the whole row,
    several times faster on 10,000 columns.
    """
    rows, cols = similarity.shape
    blocks = -(-cols // block)
    if blocks <= k:
        return np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    padded = np.full((rows, blocks * block), -np.inf, dtype=similarity.dtype)
    padded[:, :cols] = similarity
    tiles = padded.reshape(rows, blocks, block)
    best = np.argpartition(-tiles.max(axis=2), k - 1, axis=1)[:, :k]
    candidates = np.take_along_axis(tiles, best[:, :, np.newaxis], axis=1).reshape(rows, -1)
    chosen = np.argpartition(-candidates, k - 1, axis=1)[:, :k]
    return best[np.arange(rows)[:, np.newaxis], chosen // block] * block + chosen % block


def _reduce(embeddings: np.ndarray, max_dims: int, seed: int) -> np.ndarray:
    """Unit-length rows, standardised and projected on at most ``max_dims`` principal components.

    Fitted without labels. Scaling each embedding to unit length first (cosine geometry) ranked
    planted errors better on the tuning images than raw embeddings. The components are not
    whitened: scaling a near-empty direction up to unit variance would give noise the same weight
    as the classes' real differences.
    """
    unit = embeddings / (np.linalg.norm(embeddings, axis=1, keepdims=True) + 1e-12)
    spread = unit.std(axis=0)
    features = (unit - unit.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    dims = min(max_dims, features.shape[1], len(features) - 1)
    if dims < features.shape[1]:
        pca = PCA(dims, svd_solver="randomized", iterated_power=POWER_ITERATIONS, random_state=seed)
        features = pca.fit_transform(features)
    return features


def _fold_count(labels: np.ndarray, folds: int) -> int:
    """As many folds as asked, but no more than the best-populated class can fill."""
    n_splits = min(folds, int(np.bincount(labels).max()))
    if n_splits < 2:
        raise ReviewError("label at least two images of one class before reviewing labels")
    return n_splits


def _fit_and_predict(
    train_x: np.ndarray, train_y: np.ndarray, held_x: np.ndarray, n_classes: int, c: float
) -> np.ndarray:
    probs = np.zeros((len(held_x), n_classes), dtype=np.float64)
    present = np.unique(train_y)
    if len(present) == 1:
        probs[:, present[0]] = 1.0
        return probs
    head = LogisticRegression(C=c, max_iter=MAX_ITER)
    with warnings.catch_warnings():
        # A few hundred iterations rank suspects well even when lbfgs has not fully converged.
        warnings.simplefilter("ignore", ConvergenceWarning)
        head.fit(train_x, train_y)
    probs[:, head.classes_] = head.predict_proba(held_x)
    return probs
