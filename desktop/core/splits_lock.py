"""Keeping each image in the split it was first trained in, so versions are scored alike.

The trainer splits by content group, and a near-duplicate group depends on the embeddings of
the model in use; left alone, the next training would re-split some images, a test image of one
version would become a training image of the next, and the two versions' test accuracies would
be measured on different images (the next one inflated). So every version registered from a run
folder locks its images to the splits its ``split.csv`` gave them, and the app passes the locks to
the trainer in the manifest's ``split`` column. Images never trained on are split by content.

Projects from before splits followed content (format 3) get the same once, when first opened:
each image an old version put in a split is locked to it (the newest version's split.csv wins).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from desktop.core.images_table import ids_by_path
from desktop.core.version_data import VersionDataError, absolute_split_path, data_root_of
from trainer.run_folder import SPLIT_FILE
from trainer.split import read_split_csv

log = logging.getLogger(__name__)

PENDING_KEY = "lock_old_splits"


def locked_splits(conn: sqlite3.Connection) -> dict[int, str]:
    """image id -> the split an old version trained it in."""
    return dict(conn.execute("SELECT image_id, split FROM locked_splits"))


def lock_old_splits(conn: sqlite3.Connection) -> int:
    """Lock every image the old versions split, in the caller's transaction; returns how many.

    A run folder that is gone or unreadable is skipped (its images are split by content).
    """
    locked = 0
    models = conn.execute("SELECT id, path FROM models ORDER BY id DESC").fetchall()
    for model_id, model_path in models:
        locked += _lock(conn, _split_rows(Path(model_path).parent), replace=False)
        log.info("locked the split of model %d", model_id)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (PENDING_KEY, f"done: {locked}"),
    )
    return locked


def lock_run_split(conn: sqlite3.Connection, model_path: str | Path) -> int:
    """Lock the project's images to the splits of the run folder holding ``model_path``.

    The run's split wins over an older lock: the trainer kept every locked image where it was,
    except where a new near-duplicate group joined images of different splits (test wins), and
    the lock must say where the image is now. A model without a split.csv locks nothing.
    """
    return _lock(conn, _split_rows(Path(model_path).parent), replace=True)


def _lock(conn: sqlite3.Connection, rows: list[tuple[str, str]], replace: bool) -> int:
    """Lock the images among (absolute path, split) rows that the project has; how many."""
    if not rows:
        return 0
    by_path = ids_by_path(conn, [path for path, _ in rows])
    on_conflict = "DO UPDATE SET split = excluded.split" if replace else "DO NOTHING"
    cursor = conn.executemany(
        f"INSERT INTO locked_splits (image_id, split) VALUES (?, ?) ON CONFLICT (image_id) "
        f"{on_conflict}",
        [(by_path[path], split) for path, split in rows if path in by_path],
    )
    return max(cursor.rowcount, 0)


def _split_rows(run_dir: Path) -> list[tuple[str, str]]:
    """(absolute path, split) from a run's split.csv; empty when there is none to read."""
    split_csv = run_dir / SPLIT_FILE
    try:
        if not split_csv.is_file():
            return []
        root = data_root_of(run_dir)
        return [
            (absolute_split_path(rel, root), split) for rel, _, split in read_split_csv(split_csv)
        ]
    except (OSError, ValueError, KeyError, VersionDataError) as exc:
        log.warning("could not read %s to lock its split: %s", split_csv, exc)
        return []
