"""Label-next ordering and the "none of these" threshold, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.core.uncertainty import (
    CalibrationError,
    calibrate_threshold,
    label_next,
    top2_margin,
    uncertain_ids,
)


def test_smallest_margin_comes_first() -> None:
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # margin 0.85
            [0.40, 0.35, 0.25],  # margin 0.05
            [0.10, 0.50, 0.40],  # margin 0.10
            [0.34, 0.33, 0.33],  # margin 0.01
        ]
    )
    np.testing.assert_allclose(top2_margin(probs), [0.85, 0.05, 0.10, 0.01])
    margins = top2_margin(probs)
    assert label_next([10, 11, 12, 13], margins) == [13, 11, 12, 10]
    assert label_next([10, 11, 12, 13], margins, limit=2) == [13, 11]


def test_label_next_refuses_mismatched_ids() -> None:
    with pytest.raises(ValueError, match="3 image ids but 2 margins"):
        label_next([1, 2, 3], [0.1, 0.2])


def _val_set() -> tuple[np.ndarray, np.ndarray]:
    # Confidences 0.95 (right), 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (wrong), 0.55 (right).
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55])
    correct = np.array([True, True, False, True, False, True])
    return confidence, correct


def test_threshold_keeps_target_precision_on_validation() -> None:
    confidence, correct = _val_set()
    # Keeping the top k gives precision 1, 1, 2/3, 3/4, 3/5, 4/6.
    cal = calibrate_threshold(confidence, correct, target_precision=0.75)
    assert cal.reached
    assert cal.threshold == pytest.approx(0.7)
    assert cal.precision == pytest.approx(0.75)
    assert cal.coverage == pytest.approx(4 / 6)

    strict = calibrate_threshold(confidence, correct, target_precision=0.99)
    assert strict.threshold == pytest.approx(0.9)
    assert strict.coverage == pytest.approx(2 / 6)


def test_ties_are_kept_or_dropped_together() -> None:
    # Two predictions at 0.8, one right and one wrong: the cut cannot fall between them.
    confidence = np.array([0.9, 0.8, 0.8, 0.7])
    correct = np.array([True, True, False, True])
    cal = calibrate_threshold(confidence, correct, target_precision=0.7)
    assert cal.threshold == pytest.approx(0.7)  # top 3 give 2/3 < 0.7, top 4 give 3/4
    strict = calibrate_threshold(confidence, correct, target_precision=0.9)
    assert strict.threshold == pytest.approx(0.9)


def test_unreachable_target_makes_everything_uncertain() -> None:
    confidence = np.array([0.9, 0.8])
    cal = calibrate_threshold(confidence, [False, False], target_precision=0.5)
    assert not cal.reached
    assert cal.coverage == 0.0
    assert uncertain_ids([1, 2], confidence, cal.threshold) == {1, 2}


def test_uncertain_filter_uses_threshold() -> None:
    assert uncertain_ids([5, 6, 7], [0.9, 0.55, 0.7], threshold=0.7) == {6}


@pytest.mark.parametrize(
    ("confidence", "correct", "target", "message"),
    [
        (np.zeros(0), np.zeros(0), 0.9, "no labelled validation images"),
        (np.full(2, 0.5), np.zeros(3), 0.9, "2 validation predictions but 3 labels"),
        (np.full(2, 0.5), np.zeros(2), 1.5, "target precision must be in"),
    ],
)
def test_bad_calibration_input(
    confidence: np.ndarray, correct: np.ndarray, target: float, message: str
) -> None:
    with pytest.raises(CalibrationError, match=message):
        calibrate_threshold(confidence, correct, target_precision=target)
