"""What Model → Review lists for one version: suspects, what to label next, uncertain images, churn.

The panel (``desktop/ui/review_panel.py``) only shows a ``ReviewData``; gathering it is analysis
over the store (confident learning, calibration, churn), so it lives here, runs on a worker, and
reads the version's predictions once through the loop's ``PredictionCache``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.churn import Churn, churn_between
from desktop.core.prediction_cache import PredictionCache, predictions_of
from desktop.core.review import ReviewError, ReviewResult, Suspect, review_project
from desktop.core.uncertainty import CalibrationError, calibrate_version, label_next_in_project
from desktop.core.version_data import VersionDataError, label_names
from trainer.file_names import shown

if TYPE_CHECKING:
    from desktop.core.store import Project

LABEL_NEXT_LIMIT = 200
"""How many unlabelled images the "Label next" list shows."""


@dataclass(frozen=True)
class ReviewData:
    """Everything the Review panel lists for one version, gathered off the GUI thread.

    ``noise_detail`` is plain text, one class a line (the panel escapes it for its tooltip)."""

    model_id: int
    suspects: list[Suspect]
    suspects_note: str = ""
    noise_note: str = ""
    noise_detail: str = ""
    settled: int = 0
    label_next: list[int] = field(default_factory=list)
    label_next_note: str = ""
    uncertain: list[int] = field(default_factory=list)
    uncertain_note: str = ""
    churn: Churn | None = None
    churn_note: str = ""
    names: dict[int, str] = field(default_factory=dict)


def gather_review(
    project: Project, model_id: int, cache: PredictionCache | None = None
) -> ReviewData:
    """Suspects, label-next, uncertain and churn for ``model_id``; what cannot be had says why.

    Pass the loop's ``cache`` so the version's predictions are read once for all four."""
    try:
        result: ReviewResult | None = review_project(project, model_id, cache=cache)
        suspects_note = ""
    except (ReviewError, VersionDataError) as exc:
        result, suspects_note = None, f"No review queue: {exc}."
    suspects = result.suspects if result else []
    label_next = label_next_in_project(project, model_id, LABEL_NEXT_LIMIT, cache)
    uncertain, uncertain_note = _uncertain(project, model_id, cache)
    churn, churn_note = _churn(project, model_id, cache)
    wanted = {s.image_id for s in suspects} | set(label_next) | set(uncertain)
    names = {row.id: shown(Path(row.path).name) for row in project.image_rows(ids=wanted)}
    return ReviewData(
        model_id, suspects, suspects_note,
        noise_note=result.noise_summary() if result else "",
        noise_detail="\n".join(c.describe() for c in result.noise) if result else "",
        settled=result.settled if result else 0,
        label_next=label_next, label_next_note=_label_next_note(project, model_id, label_next),
        uncertain=uncertain, uncertain_note=uncertain_note,
        churn=churn, churn_note=churn_note, names=names,
    )  # fmt: skip


def _label_next_note(project: Project, model_id: int, label_next: list[int]) -> str:
    """Why the list is what it is, above all why it is empty."""
    if label_next:
        return "Unlabelled images the version hesitates on most (smallest top-2 margin) first."
    unlabelled = project.counts().unlabelled
    if not unlabelled:
        return "Nothing to suggest: every image is labelled. Add images to get suggestions."
    return (
        f"Nothing to suggest yet: the {unlabelled:,} unlabelled images have no prediction from "
        f"v{model_id}. Classify → Classify Not Yet Predicted, then review again."
    )


def _uncertain(
    project: Project, model_id: int, cache: PredictionCache | None
) -> tuple[list[int], str]:
    try:
        calibration = calibrate_version(project, model_id, cache=cache)
    except CalibrationError as exc:
        return [], f"No threshold: {exc}."
    labelled = label_names(project, readable_only=False)
    predictions = predictions_of(project, model_id, cache)
    ids = sorted(
        (
            i
            for i, row in predictions.items()
            if i not in labelled and row.confidence < calibration.threshold
        ),
        key=lambda i: predictions[i].confidence,
    )
    if not calibration.reached:
        return ids, (
            f"No threshold reaches {calibration.target_precision:.0%} precision on the validation "
            "split, so every unlabelled image is uncertain: label more, then train."
        )
    return ids, (
        f"Below {calibration.threshold:.2f} confidence: the threshold fitted to v{model_id} so "
        f"that predictions above it keep {calibration.precision:.0%} precision on "
        f"{calibration.coverage:.0%} of the validation split (Show → Low confidence uses a "
        "threshold you choose instead)."
    )


def _churn(
    project: Project, model_id: int, cache: PredictionCache | None
) -> tuple[Churn | None, str]:
    earlier = [record.id for record in project.models() if record.id < model_id]
    if not earlier:
        return None, "No earlier version to compare with."
    previous = earlier[-1]
    churn = churn_between(project, previous, model_id, cache)
    if churn.compared == 0:
        return None, f"v{previous} and v{model_id} have no predictions in common yet."
    return churn, f"v{previous} → v{model_id} on {churn.compared:,} images:"
