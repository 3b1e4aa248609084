"""Per-version metrics and confusion cells, checked against a hand count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from desktop.core.evaluation import (
    EvaluationError,
    evaluate_predictions,
    evaluation_from_report,
    read_report,
)


def test_metrics_and_cells_by_hand() -> None:
    ids = [1, 2, 3, 4, 5, 6]
    true = ["cat", "cat", "cat", "dog", "dog", "fish"]
    pred = ["cat", "dog", "cat", "dog", "cat", "fish"]
    evaluation = evaluate_predictions(ids, true, pred, ["cat", "dog", "fish"])
    assert evaluation.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(evaluation.confusion, [[2, 1, 0], [1, 1, 0], [0, 0, 1]])
    assert evaluation.cell("cat", "dog") == (2,)
    assert evaluation.cell("dog", "cat") == (5,)
    assert evaluation.cell("fish", "cat") == ()
    cat = evaluation.per_class[0]
    # cat: precision 2/3 (ids 1, 3 right, 5 wrong), recall 2/3, F1 2/3, support 3.
    assert (cat.precision, cat.recall, cat.f1, cat.support) == pytest.approx(
        (2 / 3, 2 / 3, 2 / 3, 3)
    )
    # macro F1 = mean(2/3, 1/2, 1).
    assert evaluation.macro_f1 == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    with pytest.raises(EvaluationError, match="no confusion cell"):
        evaluation.cell("cat", "horse")


def test_report_in_the_trainers_format(tmp_path: Path) -> None:
    report = {
        "accuracy": 0.5,
        "macro_f1": 0.4,
        "per_class": {
            "a": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1},
            "b": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        },
        "confusion_matrix": {"classes": ["a", "b"], "matrix": [[1, 0], [1, 0]]},
        "misclassified": [{"path": "b/1.png", "true": "b", "predicted": "a", "confidence": 0.9}],
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    evaluation = read_report(path)
    assert evaluation.classes == ("a", "b")
    assert evaluation.count("b", "a") == 1
    assert evaluation.cell("b", "a") == ("b/1.png",)
    assert evaluation.per_class[1].support == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot read the training report"),
        (json.dumps({"accuracy": 1.0}), "lacks or garbles"),
    ],
)
def test_bad_reports_are_refused(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvaluationError, match=message):
        read_report(path)


def test_mismatched_matrix_is_refused() -> None:
    report = {"accuracy": 1, "macro_f1": 1, "per_class": {},
              "confusion_matrix": {"classes": ["a", "b"], "matrix": [[1]]}}  # fmt: skip
    with pytest.raises(EvaluationError):
        evaluation_from_report(report)


def test_nothing_to_evaluate() -> None:
    with pytest.raises(EvaluationError, match="no labelled images"):
        evaluate_predictions([], [], [], ["a"])
