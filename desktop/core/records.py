"""Plain records the store, scanner and import/export hand to callers (and to the UI).

They are frozen dataclasses with slots: cheap enough to build 100,000 of them for the grid, and
safe to pass between threads because nobody can change them behind the store's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trainer.run_folder import Skipped as Skipped  # one record for the app and the trainer

LABEL_SOURCES = ("user", "import", "accepted_prediction")
IMAGE_STATUSES = ("ok", "unreadable", "missing")


@dataclass(frozen=True, slots=True)
class Action:
    """One undoable user action as the history shows it ("Label 3 images as cat")."""

    id: int
    text: str
    created: float


@dataclass(frozen=True, slots=True)
class ClassRecord:
    """A user class; ``position`` orders them (its number key: ``desktop.core.class_keys``)."""

    id: int
    name: str
    colour: str
    position: int


@dataclass(frozen=True, slots=True)
class ImageRow:
    """What one grid tile needs; predictions are those of the current model (or None).

    ``predicted_id`` is the project class the prediction maps to (None when the project has no
    such class); ``predicted_name`` is the name to show (``version_class_names``): that class's
    current name, or the model's own name, so a prediction for a class the project lacks can still
    be shown.
    """

    id: int
    path: str
    status: str
    error: str | None
    label_id: int | None
    label_source: str | None
    predicted_id: int | None
    confidence: float | None
    margin: float | None
    predicted_name: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """Full details of one image for the preview pane."""

    id: int
    path: str
    size: int | None
    mtime: float | None
    status: str
    error: str | None
    added: float
    label_id: int | None
    label_source: str | None


@dataclass(frozen=True, slots=True)
class FoundFile:
    """An image file the scanner found, with the size and mtime it saw."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class ScanBatch:
    """A chunk of scan results; batches stream so the grid fills while the scan runs."""

    files: list[FoundFile]
    skipped: list[Skipped]
    folders_done: int
    files_found: int


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model registered in the project, with the class names from its metadata."""

    id: int
    path: str
    info: dict
    metrics: dict
    created: float
    n_labels: int

    @property
    def classes(self) -> list[str]:
        return list(self.info.get("classes", []))


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One model's prediction for one image; ``class_index`` indexes the MODEL's class list.

    ``topk`` holds (class_index, probability) pairs, best first. The embedding is float32.
    """

    image_id: int
    class_index: int
    confidence: float
    topk: list[tuple[int, float]]
    embedding: bytes | None = None

    @property
    def margin(self) -> float:
        """Best minus second-best probability: small margins are the uncertain images."""
        if len(self.topk) < 2:
            return self.confidence
        return self.topk[0][1] - self.topk[1][1]

    @classmethod
    def from_probs(
        cls, image_id: int, probs, k: int = 5, embedding=None
    ) -> PredictionRow:  # probs: 1-D array-like of floats
        """Build a row from a probability vector (and optional embedding array)."""
        import numpy as np

        values = np.asarray(probs, dtype=np.float64).ravel()
        order = np.argsort(-values, kind="stable")[: max(1, k)]
        topk = [(int(i), float(values[i])) for i in order]
        blob = None
        if embedding is not None:
            blob = np.asarray(embedding, dtype=np.float32).ravel().tobytes()
        return cls(image_id, topk[0][0], topk[0][1], topk, blob)


@dataclass(frozen=True, slots=True)
class Counts:
    """Numbers for the status bar and class list."""

    images: int
    labelled: int
    unlabelled: int
    unreadable: int
    missing: int
    per_class: dict[int, int] = field(default_factory=dict)
    predicted: int = 0


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What a label import did, for the summary dialog; ``action`` is None when nothing changed."""

    n_rows: int
    n_labelled: int
    n_images_added: int
    n_classes_created: int
    n_duplicates: int
    unknown_classes: list[str]
    skipped: list[Skipped]
    action: Action | None = None
    outside: list[str] = field(default_factory=list)
    """New files outside the CSV's folder: not added until the user says yes (allow_outside)."""

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def skipped_by_reason(self) -> dict[str, int]:
        """Skip counts grouped by reason, for a short summary line per reason."""
        counts: dict[str, int] = {}
        for item in self.skipped:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote and what it left out."""

    destination: str
    n_written: int
    n_renamed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False
    per_class: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RescanSummary:
    """What a rescan found: files gone, files back, files changed on disk."""

    checked: int
    missing: int
    back: int
    changed: int
    cancelled: bool = False
