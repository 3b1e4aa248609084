"""Near-duplicate groups from embeddings: planted copies are found, distinct images are not, and
copies of copies stay in one group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.core.near_duplicates import (
    DEFAULT_THRESHOLD,
    NearDuplicatesError,
    near_duplicate_groups,
    project_near_duplicates,
)
from desktop.core.records import PredictionRow
from desktop.core.store import Project


def planted(
    n_distinct: int, copies: dict[int, int], dim: int = 64, noise: float = 0.01, seed: int = 0
) -> tuple[np.ndarray, dict[int, list[int]]]:
    """Random (nearly orthogonal) embeddings, then ``copies[i]`` noisy copies of row i; returns
    the rows and, per planted original, the row numbers of its group."""
    rng = np.random.default_rng(seed)
    rows = [row for row in rng.standard_normal((n_distinct, dim))]
    truth = {i: [i] for i in copies}
    for i, count in copies.items():
        for _ in range(count):
            truth[i].append(len(rows))
            rows.append(rows[i] + noise * np.linalg.norm(rows[i]) * rng.standard_normal(dim))
    return np.stack(rows).astype(np.float32), truth


def test_planted_copies_form_their_groups_and_nothing_else_is_grouped() -> None:
    embeddings, truth = planted(300, {3: 1, 50: 3, 299: 2})
    ids = [1000 + i for i in range(len(embeddings))]
    groups = near_duplicate_groups(ids, embeddings)
    assert groups == sorted([1000 + i for i in members] for members in truth.values())


def test_the_answer_does_not_depend_on_the_input_order() -> None:
    embeddings, truth = planted(100, {1: 2, 7: 1})
    order = np.random.default_rng(1).permutation(len(embeddings))
    shuffled = near_duplicate_groups([int(i) for i in order], embeddings[order])
    assert shuffled == near_duplicate_groups(list(range(len(embeddings))), embeddings)
    assert shuffled == sorted(truth.values())


def test_copies_of_copies_are_one_group_even_when_the_ends_are_far_apart() -> None:
    """A chain a - b - c, each step inside the threshold, a and c outside it: one group."""
    rng = np.random.default_rng(2)
    others = rng.standard_normal((50, 3)) * [1, 1, 0]  # in the x-y plane, far from the chain
    step = np.arccos(DEFAULT_THRESHOLD) * 0.9
    chain = np.array([[0, np.sin(k * step), np.cos(k * step)] for k in range(3)])
    assert float(chain[0] @ chain[2]) < DEFAULT_THRESHOLD
    groups = near_duplicate_groups(list(range(53)), np.vstack([others, chain]))
    assert [50, 51, 52] in groups


def test_identical_embeddings_are_one_group() -> None:
    rng = np.random.default_rng(3)
    same = np.repeat(rng.standard_normal((1, 16)), 5, axis=0)
    embeddings = np.vstack([rng.standard_normal((20, 16)), same])
    assert near_duplicate_groups(list(range(25)), embeddings) == [[20, 21, 22, 23, 24]]


def test_bad_input_is_refused_with_a_message() -> None:
    with pytest.raises(NearDuplicatesError, match="one embedding row per image"):
        near_duplicate_groups([1, 2, 3], np.zeros((2, 4)))
    with pytest.raises(NearDuplicatesError, match="cosine similarity"):
        near_duplicate_groups([1, 2], np.zeros((2, 4)), threshold=2.0)
    assert near_duplicate_groups([1], np.ones((1, 4))) == []


def test_a_project_groups_its_cached_embeddings(tmp_path: Path) -> None:
    embeddings, truth = planted(30, {4: 2})
    paths = [tmp_path / f"{i}.png" for i in range(len(embeddings))]
    for path in paths:
        path.write_bytes(b"")
    with Project.open(tmp_path / "p.pigeonhole") as project:
        ids = project.add_images(paths)
        model = project.add_model(tmp_path / "m.onnx", {"classes": ["a", "b"]})
        rows = [
            PredictionRow(image_id, 0, 0.9, [(0, 0.9)], row.tobytes())
            for image_id, row in zip(ids, embeddings, strict=True)
        ]
        project.set_predictions(model, rows)
        assert project_near_duplicates(project) == [[ids[i] for i in truth[4]]]
