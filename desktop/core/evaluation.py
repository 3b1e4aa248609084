"""How good a model version is, and where it is wrong, in a form the evaluation view can show.

Two sources give the same ``Evaluation``: the trainer's ``report.json`` (scored on the locked test
split at training time) and the project itself (the user's labels against a version's stored
predictions, via scikit-learn), which also knows which image sits in each confusion cell, so a
click on "true X, predicted Y" can filter the grid to exactly those images.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from desktop.core.prediction_cache import PredictionCache, predictions_of
from desktop.core.version_data import (
    VersionDataError,
    label_names,
    predicted_names,
    split_image_ids,
)
from trainer.calibration import ReliabilityBin, reliability_from, table_ece
from trainer.run_folder import HISTORY_FILE

if TYPE_CHECKING:
    from desktop.core.store import Project


class EvaluationError(ValueError):
    """A report or a set of predictions we cannot evaluate; the message says why."""


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, macro F1, a per-class table and a confusion matrix in ``classes`` order."""

    accuracy: float
    macro_f1: float
    classes: tuple[str, ...]
    per_class: tuple[ClassScores, ...]
    confusion: np.ndarray
    """confusion[i, j] = images of true class i predicted as class j."""
    cells: Mapping[tuple[str, str], tuple[int | str, ...]] = field(default_factory=dict)
    """(true, predicted) -> the image ids (or, from a report, paths) in that cell."""
    reliability: tuple[ReliabilityBin, ...] = ()
    """How sure the version was against how often it was right, in 15 bins (the diagram)."""

    @property
    def ece(self) -> float | None:
        """Expected calibration error of the reliability table; None without one."""
        return table_ece(list(self.reliability)) if self.reliability else None

    def cell(self, true: str, predicted: str) -> tuple[int | str, ...]:
        """What a click on a confusion cell filters the grid to."""
        if true not in self.classes or predicted not in self.classes:
            raise EvaluationError(f"no confusion cell ({true}, {predicted}) in this evaluation")
        return tuple(self.cells.get((true, predicted), ()))

    def count(self, true: str, predicted: str) -> int:
        return int(self.confusion[self.classes.index(true), self.classes.index(predicted)])


def evaluate_predictions(
    image_ids: Sequence[int],
    true: Sequence[str],
    predicted: Sequence[str],
    classes: Sequence[str],
) -> Evaluation:
    """Score predictions against labels with scikit-learn, keeping each cell's image ids."""
    if not len(image_ids) == len(true) == len(predicted):
        raise EvaluationError(
            f"{len(image_ids)} images, {len(true)} labels and {len(predicted)} predictions"
        )
    if not image_ids:
        raise EvaluationError("no labelled images with predictions to evaluate")
    classes = list(dict.fromkeys([*classes, *true, *predicted]))
    precision, recall, f1, support = precision_recall_fscore_support(
        true, predicted, labels=classes, zero_division=0
    )
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for image_id, t, p in zip(image_ids, true, predicted, strict=True):
        cells[(t, p)].append(int(image_id))
    return Evaluation(
        accuracy=float(accuracy_score(true, predicted)),
        # Like the trainer's report: macro over the classes among the labels or predictions.
        macro_f1=float(f1_score(true, predicted, average="macro", zero_division=0)),
        classes=tuple(classes),
        per_class=tuple(
            ClassScores(name, float(p), float(r), float(f), int(s))
            for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        ),
        confusion=confusion_matrix(true, predicted, labels=classes),
        cells={key: tuple(ids) for key, ids in cells.items()},
    )


def read_report(path: Path) -> Evaluation:
    """The Evaluation in a trainer ``report.json``; its cells hold misclassified test paths."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvaluationError(f"{path} does not exist: the run did not finish") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"cannot read the training report {path} ({exc})") from exc
    return evaluation_from_report(report)


def evaluation_from_report(report: Mapping) -> Evaluation:
    """Build an Evaluation from the trainer's report dict (see trainer/evaluate.py)."""
    try:
        classes, matrix = _confusion_from_report(report)
        per_class = tuple(_class_scores(name, report["per_class"][name]) for name in classes)
        accuracy = float(report["accuracy"])
        macro_f1 = float(report["macro_f1"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationError(
            f"the training report lacks or garbles {exc}: was it written by `python -m trainer`?"
        ) from exc
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in report.get("misclassified", []):
        cells[(item["true"], item["predicted"])].append(item["path"])
    return Evaluation(
        accuracy=accuracy,
        macro_f1=macro_f1,
        classes=tuple(classes),
        per_class=per_class,
        confusion=matrix,
        cells={key: tuple(paths) for key, paths in cells.items()},
    )


def evaluate_version(
    project: Project,
    model_id: int,
    image_ids: Sequence[int] | None = None,
    cache: PredictionCache | None = None,
) -> Evaluation:
    """A stored version scored against the user's current labels, on ``image_ids`` if given.

    Pass the test split's ids (``version_data.split_image_ids``) to score every version on the
    same locked test images; the cells then hold image ids for the grid filter.
    """
    labels = label_names(project)
    rows = predictions_of(project, model_id, cache)
    predicted = predicted_names(project, model_id, rows)
    scope = labels.keys() if image_ids is None else set(image_ids) & labels.keys()
    ids = sorted(i for i in scope if i in predicted)
    classes = project.version_class_names(model_id)
    true, guessed = [labels[i] for i in ids], [predicted[i] for i in ids]
    evaluation = evaluate_predictions(ids, true, guessed, classes)
    table = reliability_from(
        np.array([rows[i].confidence for i in ids]),
        np.array(true, dtype=object) == np.array(guessed, dtype=object),
    )
    return replace(evaluation, reliability=tuple(table))


@dataclass(frozen=True)
class VersionScore:
    """One version's evaluation, what it was scored on, and its run's history (if any)."""

    model_id: int
    evaluation: Evaluation
    scope: str
    history: Path | None


def score_version(
    project: Project, model_id: int, cache: PredictionCache | None = None
) -> VersionScore:
    """Evaluate a version on its test split, or on every labelled image when it has none.

    Raises EvaluationError when nothing can be scored (no predictions for labelled images).
    """
    record = project.model(model_id)
    try:
        test_ids = split_image_ids(project, model_id, "test")
    except VersionDataError:
        test_ids = None
    evaluation = evaluate_version(project, model_id, test_ids, cache)
    n = int(evaluation.confusion.sum())
    if test_ids is None:
        scope = f"all {n:,} labelled images (this version has no test split)"
    else:
        scope = f"the locked test split ({n:,} labelled images)"
    run_dir = record.metrics.get("run_dir")
    history = Path(run_dir) / HISTORY_FILE if isinstance(run_dir, str) else None
    return VersionScore(model_id, evaluation, scope, history)


def metrics_summary(evaluation: Evaluation) -> dict[str, float]:
    """The two numbers a models panel lists per version."""
    return {"accuracy": evaluation.accuracy, "macro_f1": evaluation.macro_f1}


def _confusion_from_report(report: Mapping) -> tuple[list[str], np.ndarray]:
    confusion = report["confusion_matrix"]
    if isinstance(confusion, Mapping):
        classes = list(confusion.get("classes") or confusion["labels"])
        matrix = np.asarray(confusion["matrix"], dtype=np.int64)
    else:
        classes = list(report["classes"])
        matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f"a {matrix.shape} confusion matrix for {len(classes)} classes")
    return classes, matrix


def _class_scores(name: str, scores: Mapping) -> ClassScores:
    return ClassScores(
        name=name,
        precision=float(scores["precision"]),
        recall=float(scores["recall"]),
        f1=float(scores["f1"] if "f1" in scores else scores["f1-score"]),
        support=int(scores["support"]),
    )
