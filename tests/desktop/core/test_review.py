"""Confident learning finds planted label errors, and bad input says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core.confident_learning import (
    PRUNE_METHODS,
    calibrate_joint,
    confident_classes,
    confident_joint,
    find_label_issues,
    label_quality,
    per_class_thresholds,
    self_confidence_count,
    suggestion_for,
)
from desktop.core.out_of_fold import neighbour_votes, out_of_fold_probabilities
from desktop.core.records import PredictionRow
from desktop.core.review import ReviewError, review_queue

CLASSES = ["cat", "dog", "fish", "bird"]


def _clusters(per_class: int = 60, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian clusters standing in for cached backbone embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.6, size=(len(CLASSES), dim))
    truth = np.repeat(np.arange(len(CLASSES)), per_class)
    embeddings = centres[truth] + rng.normal(0.0, 1.0, size=(len(truth), dim))
    return embeddings.astype(np.float32), truth


def _plant_errors(truth: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    wrong = rng.choice(len(truth), size=count, replace=False)
    given = truth.copy()
    given[wrong] = (truth[wrong] + rng.integers(1, len(CLASSES), size=count)) % len(CLASSES)
    return given, wrong


def test_planted_wrong_labels_lead_the_queue() -> None:
    embeddings, truth = _clusters()
    given, wrong = _plant_errors(truth, count=12)
    ids = [1000 + i for i in range(len(truth))]

    result = review_queue(ids, embeddings, [CLASSES[i] for i in given], CLASSES)

    planted = {1000 + int(i) for i in wrong}
    top = [s.image_id for s in result.suspects[: len(planted)]]
    # The default (low_self_confidence) flags few false alarms and may leave the hardest
    # planted errors out; pruning by class finds nearly all of them at more false alarms.
    assert len(set(top) & planted) >= 9, (top, sorted(planted))
    assert len(result.suspects) - len(set(top) & planted) <= 2
    by_class = review_queue(ids, embeddings, [CLASSES[i] for i in given], CLASSES,
                            prune="prune_by_class")  # fmt: skip
    assert len({s.image_id for s in by_class.suspects} & planted) >= 10
    for suspect in result.suspects:
        row = suspect.image_id - 1000
        assert suspect.labelled == CLASSES[given[row]]
        if suspect.image_id in planted:
            assert suspect.looks_like == CLASSES[truth[row]]
    scores = [s.self_confidence for s in result.suspects]
    assert scores == sorted(scores)  # most suspicious (least self-confident) first


def test_noise_rate_per_class_is_estimated() -> None:
    embeddings, truth = _clusters(per_class=100)
    given = truth.copy()
    rng = np.random.default_rng(4)
    cats = np.flatnonzero(truth == 0)
    turned = rng.choice(cats, size=20, replace=False)
    given[turned] = 1  # 20 cats labelled dog: 20 of the 120 "dog" labels are wrong
    result = review_queue(range(len(truth)), embeddings, [CLASSES[i] for i in given], CLASSES)
    rates = {c.name: c.rate for c in result.noise}
    # Truth is 20 / 120 = 0.17; confident learning counts only confident images, so it may
    # undercount, but the noisy class must stand out from the clean ones.
    assert 0.06 <= rates["dog"] <= 0.3, rates
    assert all(rate <= 0.03 for name, rate in rates.items() if name != "dog"), rates
    assert result.noise_summary().startswith(f"About {rates['dog']:.0%} of 'dog' labels")


def test_clean_labels_give_few_suspects() -> None:
    embeddings, truth = _clusters(per_class=40, seed=2)
    result = review_queue(list(range(len(truth))), embeddings, [CLASSES[i] for i in truth], CLASSES)
    assert len(result.suspects) <= len(truth) * 0.05


def test_out_of_fold_rows_are_distributions() -> None:
    embeddings, truth = _clusters(per_class=10)
    probs = out_of_fold_probabilities(embeddings, truth, n_classes=5)
    assert probs.shape == (40, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs[:, 4] == 0).all()  # a class nobody labelled is never predicted


PROBS = np.array(
    [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.4, 0.6], [0.85, 0.15], [0.2, 0.8]]
)


def test_confident_joint_and_its_calibration_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    # t_0 = mean(0.9, 0.8, 0.3) = 0.667; t_1 = mean(0.9, 0.6, 0.15, 0.8) = 0.6125.
    np.testing.assert_allclose(per_class_thresholds(PROBS, labels), [2 / 3, 0.6125])
    suggested = confident_classes(PROBS, labels)
    assert suggested.tolist() == [0, 0, 1, 1, -1, 0, 1]  # row 4: 0.6 < 0.6125, nothing
    joint = confident_joint(PROBS, labels, suggested)
    np.testing.assert_array_equal(joint, [[2, 1], [1, 2]])
    # Row 1 counts 3 of its 4 images: scaled to [1.33, 2.67] and rounded keeping the sum 4.
    np.testing.assert_array_equal(calibrate_joint(joint, labels), [[2, 1], [1, 3]])
    issues = find_label_issues(PROBS, labels)
    assert sorted(issues.order.tolist()) == [2, 5]
    np.testing.assert_allclose(issues.noise_rates, [1 / 3, 1 / 4])


def test_calibration_rescales_rows_to_the_label_counts() -> None:
    joint = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    labels = np.array([0] * 6 + [1] * 3 + [2] * 2)
    calibrated = calibrate_joint(joint, labels)
    np.testing.assert_array_equal(calibrated, [[3, 3, 0], [0, 3, 0], [0, 0, 2]])
    assert calibrated.sum() == len(labels)


def test_self_confidence_count_lies_a_third_of_the_way_to_the_calibrated_count() -> None:
    # Labels 0,0,0,1,1,1: row 1 is confidently 1 (uncalibrated off-diagonal, argmax agrees);
    # calibration moves three more images of class 1 off the diagonal.
    labels = np.array([0, 0, 0, 1, 1, 1])
    suggested = np.array([0, 1, -1, 1, 0, -1])
    disputed = np.array([False, True, True, False, True, True])
    joint = np.array([[2.0, 1.0], [3.0, 0.0]])  # 4 off the diagonal
    # Uncalibrated: rows 1 and 4 (confident elsewhere, argmax disputes) = 2; calibrated 4.
    assert self_confidence_count(disputed, labels, suggested, joint) == 2 + round(2 / 3)
    # Never fewer than the uncalibrated count, even when calibration puts fewer off-diagonal.
    assert self_confidence_count(disputed, labels, suggested, np.diag([3.0, 3.0])) == 2


def test_pruning_variants_by_hand() -> None:
    probs = np.array(
        [
            [0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],  # labelled 0, confidently 1
            [0.05, 0.35, 0.6],  # labelled 0, the lowest p_0, but no class is confident
            [0.1, 0.85, 0.05], [0.05, 0.9, 0.05],
            [0.6, 0.3, 0.1],  # labelled 1, confidently 0
            [0.05, 0.05, 0.9], [0.1, 0.1, 0.8],
        ]
    )  # fmt: skip
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    # t = (0.51, 0.683, 0.85); calibrated joint rows: [4, 1, 0], [1, 2, 0], [0, 0, 2].
    found = {m: find_label_issues(probs, labels, m).order.tolist() for m in PRUNE_METHODS}
    assert found["prune_by_noise_rate"] == [3, 7]  # the largest margin in each off-diagonal
    assert found["prune_by_class"] == [4, 7]  # the lowest self-confidence, n_i - C_ii per class
    assert found["both"] == [7]
    assert found["off_diagonal"] == [3, 7]
    # Two off-diagonal images the argmax disputes (3 and 7), and two off the calibrated diagonal,
    # so the two least self-confident of those whose argmax is not their label: row 4 (p_0 =
    # 0.05), then row 3 (p_0 = 0.1).
    assert found["low_self_confidence"] == [4, 3]
    by_class = find_label_issues(probs, labels, "prune_by_class")
    np.testing.assert_allclose(by_class.noise_rates, [1 / 5, 1 / 3, 0])
    assert suggestion_for(probs, labels, by_class)[4] == 2  # no confident class: the argmax


def test_rankings_by_hand() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    labels = np.array([0, 0, 1])
    np.testing.assert_allclose(label_quality(probs, labels, "self_confidence"), [0.5, 0.1, 0.2])
    np.testing.assert_allclose(label_quality(probs, labels, "normalized_margin"), [0.2, -0.5, -0.4])


def test_shown_probability_is_the_versions_own() -> None:
    embeddings, truth = _clusters()
    given, _ = _plant_errors(truth, count=6)
    ids = list(range(len(truth)))
    rng = np.random.default_rng(7)
    model_classes = ["bird", "cat", "dog", "fish"]  # the model's own order and names
    predictions = {i: PredictionRow.from_probs(i, rng.dirichlet(np.ones(4)), k=2) for i in ids}
    result = review_queue(
        ids, embeddings, [CLASSES[i] for i in given], CLASSES,
        predictions=predictions, model_classes=model_classes, model_id=3,
    )  # fmt: skip
    assert result.suspects
    for suspect in result.suspects:
        topk = dict(predictions[suspect.image_id].topk)
        wanted = model_classes.index(suspect.looks_like)
        if wanted in topk:
            assert suspect.probability == pytest.approx(topk[wanted])
            assert f"(v3: {topk[wanted]:.1%})" in suspect.describe()
        else:
            assert suspect.probability is None
            assert suspect.below == pytest.approx(min(topk.values()))
            assert "(v3: under " in suspect.describe()


def test_settled_images_are_left_out() -> None:
    embeddings, truth = _clusters()
    given, _ = _plant_errors(truth, count=8)
    labels = [CLASSES[i] for i in given]
    first = review_queue(range(len(truth)), embeddings, labels, CLASSES)
    answered = {first.suspects[0].image_id, first.suspects[1].image_id}
    again = review_queue(range(len(truth)), embeddings, labels, CLASSES, settled=answered)
    assert [s.image_id for s in again.suspects] == [
        s.image_id for s in first.suspects if s.image_id not in answered
    ]
    assert again.settled == 2


def test_class_order_does_not_change_the_queue() -> None:
    embeddings, truth = _clusters()
    given, _ = _plant_errors(truth, count=8)
    labels = [CLASSES[i] for i in given]
    one = review_queue(range(len(truth)), embeddings, labels, CLASSES)
    other = review_queue(range(len(truth)), embeddings, labels, list(reversed(CLASSES)))
    assert one.suspects == other.suspects


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


def test_neighbour_vote_leaves_the_image_itself_out() -> None:
    embeddings, truth = _clusters(per_class=20)
    given = truth.copy()
    given[0] = 1  # a cat labelled dog: its own label must not vote for "dog"
    votes = neighbour_votes(embeddings, given, n_classes=5, k=5)
    assert votes[0].argmax() == 0, votes[0]
    assert votes[0, 1] < 0.5
    np.testing.assert_allclose(votes.sum(axis=1), 1.0)
    assert (votes[:, 4] == 0).all()  # nobody labelled class 4: no vote for it
