"""Quick retrain: refit the softmax head on cached embeddings and write a new ONNX model.

The full trainer run takes minutes; after a round of fixes the user wants a better model in
seconds. The backbone does not change, so we refit only the linear head (scikit-learn
LogisticRegression over the cached ``embedding`` outputs) and swap its weight and bias
initializers in a copy of the graph. The trainer records their names in the model metadata
(``pigeonhole.head_weight``, ``pigeonhole.head_bias``); the head is
``Softmax(MatMul(embedding, W) + b)``. Before the new file is used, ONNX Runtime runs its head on
the embeddings and must agree with the numpy head; only then is it moved into place.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from desktop.core.held_out import HeldOut, locked_splits, split_rows
from desktop.core.inference import InferenceError, open_session
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.onnx_head import (
    Head,
    HeadGraphError,
    load_model,
    model_info,
    replace_head,
    run_head,
)
from desktop.core.records import PredictionRow
from desktop.core.version_data import current_or, labelled_embeddings
from trainer.calibration import (
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    unscaled_probabilities,
)
from trainer.files import replacing
from trainer.run_folder import MODEL_FILE, SPLIT_FILE
from trainer.split import write_split_csv

if TYPE_CHECKING:
    from desktop.core.store import Project

PARITY_TOLERANCE = 1e-4
# Logit bias for a class with no labels: softmax gives it exactly 0 in float32 and float64.
ABSENT_CLASS_BIAS = -1.0e4
CHECK_ROWS = 2048
"""At most this many embeddings are run through ONNX Runtime for the parity check."""


class QuickRetrainError(ValueError):
    """Quick retrain cannot run or its result failed a check; nothing was written."""


@dataclass(frozen=True)
class RetrainResult:
    """The model written by a quick retrain and what was checked and measured."""

    path: Path
    head: Head
    labels_seen: int
    max_abs_diff: float
    temperature: float
    scores: dict[str, object]
    """accuracy, macro_f1, ece, ece_before on the held-out test rows (None without any)."""


def fit_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    max_iter: int = 300,
) -> Head:
    """Multinomial logistic regression on the embeddings, as a head for ``classes`` in order.

    Features are standardised for fast, well-conditioned fitting, and the scaling is folded back
    into W and b so the head still takes raw embeddings. Classes without labels get a column that
    never wins. Class weights are balanced, as in the trainer's recipe.
    """
    x, y = _training_arrays(embeddings, labels, classes)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    model = LogisticRegression(max_iter=max_iter, class_weight="balanced")
    with warnings.catch_warnings():
        # A few hundred lbfgs steps give a usable head; the full trainer run is the real round.
        warnings.simplefilter("ignore", ConvergenceWarning)
        # float32 halves the solver's time; standardised features keep it well conditioned.
        model.fit(((x - mean) / scale).astype(np.float32), y)
    coef = model.coef_.astype(np.float64) / scale  # (present, d)
    intercept = model.intercept_.astype(np.float64) - coef @ mean
    if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes: logit = w.x + b
        coef = np.vstack([-coef[0] / 2.0, coef[0] / 2.0])
        intercept = np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
    weight = np.zeros((x.shape[1], len(classes)), dtype=np.float64)
    bias = np.full(len(classes), ABSENT_CLASS_BIAS, dtype=np.float64)
    weight[:, model.classes_] = coef.T
    bias[model.classes_] = intercept
    return Head(weight.astype(np.float32), bias.astype(np.float32), tuple(classes))


def calibrated_head(
    embeddings: np.ndarray, labels: Sequence[str], classes: Sequence[str], held: HeldOut
) -> tuple[Head, float]:
    """A head fitted on ``held.fit``, with a temperature fitted on ``held.calibrate`` folded in.

    The val rows are part of the fit, so the temperature comes from a probe head fitted without
    them (train rows only) and scored on them: what the final head would say of unseen images.
    """
    labels = np.asarray(labels, dtype=object)
    head = fit_head(embeddings[held.fit], list(labels[held.fit]), classes)
    probe_rows = np.setdiff1d(held.fit, held.calibrate)
    temperature = 1.0
    if len(held.calibrate) and len(set(labels[probe_rows])) >= 2:
        probe = fit_head(embeddings[probe_rows], list(labels[probe_rows]), classes)
        seen = {str(name) for name in labels[probe_rows]}
        rows = np.array([i for i in held.calibrate if labels[i] in seen], dtype=np.int64)
        if len(rows):
            index = {name: i for i, name in enumerate(classes)}
            temperature = fit_temperature(
                probe.logits(embeddings[rows]), np.array([index[n] for n in labels[rows]])
            )
    weight, bias = fold_temperature(head.weight, head.bias, temperature)
    return Head(weight, bias, head.classes), temperature


def held_out_scores(
    head: Head, embeddings: np.ndarray, labels: Sequence[str], rows: np.ndarray, temperature: float
) -> dict[str, object]:
    """What a result may claim: scores on the test rows, which no head here was fitted on."""
    if len(rows) == 0:
        return {"accuracy": None, "macro_f1": None, "ece": None, "evaluated_on": "nothing"}
    index = {name: i for i, name in enumerate(head.classes)}
    truth = np.array([index[labels[i]] for i in rows])
    probs = head.probabilities(embeddings[rows])
    predicted = probs.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "ece": expected_calibration_error(probs, truth),
        "ece_before": expected_calibration_error(unscaled_probabilities(probs, temperature), truth),
        "temperature": temperature,
        "evaluated_on": "test",
        "test_images": len(rows),
    }


def quick_retrain(
    source: Path,
    destination: Path,
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str] | None = None,
    held: HeldOut | None = None,
) -> RetrainResult:
    """Refit the head of ``source`` on labelled embeddings and write a checked model.

    ``classes`` is the new model's class list; by default the source's classes followed by any
    new label names in first-seen order, so a grown class set just works. ``held`` says which
    rows fit, calibrate and score the head (default: all fit, none score). ``destination`` is
    replaced atomically, and only after ONNX Runtime agrees with the numpy head.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    _training_arrays(embeddings, labels, classes or sorted(set(labels)))  # all rows, before slicing
    held = held or HeldOut.everything(len(labels))
    with _as_retrain_error():
        model = load_model(Path(source))
        info = model_info(model)
        if classes is None:
            classes = _grown_classes(info.classes, labels)
        head, temperature = calibrated_head(embeddings, labels, classes, held)
        extra = {
            "head_refit": "quick",
            "labels_seen": str(len(held.fit)),
            "temperature": f"{temperature:.4f}",
        }
        retrained = replace_head(model, head, extra=extra)
        max_diff = write_checked(retrained, head, embeddings, Path(destination))
    scores = held_out_scores(head, embeddings, labels, held.test, temperature)
    return RetrainResult(Path(destination), head, len(held.fit), max_diff, temperature, scores)


def write_checked(
    model: onnx.ModelProto, head: Head, embeddings: np.ndarray, destination: Path
) -> float:
    """Write to a temporary name, check it in ONNX Runtime, then move it into place.

    Returns the largest probability difference between ONNX Runtime and numpy.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with replacing(destination) as tmp:
        onnx.save_model(model, tmp)
        max_diff = check_head_parity(tmp, head, embeddings)
    return max_diff


def check_head_parity(model_path: Path, head: Head, embeddings: np.ndarray) -> float:
    """Check the written file as the app will, then compare its head with numpy on embeddings.

    The file must pass the same checks as any model the user opens and load in ONNX Runtime;
    its head, run by ONNX Runtime, must give the numpy head's argmax and probabilities within
    PARITY_TOLERANCE. Raises QuickRetrainError otherwise.
    """
    try:
        open_session(check_model_file(model_path), "cpu")
    except (ModelFileError, InferenceError) as exc:
        raise QuickRetrainError(
            f"the retrained model failed its check ({exc}); nothing was written"
        ) from exc
    sample = np.asarray(embeddings, dtype=np.float32)[:CHECK_ROWS]
    with _as_retrain_error():
        ort_probs = run_head(load_model(model_path), sample)
    ref = head.probabilities(sample)
    max_diff = float(np.abs(ort_probs.astype(np.float64) - ref).max()) if len(sample) else 0.0
    same_argmax = np.array_equal(ort_probs.argmax(axis=1), ref.argmax(axis=1))
    if not same_argmax or max_diff >= PARITY_TOLERANCE:
        raise QuickRetrainError(
            f"the retrained model disagrees with its numpy head (max |diff| {max_diff:.2e}, "
            f"same argmax: {same_argmax}); nothing was written"
        )
    return max_diff


@contextmanager
def _as_retrain_error() -> Iterator[None]:
    """Head-graph problems reach the user as one error type that says nothing was written."""
    try:
        yield
    except HeadGraphError as exc:
        raise QuickRetrainError(f"{exc}; nothing was written") from exc


def _training_arrays(
    embeddings: np.ndarray, labels: Sequence[str], classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(labels):
        raise QuickRetrainError(
            f"need one cached embedding per labelled image: got {x.shape} for {len(labels)} labels"
        )
    if not np.isfinite(x).all():
        raise QuickRetrainError("some cached embeddings are not finite: reclassify those images")
    if len(set(classes)) != len(classes):
        raise QuickRetrainError("the class list has duplicate names")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({name for name in labels if name not in index})
    if unknown:
        raise QuickRetrainError(f"labels not in the class list: {', '.join(unknown)}")
    y = np.array([index[name] for name in labels], dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise QuickRetrainError("label images of at least two classes before retraining")
    return x, y


def _grown_classes(existing: Sequence[str], labels: Sequence[str]) -> list[str]:
    classes = list(existing)
    seen = set(classes)
    for name in labels:
        if name not in seen:
            classes.append(name)
            seen.add(name)
    return classes


@dataclass(frozen=True)
class RetrainedVersion:
    """A quick retrain registered in a project."""

    model_id: int
    result: RetrainResult
    predicted: int
    """Images given predictions at once from their cached embeddings (no CNN run needed)."""
    metrics: dict[str, object]


def quick_retrain_version(
    project: Project, run_dir: Path, model_id: int | None = None
) -> RetrainedVersion:
    """Quick-retrain a version (default: current) on the project's labels and register it.

    Honest by construction: the head is fitted on the train and val images of the source's
    locked split (labels added since go where the trainer's split rule puts them), its
    temperature comes from the val images, and its scores come from the test images alone.
    The split is written next to the new model, so later versions are scored on the same images.
    The new model's classes are the project's classes that have labels, in the user's order.
    Every image with a cached embedding gets the new version's prediction from the numpy head.
    """
    source_id = current_or(project, model_id)
    data = labelled_embeddings(project, source_id)
    labelled = set(data.labels)
    classes = [record.name for record in project.classes() if record.name in labelled]
    splits = locked_splits(project, source_id, data)
    held = HeldOut.from_splits([splits[i] for i in data.image_ids])
    source = Path(project.model(source_id).path)
    result = quick_retrain(
        source, Path(run_dir) / MODEL_FILE, data.embeddings, data.labels, classes, held
    )
    write_split_csv(Path(run_dir) / SPLIT_FILE, split_rows(project, splits))
    metrics = {
        "source": "quick_retrain",
        "parent_model_id": source_id,
        **result.scores,
        "recipe": (
            f"quick retrain of v{source_id}'s head: fitted on {len(held.fit)} train+val images, "
            f"calibrated on {len(held.calibrate)} val images, scored on {len(held.test)} test "
            "images"
        ),
    }
    checked = check_model_file(result.path)
    new_id = project.add_model(
        result.path, checked.info, metrics=metrics, n_labels=len(data.labels)
    )
    rows = _predictions_from_embeddings(project.predictions(source_id), result.head)
    return RetrainedVersion(new_id, result, project.set_predictions(new_id, rows), metrics)


def _predictions_from_embeddings(
    source_predictions: dict[int, PredictionRow], head: Head
) -> list[PredictionRow]:
    ids = [i for i, row in source_predictions.items() if row.embedding]
    if not ids:
        return []
    embeddings = np.stack(
        [np.frombuffer(source_predictions[i].embedding, dtype=np.float32) for i in ids]
    )
    probs = head.probabilities(embeddings)
    return [
        PredictionRow.from_probs(i, p, embedding=e)
        for i, p, e in zip(ids, probs, embeddings, strict=True)
    ]
