"""Metrics for an exported model, computed with scikit-learn on ONNX Runtime's predictions.

The report is computed from the ONNX file, not the Keras model, because the ONNX file is what
the app runs. This module needs no TensorFlow: ``python -m trainer evaluate`` works with ONNX
Runtime alone, on any model exported by ``python -m trainer``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from trainer.calibration import calibration_summary, temperature_in
from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT, InvalidModelInfo, ModelInfo
from trainer.data import Sample, load_labelled_data, read_images, split_samples
from trainer.errors import TrainerError
from trainer.files import replacing
from trainer.split import SPLITS, merged_groups

BATCH_SIZE = 64
ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
    RuntimeError,
)
"""What ONNX Runtime raises for a model it cannot load or run (its types share no base)."""
EVALUATE_SPLITS = ("all", *SPLITS)


def open_session(model: Path | bytes) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU, so reports and parity checks match on every machine."""
    source = model if isinstance(model, bytes) else os.fspath(model)
    try:
        return ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    except ORT_ERRORS as exc:
        where = "the exported model" if isinstance(model, bytes) else str(model)
        raise TrainerError(f"ONNX Runtime cannot load {where}: {exc}") from exc


def read_model_info(session: ort.InferenceSession) -> ModelInfo:
    """The Pigeonhole metadata of a loaded model; TrainerError if it has none."""
    try:
        return ModelInfo.from_props(session.get_modelmeta().custom_metadata_map)
    except InvalidModelInfo as exc:
        raise TrainerError(str(exc)) from exc


def predict(session: ort.InferenceSession, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probs, embedding) for a float32 (N, S, S, 3) batch, run in chunks of BATCH_SIZE."""
    probs, embeddings = [], []
    for start in range(0, len(images), BATCH_SIZE):
        chunk = np.ascontiguousarray(images[start : start + BATCH_SIZE], dtype=np.float32)
        p, e = session.run([PROBS_OUTPUT, EMBEDDING_OUTPUT], {INPUT_NAME: chunk})
        probs.append(p)
        embeddings.append(e)
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(probs), np.concatenate(embeddings)


def predict_samples(
    session: ort.InferenceSession, samples: Sequence[Sample], image_size: int
) -> np.ndarray:
    """Class probabilities for image files, decoded a batch at a time to bound memory."""
    parts = [
        predict(session, read_images(samples[start : start + BATCH_SIZE], image_size))[0]
        for start in range(0, len(samples), BATCH_SIZE)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def classification_report(
    classes: Sequence[str], samples: Sequence[Sample], probs: np.ndarray
) -> dict[str, Any]:
    """accuracy, macro_f1, per_class, confusion_matrix and misclassified, from scikit-learn.

    macro_f1 averages over the classes that occur among the true or predicted labels
    (scikit-learn's default), so a class absent from the test images does not count as 0.
    """
    index = {name: i for i, name in enumerate(classes)}
    y_true = np.array([index[s.label] for s in samples], dtype=np.int64)
    y_pred = probs.argmax(axis=1)
    everything = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=everything, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=everything)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": {"classes": list(classes), "matrix": matrix.tolist()},
        "misclassified": [
            {
                "path": sample.rel,
                "true": sample.label,
                "predicted": classes[int(pred)],
                "confidence": float(row[pred]),
            }
            for sample, pred, row, truth in zip(samples, y_pred, probs, y_true, strict=True)
            if pred != truth
        ],
    }


def evaluate_data(model_path: Path, data: Path, split: str = "all") -> dict[str, Any]:
    """Evaluate an exported model on labelled DATA (class folders or CSV); return the report.

    With ``split`` other than "all", only the files the stable split puts there are used, so a
    model can be compared with another on the same test images.
    """
    if split not in EVALUATE_SPLITS:
        raise TrainerError(f"--split must be one of {', '.join(EVALUATE_SPLITS)}, not {split}")
    if not model_path.is_file():
        raise TrainerError(f"{model_path} does not exist: give the model.onnx file of a run")
    started = time.perf_counter()
    session = open_session(model_path)
    info = read_model_info(session)
    labelled = load_labelled_data(data, info.input_size)
    unknown = sorted({s.label for s in labelled.samples} - set(info.classes))
    if unknown:
        raise TrainerError(
            f"DATA has classes the model does not know: {', '.join(unknown)} "
            f"(it knows {', '.join(info.classes)}); remove them or train a new model"
        )
    splits, groups = split_samples(labelled.samples)
    chosen = [s for s in labelled.samples if split == "all" or splits[s.rel] == split]
    if not chosen:
        raise TrainerError(f"no readable images to evaluate in {data} (split: {split})")
    probs = predict_samples(session, chosen, info.input_size)
    report = classification_report(info.classes, chosen, probs)
    index = {name: i for i, name in enumerate(info.classes)}
    report["calibration"] = calibration_summary(
        probs,
        np.array([index[s.label] for s in chosen], dtype=np.int64),
        temperature_in(info.extra),
        fitted_on="the training run's validation split (ONNX metadata)",
        fitted_n=0,
    ) | {"evaluated_on": split}
    seconds = time.perf_counter() - started
    sizes = Counter(splits.values())
    report.update(
        classes=list(info.classes),
        evaluated_on=split,
        skipped=[item.as_dict() for item in labelled.skipped],
        split_sizes={name: sizes.get(name, 0) for name in SPLITS} | {"evaluated": len(chosen)},
        duplicate_groups=merged_groups(groups),
        timings={
            "evaluate_seconds": round(seconds, 3),
            "images_per_second": round(len(chosen) / max(seconds, 1e-9), 2),
        },
        parity=None,
        model=str(model_path),
    )
    return report


def write_json(path: Path, value: Any) -> None:
    """Write JSON under a temporary name, then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2), encoding="utf-8")
