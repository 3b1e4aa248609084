"""The images table: adding files once, and flagging unreadable or missing ones.

These are facts about files, not user decisions, so they are not undoable. Images are never
removed from the project: a file that disappears is flagged missing and keeps its label.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence

from desktop.core.connection import in_chunks
from desktop.core.errors import InvalidAction
from desktop.core.records import FoundFile, ImageRecord
from desktop.core.stored_paths import from_db, rows_with_path, to_db
from trainer.file_names import shown

BATCH = 5000
"""Images added per transaction, so the grid can show images while a big folder is added."""
MISSING = "file not found (moved or deleted?)"
FoundRow = tuple[str, int | None, float | None]
_MARK_UNREADABLE = (
    "UPDATE images SET status = 'unreadable', error = ? WHERE id = ? AND status != 'missing'"
)
"""A file found missing stays missing: failing to decode a file that is gone says nothing new."""


def add_batch(conn: sqlite3.Connection, batch: Sequence[FoundRow]) -> list[int]:
    """Add one batch of (path, size, mtime) and return their ids in order (see
    ``Project.add_images`` for what happens to known paths)."""
    now = time.time()
    conn.executemany(
        "INSERT INTO images (path, size, mtime, status, error, added) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (path) DO UPDATE SET "
        "status = CASE WHEN excluded.status = 'missing' THEN 'missing' "
        "WHEN status = 'missing' OR size IS NOT excluded.size "
        "OR mtime IS NOT excluded.mtime THEN 'ok' ELSE status END, "
        "error = CASE WHEN excluded.status = 'missing' THEN excluded.error "
        "WHEN status = 'missing' OR size IS NOT excluded.size "
        "OR mtime IS NOT excluded.mtime THEN NULL ELSE error END, "
        "content_key = CASE WHEN size IS NOT excluded.size OR mtime IS NOT excluded.mtime "
        "THEN NULL ELSE content_key END, "
        "size = coalesce(excluded.size, size), mtime = coalesce(excluded.mtime, mtime)",
        [(to_db(path), size, mtime, *_status_for(size), now) for path, size, mtime in batch],
    )
    by_path = ids_by_path(conn, [path for path, _, _ in batch])
    return [by_path[path] for path, _, _ in batch]


def found_rows(files: Iterable[str | os.PathLike[str] | FoundFile]) -> list[FoundRow]:
    """(absolute path, size, mtime) of each file; size and mtime are None for one not there."""
    return [_as_found(item) for item in files]


def image(conn: sqlite3.Connection, image_id: int) -> ImageRecord:
    """Everything about one image, for the preview pane."""
    row = conn.execute(
        "SELECT i.id, i.path, i.size, i.mtime, i.status, i.error, i.added, l.class_id, "
        "l.source FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.id = ?",
        (image_id,),
    ).fetchone()
    if row is None:
        raise InvalidAction(f"There is no image with id {image_id} in this project.")
    return ImageRecord(*rows_with_path([row])[0])


def image_files(conn: sqlite3.Connection) -> list[tuple[int, str, int | None, float | None, str]]:
    """(id, path, size, mtime, status) of every image, for rescans."""
    rows = conn.execute("SELECT id, path, size, mtime, status FROM images ORDER BY id")
    return rows_with_path(rows)


def mark_unreadable(conn: sqlite3.Connection, image_id: int, reason: str) -> None:
    """Flag a file we could not decode, with the reason to show on its tile."""
    if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
        raise InvalidAction(f"There is no image with id {image_id} in this project.")
    conn.execute(_MARK_UNREADABLE, (shown(str(reason)) or "unreadable", image_id))


def mark_unreadable_many(conn: sqlite3.Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Flag many (image id, reason) at once, e.g. one classification batch."""
    conn.executemany(
        _MARK_UNREADABLE,
        [(shown(str(reason)) or "unreadable", image_id) for image_id, reason in rows],
    )


def set_status(
    conn: sqlite3.Connection,
    image_ids: Iterable[int],
    status: str,
    error: str | None,
    only_from: tuple[str, ...] = ("ok", "unreadable", "missing"),
) -> None:
    """Set the status of images whose status is now one of ``only_from``."""
    marks = ",".join("?" * len(only_from))
    conn.executemany(
        f"UPDATE images SET status = ?, error = ? WHERE id = ? AND status IN ({marks})",
        [(status, error, i, *only_from) for i in image_ids],
    )


def update_file_info(conn: sqlite3.Connection, rows: Iterable[tuple[int, int, float]]) -> None:
    """Store new (id, size, mtime) of changed files; a changed file gets another chance, and
    its content key is computed again (its bytes may be another picture now)."""
    conn.executemany(
        "UPDATE images SET size = ?2, mtime = ?3, status = 'ok', error = NULL, "
        "content_key = NULL WHERE id = ?1",
        list(rows),
    )


def _status_for(size: int | None) -> tuple[str, str | None]:
    if size is None:
        return "missing", MISSING
    return "ok", None


def _as_found(item: str | os.PathLike[str] | FoundFile) -> FoundRow:
    if isinstance(item, FoundFile):
        return os.path.abspath(item.path), item.size, item.mtime
    path = os.path.abspath(os.fspath(item))
    try:
        stat = os.stat(path)
    except OSError:
        return path, None, None
    return path, stat.st_size, stat.st_mtime


def ids_by_path(conn: sqlite3.Connection, paths: list[str]) -> dict[str, int]:
    """Image ids of the given paths that are in the project (in chunks: SQLite's variable limit)."""
    found: dict[str, int] = {}
    for chunk, marks in in_chunks([to_db(path) for path in paths]):
        rows = conn.execute(f"SELECT path, id FROM images WHERE path IN ({marks})", chunk)
        found.update((from_db(path), image_id) for path, image_id in rows)
    return found
