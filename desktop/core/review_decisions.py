"""The review queue's answers, kept in the project: "Keep label" and "Accept suggestion".

An answer belongs to an image AND the label it gave that image, so a kept image stays out of the
queue for every later version until its label changes (then the old answer no longer matches and
the image may be asked about again). Deciding writes the label and the answer in one undoable
action, so Ctrl+Z brings both back, also after a restart.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from desktop.core import labels_table
from desktop.core.errors import InvalidAction
from desktop.core.history import ChangeSet

DECISIONS = ("kept", "accepted")


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """The user's answer for one image: ``decision`` made while it was labelled ``class_id``."""

    image_id: int
    class_id: int
    decision: str
    model_id: int | None


def settled_image_ids(conn: sqlite3.Connection) -> set[int]:
    """Images whose remembered answer was given for the label they still have."""
    rows = conn.execute(
        "SELECT d.image_id FROM review_decisions d JOIN labels l "
        "ON l.image_id = d.image_id AND l.class_id = d.class_id"
    )
    return {row[0] for row in rows}


def check_decision(decision: str) -> None:
    if decision not in DECISIONS:
        raise InvalidAction(
            f"Unknown review decision {decision!r}; use one of {', '.join(DECISIONS)}."
        )


def decide(
    changes: ChangeSet, image_id: int, class_id: int, decision: str, model_id: int | None
) -> str:
    """Label the image ``class_id`` as the user's own and remember the answer, both in
    ``changes`` (one undoable action); returns the action's text."""
    check_decision(decision)
    name = labels_table.set_labels(changes, [image_id], class_id, "user")
    changes.put(
        "review_decisions",
        image_id,
        {
            "image_id": image_id,
            "class_id": class_id,
            "decision": decision,
            "model_id": model_id,
            "updated": time.time(),
        },
    )
    verb = "Keep label" if decision == "kept" else "Accept suggestion"
    return f"Review: {verb} {name}"


def read_decisions(conn: sqlite3.Connection) -> dict[int, ReviewDecision]:
    """Every remembered answer by image id, whether or not it still matches the label."""
    rows = conn.execute("SELECT image_id, class_id, decision, model_id FROM review_decisions")
    return {row[0]: ReviewDecision(*row) for row in rows}
