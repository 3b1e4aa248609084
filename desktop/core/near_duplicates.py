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

Library: scikit-learn's ``NearestNeighbors`` (BSD, already a dependency), brute force, exact, so
the measured threshold means the same on every project and there is no index to build, tune or
keep. faiss-cpu (MIT), hnswlib and usearch (Apache-2.0) are approximate indexes with compiled
wheels. Measured (benchmarks/near_duplicates.py, 1280-d, 2 shared cores): 35 s at 10,000
embeddings, 4.4 min at 30,000; the cost grows with n², so 100,000 would be ~45 min, past what a
background job should take: that is where an approximate index (hnswlib, the smallest of them)
should replace the brute-force query behind this same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

if TYPE_CHECKING:
    from desktop.core.store import Project

DEFAULT_THRESHOLD = 0.985
"""Cosine similarity from which an image and its nearest neighbour count
as one picture; measured in benchmarks/near_duplicates.py."""
NEIGHBOURS = 1
"""Nearest neighbours each image may link to."""


class NearDuplicatesError(Exception):
    """The cached embeddings cannot be compared; the message says what to do."""


def near_duplicate_groups(
    ids: Sequence[int], embeddings: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> list[list[int]]:
    """Groups (two or more ids each) whose embeddings are near-duplicates, transitively.

    ``embeddings`` is (n, d), row i belonging to ``ids[i]``. Groups are sorted by their smallest
    id and hold their ids in ascending order, so the answer does not depend on the input order.
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
    unit = normalize(vectors)
    _, component = connected_components(_links(unit, threshold), directed=False)
    members: dict[int, list[int]] = {}
    for image_id, group in zip(ids, component, strict=True):
        members.setdefault(int(group), []).append(int(image_id))
    groups = [sorted(group) for group in members.values() if len(group) > 1]
    return sorted(groups, key=lambda group: group[0])


def _links(unit: np.ndarray, threshold: float) -> csr_matrix:
    """Sparse (n, n) graph: each row's nearest other rows at cosine similarity >= threshold."""
    n = len(unit)
    k = min(NEIGHBOURS + 1, n)  # + 1: a row is usually its own nearest
    finder = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(unit)
    distance, index = finder.kneighbors(unit)
    radius = float(np.sqrt(max(0.0, 2.0 - 2.0 * threshold)))  # unit vectors: r² = 2 - 2 cos
    rows = np.repeat(np.arange(n), k)
    cols, dist = index.ravel(), distance.ravel()
    keep = (cols != rows) & (dist <= radius + 1e-6)
    keep &= _first_others(index, NEIGHBOURS).ravel()
    return csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))


def _first_others(index: np.ndarray, count: int) -> np.ndarray:
    """Mask of each row's first ``count`` neighbours that are not the row itself (with identical
    embeddings the row itself need not come first)."""
    others = index != np.arange(len(index))[:, None]
    return others & (np.cumsum(others, axis=1) <= count)


def project_near_duplicates(
    project: Project, model_id: int | None = None, threshold: float = DEFAULT_THRESHOLD
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
    return near_duplicate_groups(ids, np.stack(rows), threshold)
