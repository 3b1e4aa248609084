"""Confidences that mean what they say: temperature scaling and its measures (numpy + scipy only).

A network trained with cross-entropy is usually overconfident: it says 99 % where it is right 85 %
of the time. Temperature scaling (Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural
Networks", ICML 2017) divides the logits by one number T fitted on held-out images by maximum
likelihood. It never changes which class wins, so accuracy stays as it is, and because the head is
linear it folds into the head's weights (W / T, b / T): the exported graph keeps its shape and the
app's quick retrain can replace the head the same way.

The expected calibration error (ECE) is the gap between confidence and accuracy averaged over 15
equal-width bins of the top probability, weighted by how many images fall in each bin. Light on
purpose: the desktop app imports this module too (for its quick-retrained heads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15
TEMPERATURE_RANGE = (0.25, 20.0)
"""T is searched in this range: sharpening more than 4-fold on a few held-out images would trust
them too much, and beyond 20 a model is broken rather than miscalibrated."""


@dataclass(frozen=True)
class ReliabilityBin:
    """Images whose top probability lies in [lower, upper): how sure the model was, how right."""

    lower: float
    upper: float
    count: int
    confidence: float
    accuracy: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "lower": round(self.lower, 4),
            "upper": round(self.upper, 4),
            "count": self.count,
            "confidence": round(self.confidence, 4),
            "accuracy": round(self.accuracy, 4),
        }


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the negative log-likelihood of ``labels`` under softmax(logits / T).

    With no images, or when the model gets every one of them right, T = 1: then the likelihood
    only grows as T shrinks, so it has no maximum, and a few perfect images are no evidence that
    the model is underconfident on others.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or np.all(logits.argmax(axis=1) == labels):
        return 1.0

    def nll(log_t: float) -> float:
        scaled = log_softmax(logits / np.exp(log_t), axis=1)
        return float(-scaled[np.arange(len(labels)), labels].mean())

    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def temperature_in(metadata: dict[str, str]) -> float:
    """The temperature a model's metadata records (folded in already); 1 when absent or odd."""
    try:
        value = float(metadata.get("temperature", "1"))
    except ValueError:
        return 1.0
    low, high = TEMPERATURE_RANGE
    return value if low <= value <= high else 1.0


def scaled_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T), row by row."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def unscaled_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before scaling by T: log p = z / T + c per row, so p^T renormalised."""
    powered = np.power(np.asarray(probs, dtype=np.float64), temperature)
    return powered / np.maximum(powered.sum(axis=1, keepdims=True), 1e-300)


def fold_temperature(
    weight: np.ndarray, bias: np.ndarray, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """A linear head's (W, b) with 1 / T folded in: softmax(x W' + b') = softmax((x W + b) / T)."""
    return (
        (np.asarray(weight) / temperature).astype(np.float32),
        (np.asarray(bias) / temperature).astype(np.float32),
    )


def reliability(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """The reliability table of class probabilities: every bin, empty ones included."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return reliability_from(np.zeros(0), np.zeros(0, bool), bins)
    return reliability_from(probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels), bins)


def reliability_from(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """The reliability table from each image's top probability and whether it was right."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edge_i, edge_i+1]; a confidence of exactly 0 goes to the first bin.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table = []
    for i in range(bins):
        inside = which == i
        count = int(inside.sum())
        table.append(
            ReliabilityBin(
                lower=float(edges[i]),
                upper=float(edges[i + 1]),
                count=count,
                confidence=float(confidence[inside].mean()) if count else 0.0,
                accuracy=float(correct[inside].mean()) if count else 0.0,
            )
        )
    return table


def table_ece(table: list[ReliabilityBin]) -> float:
    """The ECE of a reliability table; 0 for an empty one."""
    total = sum(row.count for row in table)
    if total == 0:
        return 0.0
    return float(sum(row.count / total * abs(row.accuracy - row.confidence) for row in table))


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Σ over bins of (share of images in the bin) × |accuracy − confidence|; 0 for no images."""
    return table_ece(reliability(probs, labels, bins))


def calibration_summary(
    probs_after: np.ndarray, labels: np.ndarray, temperature: float, fitted_on: str, fitted_n: int
) -> dict[str, object]:
    """report.json's "calibration" block: T, ECE before and after, the reliability table after."""
    before = unscaled_probabilities(probs_after, temperature)
    return {
        "method": "temperature scaling",
        "temperature": round(float(temperature), 4),
        "fitted_on": fitted_on,
        "fitted_images": int(fitted_n),
        "bins": ECE_BINS,
        "ece_before": round(expected_calibration_error(before, labels), 4),
        "ece_after": round(expected_calibration_error(probs_after, labels), 4),
        "reliability_before": [row.as_dict() for row in reliability(before, labels)],
        "reliability": [row.as_dict() for row in reliability(probs_after, labels)],
    }
