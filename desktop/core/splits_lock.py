"""Keeping the test images of projects trained before splits followed content.

Until format 3 the trainer split files by a hash of their path; now it splits by content group.
Left alone, an old project's next training run would re-split its images, and some of the test
images every earlier version was scored on would become training images (inflating the next
score). So when such a project is first opened, each image a trained version put in a split is
locked to that split (the newest version's split.csv wins), and the app passes the locks to the
trainer in the manifest's ``split`` column. Images never trained on are split by content.
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
        rows = _split_rows(Path(model_path).parent)
        if not rows:
            continue
        by_path = ids_by_path(conn, [path for path, _ in rows])
        cursor = conn.executemany(
            "INSERT INTO locked_splits (image_id, split) VALUES (?, ?) "
            "ON CONFLICT (image_id) DO NOTHING",
            [(by_path[path], split) for path, split in rows if path in by_path],
        )
        locked += max(cursor.rowcount, 0)
        log.info("locked %d images to the split of model %d", cursor.rowcount, model_id)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (PENDING_KEY, f"done: {locked}"),
    )
    return locked


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
