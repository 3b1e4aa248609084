"""Temperature scaling fixes a deliberately overconfident model, and its measures are right."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.calibration import (
    ECE_BINS,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    reliability,
    scaled_probabilities,
    unscaled_probabilities,
)


def calibrated_world(n: int, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): a model whose probabilities are exact."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(n, classes))
    probs = scaled_probabilities(logits, 1.0)
    labels = np.array([rng.choice(classes, p=row) for row in probs])
    return logits, labels


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_head() -> None:
    logits, labels = calibrated_world(6000)
    overconfident = 3.0 * logits  # what a network trained too long says
    val, test = slice(0, 3000), slice(3000, None)

    temperature = fit_temperature(overconfident[val], labels[val])

    assert temperature == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(
        scaled_probabilities(overconfident[test], 1.0), labels[test]
    )
    after = expected_calibration_error(
        scaled_probabilities(overconfident[test], temperature), labels[test]
    )
    assert before > 0.1
    assert after < 0.03
    # Scaling never changes which class wins.
    np.testing.assert_array_equal(
        scaled_probabilities(overconfident, temperature).argmax(1), overconfident.argmax(1)
    )


def test_folded_head_gives_the_scaled_probabilities_and_unscaling_inverts_them() -> None:
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=(8, 4)), rng.normal(size=4)
    x = rng.normal(size=(50, 8))
    folded_w, folded_b = fold_temperature(weight, bias, 2.5)

    folded = scaled_probabilities(x @ folded_w + folded_b, 1.0)

    np.testing.assert_allclose(folded, scaled_probabilities(x @ weight + bias, 2.5), atol=1e-5)
    np.testing.assert_allclose(
        unscaled_probabilities(folded, 2.5), scaled_probabilities(x @ weight + bias, 1.0), atol=1e-5
    )


def test_reliability_table_and_ece_by_hand() -> None:
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    labels = np.array([0, 1, 0, 0])  # 50 % right at 0.95, 100 % right at 0.55

    table = reliability(probs, labels)

    assert len(table) == ECE_BINS and sum(row.count for row in table) == 4
    filled = [row for row in table if row.count]
    assert [(row.count, row.accuracy) for row in filled] == [(2, 1.0), (2, 0.5)]
    assert expected_calibration_error(probs, labels) == pytest.approx(
        0.5 * abs(1.0 - 0.55) + 0.5 * abs(0.5 - 0.95)
    )
    assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0, int)) == 0.0


def test_no_images_means_no_temperature_and_the_summary_has_both_eces() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0
    # All right: the likelihood has no maximum (T -> 0); no evidence to sharpen, so T stays 1.
    perfect = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert fit_temperature(perfect, np.array([0, 1, 0])) == 1.0
    logits, labels = calibrated_world(500)
    summary = calibration_summary(scaled_probabilities(logits, 2.0), labels, 2.0, "val", 100)
    assert summary["temperature"] == 2.0 and summary["bins"] == ECE_BINS
    assert len(summary["reliability"]) == len(summary["reliability_before"]) == ECE_BINS
    # Undoing T = 2 gives back the exact, calibrated probabilities: the "before" is the good one.
    assert summary["ece_before"] < summary["ece_after"]
