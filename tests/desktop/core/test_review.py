"""Confident learning finds planted label errors, and bad input says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core.review import (
    ReviewError,
    confident_classes,
    find_label_issues,
    out_of_fold_probabilities,
    per_class_thresholds,
    review_queue,
)

CLASSES = ["cat", "dog", "fish", "bird"]


def _clusters(per_class: int = 25, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters standing in for cached backbone embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, size=(len(CLASSES), dim))
    truth = np.repeat(np.arange(len(CLASSES)), per_class)
    embeddings = centres[truth] + rng.normal(0.0, 1.0, size=(len(truth), dim))
    return embeddings.astype(np.float32), truth


def _plant_errors(truth: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    wrong = rng.choice(len(truth), size=count, replace=False)
    given = truth.copy()
    given[wrong] = (truth[wrong] + rng.integers(1, len(CLASSES), size=count)) % len(CLASSES)
    return given, wrong


def test_planted_wrong_labels_come_first() -> None:
    embeddings, truth = _clusters()
    given, wrong = _plant_errors(truth, count=5)
    ids = [1000 + i for i in range(len(truth))]
    labels = [CLASSES[i] for i in given]

    suspects = review_queue(ids, embeddings, labels, CLASSES)

    top10 = {s.image_id for s in suspects[:10]}
    planted = {1000 + int(i) for i in wrong}
    assert len(top10 & planted) >= 4
    first = suspects[0]
    assert first.image_id in planted
    row = first.image_id - 1000
    assert first.labelled == CLASSES[given[row]]
    assert first.looks_like == CLASSES[truth[row]]
    assert first.probability > first.self_confidence
    assert first.describe().startswith(f"labelled {first.labelled}, looks like {first.looks_like}")


def test_clean_labels_give_few_suspects() -> None:
    embeddings, truth = _clusters()
    suspects = review_queue(
        list(range(len(truth))), embeddings, [CLASSES[i] for i in truth], CLASSES
    )
    assert len(suspects) <= 2


def test_out_of_fold_rows_are_distributions() -> None:
    embeddings, truth = _clusters(per_class=10)
    probs = out_of_fold_probabilities(embeddings, truth, n_classes=5)
    assert probs.shape == (40, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs[:, 4] == 0).all()  # a class nobody labelled is never predicted


def test_confident_joint_by_hand() -> None:
    # Thresholds: class 0 = mean(0.9, 0.8, 0.3) = 0.667, class 1 = mean(0.9, 0.6) = 0.75.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.4, 0.6]])
    labels = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(per_class_thresholds(probs, labels), [2.0 / 3.0, 0.75])
    # Row 2: only p_1=0.7 < 0.75, so no confident class; row 4: nothing reaches either threshold.
    np.testing.assert_array_equal(confident_classes(probs, labels), [0, 0, -1, 1, -1])
    assert find_label_issues(probs, labels).tolist() == []

    # Now t_0 = mean(0.9, 0.3) = 0.6 and t_1 = mean(0.2, 0.9, 0.6) = 0.567. Row 1 (labelled 1)
    # is confidently 0 with margin 0.8 - 0.2; row 2 (labelled 0) is confidently 1, margin 0.4.
    labels_with_error = np.array([0, 1, 0, 1, 1])
    assert find_label_issues(probs, labels_with_error).tolist() == [1, 2]


def test_suspects_ranked_by_margin() -> None:
    probs = np.array([[0.9, 0.1], [0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.85, 0.15], [0.99, 0.01]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # t_0 = mean(0.9, 0.95, 0.6) = 0.817, t_1 = mean(0.9, 0.15, 0.01) = 0.353.
    # Margins: row 5 0.98, row 4 0.70, row 2 (confidently 1 since 0.4 >= 0.353) -0.2.
    assert find_label_issues(probs, labels).tolist() == [5, 4, 2]


@pytest.mark.parametrize(
    ("ids", "labels", "message"),
    [
        ([1, 2], ["cat"], "2 image ids but 1 labels"),
        ([1, 2], ["cat", "horse"], "not in the class list: horse"),
        ([1, 2, 3], ["cat", "cat", "cat"], "at least two classes"),
    ],
)
def test_bad_input_is_refused(ids: list[int], labels: list[str], message: str) -> None:
    embeddings = np.zeros((len(ids), 4), dtype=np.float32)
    with pytest.raises(ReviewError, match=message):
        review_queue(ids, embeddings, labels, CLASSES)


def test_non_finite_embeddings_are_refused() -> None:
    embeddings = np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    with pytest.raises(ReviewError, match="not finite"):
        review_queue([1, 2, 3, 4], embeddings, ["cat", "cat", "dog", "dog"], CLASSES)


def test_one_image_per_class_is_refused() -> None:
    with pytest.raises(ReviewError, match="at least two images of one class"):
        review_queue([1, 2], np.eye(2, dtype=np.float32), ["cat", "dog"], CLASSES)
