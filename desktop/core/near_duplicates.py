"""Near-duplicates: resized, recompressed or slightly cropped copies of one picture, found from the
embeddings the classifier already cached (no second decode of any image).

Rule: embeddings are L2-normalised; each image is linked to its nearest neighbour when their
cosine similarity is at least the threshold, and groups are the connected components of those
links (what a union-find gives; scipy's ``connected_components`` does it on the sparse graph),
so copies of copies stay in one group. Why not "every pair above a threshold": a classifier's
embedding is mostly about the class, so two different shirts can be closer than a shirt and its
5 % crop, and the transitive closure of all such pairs chains whole classes together. Measured
on the sample model (BENCHMARKS.md, "Near-duplicates"), the nearest-neighbour rule keeps nearly
all grouped pairs right at the recall where the all-pairs rule gets most of them wrong.
(Centring the embeddings first helped a little more, but in a small project the mean is the
copies' own mean, and two copies of one picture then point in opposite directions.)

Search: exact, by float32 matrix products of the normalised embeddings in blocks of rows, each
block keeping only its rows' best other row (top-1). That is what the rule needs and nothing more:
no index to build, tune or keep, the same answer on every project, so the measured threshold means
the same everywhere, and memory bounded by the block (about 64 MB). scikit-learn's brute-force
``NearestNeighbors`` (the first version) finds the same neighbours through float64 distance
chunks and a partial sort per row, and takes about twice as long (benchmarks/near_duplicates.py
times both in one run: 1.6 s against 3.3 s at 10,000 1280-d embeddings; the 35 s measured
before was the same scikit-learn code at the lowest CPU priority on a busy machine).
The cost still grows with n²; past about 100,000 images an approximate index (hnswlib, Apache-2.0,
the smallest of faiss-cpu/hnswlib/usearch) would replace ``nearest_others`` behind this module.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from desktop.core.cancel import Cancel, Interrupted, is_cancelled

if TYPE_CHECKING:
    from desktop.core.store import Project

DEFAULT_THRESHOLD = 0.985
"""Cosine similarity from which an image and its nearest neighbour count
as one picture; measured in benchmarks/near_duplicates.py."""
BLOCK_BYTES = 64 * 2**20
"""Memory for one block of similarities (rows x all images, float32)."""


class NearDuplicatesError(Exception):
    """The cached embeddings cannot be compared; the message says what to do."""


log = logging.getLogger(__name__)


def near_duplicate_groups(
    ids: Sequence[int],
    embeddings: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    cancel: Cancel = None,
) -> list[list[int]]:
    """Groups (two or more ids each) whose embeddings are near-duplicates, transitively.

    ``embeddings`` is (n, d), row i belonging to ``ids[i]``. Groups are sorted by their smallest
    id and hold their ids in ascending order, so the answer does not depend on the input order.
    Raises ``Interrupted`` when ``cancel`` is set (checked between blocks, each well under 1 s).
    """
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise NearDuplicatesError(
            f"expected one embedding row per image ({len(ids)}), got an array of {vectors.shape}"
        )
    if not -1.0 <= threshold <= 1.0:
        raise NearDuplicatesError(
            f"the threshold is a cosine similarity in [-1, 1], not {threshold}"
        )
    if len(ids) < 2:
        return []
    unit = _normalised(vectors)
    nearest, similarity = nearest_others(unit, cancel)
    linked = np.flatnonzero(similarity >= np.float32(threshold) - np.float32(1e-6))
    n = len(unit)
    graph = csr_matrix((np.ones(len(linked)), (linked, nearest[linked])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for image_id, group in zip(ids, component, strict=True):
        members.setdefault(int(group), []).append(int(image_id))
    groups = [sorted(group) for group in members.values() if len(group) > 1]
    return sorted(groups, key=lambda group: group[0])


def nearest_others(unit: np.ndarray, cancel: Cancel = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``unit`` (unit-length float32 rows), the index of its most similar other
    row and that cosine similarity; exact, computed a block of rows at a time."""
    n = len(unit)
    block = max(1, min(n, BLOCK_BYTES // (4 * n)))
    nearest = np.empty(n, dtype=np.int64)
    similarity = np.empty(n, dtype=np.float32)
    for start in range(0, n, block):
        if is_cancelled(cancel):
            raise Interrupted
        rows = np.arange(start, min(n, start + block))
        scores = unit[rows] @ unit.T
        scores[np.arange(len(rows)), rows] = -np.inf  # a row is not its own neighbour
        best = np.argmax(scores, axis=1)
        nearest[rows] = best
        similarity[rows] = scores[np.arange(len(rows)), best]
    return nearest, similarity


def _normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero: similar to nothing)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def project_near_duplicates(
    project: Project,
    model_id: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    cancel: Cancel = None,
) -> list[list[int]]:
    """Near-duplicate groups among a project's images with a cached embedding from ``model_id``
    (default: the current model); images not yet classified by it are left out."""
    model_id = model_id if model_id is not None else project.current_model_id()
    if model_id is None:
        raise NearDuplicatesError("there is no model yet: open or train one, then classify")
    cached = {i: p.embedding for i, p in project.predictions(model_id).items() if p.embedding}
    ids = sorted(cached)
    rows = [np.frombuffer(cached[i], dtype=np.float32) for i in ids]
    if len({row.shape for row in rows}) > 1:
        raise NearDuplicatesError(
            "the cached embeddings have different sizes: reclassify the images with one model"
        )
    if not rows:
        return []
    return near_duplicate_groups(ids, np.stack(rows), threshold, cancel)


def embeddings_stamp(conn: sqlite3.Connection, model_id: int) -> tuple[object, ...]:
    """What changes when images are (re)classified by ``model_id``: the key under which the
    project remembers its groups, so only the first caller pays for the search."""
    return conn.execute(
        "SELECT count(*), total(image_id), total(confidence), total(margin) FROM predictions "
        "WHERE model_id = ? AND embedding IS NOT NULL",
        (model_id,),
    ).fetchone()
