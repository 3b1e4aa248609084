"""Read-only views the grid, status bar and exports need, each one query for the whole project.

They do the per-row work in SQL (joins, the model-class mapping) because at 100,000 images every
Python step per row costs a tenth of a second.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import starmap

from desktop.core.duplicates import exact_groups, merge_groups
from desktop.core.meta_table import current_model_id
from desktop.core.predictions_table import model_class_ids, version_class_names
from desktop.core.records import Counts, ImageRow
from desktop.core.stored_paths import rows_with_path

_ROWS_SQL = (
    "WITH model_classes(idx, class_id, name) AS "
    "(SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) "
    "SELECT i.id, i.path, i.status, i.error, l.class_id, l.source, m.class_id, p.confidence, "
    "p.margin, m.name FROM images i "
    "LEFT JOIN labels l ON l.image_id = i.id "
    "LEFT JOIN predictions p ON p.model_id = ? AND p.image_id = i.id "
    "LEFT JOIN model_classes m ON m.idx = p.class_index "
)


_PER_IMAGE_TABLES = frozenset({"labels", "review_decisions"})
"""History tables keyed by image id: undoing them repaints only those images' tiles."""


def image_rows(
    conn: sqlite3.Connection, model_id: int | None, ids: Iterable[int] | None = None
) -> list[ImageRow]:
    """One compact row per image, in the order added, with the model's prediction.

    ``model_id`` defaults to the current model. With ``ids``, only those images (unknown ids
    are ignored), so a label change reloads a few rows instead of 100,000. One joined query;
    the model's class index becomes the project's class id and the name the user sees here
    (``version_class_names``).
    """
    if model_id is None:
        model_id = current_model_id(conn)
    classes: list[list[object]] = []
    if model_id is not None:
        class_ids = model_class_ids(conn, model_id)
        names = version_class_names(conn, model_id)
        classes = [list(pair) for pair in zip(class_ids, names, strict=True)]
    params: list[object] = [json.dumps(classes), -1 if model_id is None else model_id]
    where = ""
    if ids is not None:
        where = "WHERE i.id IN (SELECT value FROM json_each(?)) "
        params.append(json.dumps([int(i) for i in ids]))
    rows = conn.execute(_ROWS_SQL + where + "ORDER BY i.id", params).fetchall()
    return list(starmap(ImageRow, rows_with_path(rows)))


def labels_touched_by(conn: sqlite3.Connection, action_id: int) -> list[int] | None:
    """Image ids whose label a history action changed; None if it changed classes too
    (or is unknown), because then names and colours of any tile may have changed."""
    rows = conn.execute(
        "SELECT tbl, key FROM history_changes WHERE action_id = ?", (action_id,)
    ).fetchall()
    if not rows or any(table not in _PER_IMAGE_TABLES for table, _ in rows):
        return None
    return list(dict.fromkeys(key for _, key in rows))


def counts(conn: sqlite3.Connection) -> Counts:
    """How many images, labelled, unreadable, missing, and per class."""
    return _counts(conn, current_model_id(conn))


def labelled_images(conn: sqlite3.Connection, readable_only: bool) -> list[tuple[str, str]]:
    """(path, class name) of labelled images, for training manifests and exports."""
    where = "WHERE i.status = 'ok'" if readable_only else ""
    rows = conn.execute(
        "SELECT i.path, c.name FROM labels l JOIN images i ON i.id = l.image_id "
        f"JOIN classes c ON c.id = l.class_id {where} ORDER BY i.id"
    )
    return rows_with_path(rows, column=0)


def training_rows(
    conn: sqlite3.Connection, extra: Iterable[Sequence[int]]
) -> list[tuple[str, str, str, str]]:
    """(path, class name, group, locked split) of the labelled, readable images to train on.

    The group is the image's duplicate group key (its content key, or the smallest one of a
    group merged with ``extra`` near-duplicate groups, so near copies share a split too; empty
    when not keyed yet, and then the trainer hashes the file to the same key). Copies marked
    "duplicate" are left out: the one kept stands for them. The locked split is the one a trained
    version put the image in (empty if none); a near group never merges images of two locked
    splits (``parted_by_lock``).
    """
    rows = conn.execute(
        "SELECT i.id, i.path, c.name, coalesce(i.content_key, ''), "
        "coalesce(s.split, '') FROM labels l JOIN images i ON i.id = l.image_id "
        "JOIN classes c ON c.id = l.class_id "
        "LEFT JOIN locked_splits s ON s.image_id = i.id "
        "WHERE i.status = 'ok' AND i.id NOT IN (SELECT image_id FROM duplicate_marks) "
        "ORDER BY i.id"
    ).fetchall()
    rows = rows_with_path(rows)
    locks = {image_id: split for image_id, _, _, _, split in rows if split}
    extra = [part for group in extra for part in parted_by_lock(group, locks)]
    merged = {}
    if extra:
        keys = {image_id: key for image_id, _, _, key, _ in rows if key}
        merged = merge_groups(keys, exact_groups(conn).values(), extra)
    return [
        (path, label, merged.get(image_id, key), split)
        for image_id, path, label, key, split in rows
    ]


SPLIT_PRIORITY = ("test", "val", "train")
"""Where a newcomer goes when its near copies sit in several locked splits: the most held-out."""


def parted_by_lock(group: Sequence[int], locks: dict[int, str]) -> list[list[int]]:
    """A near-duplicate group cut where its members are locked to different splits.

    Near groups come from the model in use, so each new version finds new ones; merging images a
    trained version put in different splits would move some of them (the trainer's "test wins"),
    and the next version would be scored on other test images. Locked images therefore stay in
    their split, one part per split; unlocked members join the most held-out part, so a new near
    copy of a test image is tested, never trained on.
    """
    parts: dict[str, list[int]] = {}
    free = []
    for image_id in group:
        split = locks.get(image_id)
        if split is None:
            free.append(image_id)
        else:
            parts.setdefault(split, []).append(image_id)
    if not parts:
        return [list(group)]
    held_out = min(parts, key=lambda s: SPLIT_PRIORITY.index(s) if s in SPLIT_PRIORITY else 3)
    parts[held_out] += free
    return list(parts.values())


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
