"""Read-only views the grid, status bar and exports need, each one query for the whole project."""

from __future__ import annotations

import sqlite3

from desktop.core.predictions_table import model_class_ids
from desktop.core.records import Counts, ImageRow


class QueriesMixin:
    """Query methods of Project (see store.py for ``_reading``)."""

    def image_rows(self, model_id: int | None = None) -> list[ImageRow]:
        """One compact row per image, in the order added, with the current model's prediction.

        A single joined query so 100,000 images load in well under a second.
        """
        model_id = model_id if model_id is not None else self.current_model_id()
        with self._reading() as conn:
            mapping = model_class_ids(conn, model_id) if model_id is not None else []
            rows = conn.execute(
                "SELECT i.id, i.path, i.status, i.error, l.class_id, l.source, "
                "p.class_index, p.confidence, p.margin FROM images i "
                "LEFT JOIN labels l ON l.image_id = i.id "
                "LEFT JOIN predictions p ON p.model_id = ? AND p.image_id = i.id "
                "ORDER BY i.id",
                (model_id if model_id is not None else -1,),
            ).fetchall()
        n = len(mapping)
        return [
            ImageRow(
                i,
                path,
                status,
                error,
                label,
                source,
                mapping[index] if index is not None and index < n else None,
                confidence,
                margin,
            )
            for i, path, status, error, label, source, index, confidence, margin in rows
        ]

    def counts(self) -> Counts:
        """How many images, labelled, unreadable, missing, and per class."""
        with self._reading() as conn:
            return _counts(conn, self._current_model_id_in(conn))

    def _current_model_id_in(self, conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'current_model'").fetchone()
        return int(row[0]) if row else None

    def labelled_images(self, *, readable_only: bool = True) -> list[tuple[str, str]]:
        """(path, class name) of labelled images, for training manifests and exports."""
        where = "WHERE i.status = 'ok'" if readable_only else ""
        with self._reading() as conn:
            return conn.execute(
                "SELECT i.path, c.name FROM labels l JOIN images i ON i.id = l.image_id "
                f"JOIN classes c ON c.id = l.class_id {where} ORDER BY i.id"
            ).fetchall()


def _counts(conn: sqlite3.Connection, model_id: int | None) -> Counts:
    total, unreadable, missing = conn.execute(
        "SELECT count(*), coalesce(sum(status = 'unreadable'), 0), "
        "coalesce(sum(status = 'missing'), 0) FROM images"
    ).fetchone()
    per_class = dict(conn.execute("SELECT class_id, count(*) FROM labels GROUP BY class_id"))
    labelled = sum(per_class.values())
    predicted = 0
    if model_id is not None:
        predicted = conn.execute(
            "SELECT count(*) FROM predictions WHERE model_id = ?", (model_id,)
        ).fetchone()[0]
    return Counts(total, labelled, total - labelled, unreadable, missing, per_class, predicted)
