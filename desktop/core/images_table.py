"""The images a project knows: adding files once, and flagging unreadable or missing ones.

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

_BATCH = 5000
_MARK_UNREADABLE = (
    "UPDATE images SET status = 'unreadable', error = ? WHERE id = ? AND status != 'missing'"
)
"""A file found missing stays missing: failing to decode a file that is gone says nothing new."""


class ImagesMixin:
    """Image-table methods of Project (see store.py for ``_reading``/``_writing``)."""

    def add_images(self, files: Iterable[str | os.PathLike[str] | FoundFile]) -> list[int]:
        """Add files (the same path is never added twice) and return their ids in order.

        Paths are made absolute. FoundFile records from the scanner carry size and mtime; plain
        paths are stat'ed here, and a path that cannot be stat'ed is added flagged missing. A
        known path that was flagged missing is brought back. Commits in batches, so the grid
        can show images while a big folder is still being added.
        """
        found = [_as_found(item) for item in files]
        ids: list[int] = []
        for start in range(0, len(found), _BATCH):
            ids.extend(self._add_batch(found[start : start + _BATCH]))
        return ids

    def _add_batch(self, batch: list[tuple[str, int | None, float | None]]) -> list[int]:
        now = time.time()
        with self._writing() as conn:
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
                [
                    (to_db(path), size, mtime, *_status_for(size), now)
                    for path, size, mtime in batch
                ],
            )
            by_path = ids_by_path(conn, [path for path, _, _ in batch])
        return [by_path[path] for path, _, _ in batch]

    def image_ids_by_path(self, paths: Sequence[str | os.PathLike[str]]) -> dict[str, int]:
        """Ids of the given paths that are in the project, keyed by absolute path."""
        with self._reading() as conn:
            return ids_by_path(conn, [os.path.abspath(os.fspath(p)) for p in paths])

    def image(self, image_id: int) -> ImageRecord:
        """Everything about one image, for the preview pane."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT i.id, i.path, i.size, i.mtime, i.status, i.error, i.added, l.class_id, "
                "l.source FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.id = ?",
                (image_id,),
            ).fetchone()
        if row is None:
            raise InvalidAction(f"There is no image with id {image_id} in this project.")
        return ImageRecord(*rows_with_path([row])[0])

    def image_files(self) -> list[tuple[int, str, int | None, float | None, str]]:
        """(id, path, size, mtime, status) of every image, for rescans."""
        with self._reading() as conn:
            rows = conn.execute("SELECT id, path, size, mtime, status FROM images ORDER BY id")
            return rows_with_path(rows)

    def mark_unreadable(self, image_id: int, reason: str) -> None:
        """Flag a file we could not decode, with the reason to show on its tile."""
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise InvalidAction(f"There is no image with id {image_id} in this project.")
            conn.execute(_MARK_UNREADABLE, (shown(str(reason)) or "unreadable", image_id))

    def mark_unreadable_many(self, rows: Iterable[tuple[int, str]]) -> None:
        """Flag many (image id, reason) at once, e.g. one classification batch."""
        with self._writing() as conn:
            conn.executemany(
                _MARK_UNREADABLE,
                [(shown(str(reason)) or "unreadable", image_id) for image_id, reason in rows],
            )

    def mark_ok(self, image_ids: Iterable[int]) -> None:
        """Clear the unreadable flag (e.g. the file was fixed and decodes now)."""
        self._set_status(image_ids, "ok", None, only_from=("unreadable",))

    def mark_missing(self, image_ids: Iterable[int]) -> None:
        """Flag files that are gone; their labels stay."""
        self._set_status(image_ids, "missing", "file not found (moved or deleted?)")

    def mark_present(self, image_ids: Iterable[int]) -> None:
        """Bring back files that reappeared (they will be decoded again)."""
        self._set_status(image_ids, "ok", None, only_from=("missing",))

    def _set_status(
        self,
        image_ids: Iterable[int],
        status: str,
        error: str | None,
        only_from: tuple[str, ...] = ("ok", "unreadable", "missing"),
    ) -> None:
        ids = list(image_ids)
        marks = ",".join("?" * len(only_from))
        with self._writing() as conn:
            conn.executemany(
                f"UPDATE images SET status = ?, error = ? WHERE id = ? AND status IN ({marks})",
                [(status, error, i, *only_from) for i in ids],
            )

    def update_file_info(self, rows: Iterable[tuple[int, int, float]]) -> None:
        """Store new (id, size, mtime) of changed files; a changed file gets another chance, and
        its content key is computed again (its bytes may be another picture now)."""
        with self._writing() as conn:
            conn.executemany(
                "UPDATE images SET size = ?2, mtime = ?3, status = 'ok', error = NULL, "
                "content_key = NULL WHERE id = ?1",
                list(rows),
            )


def _status_for(size: int | None) -> tuple[str, str | None]:
    if size is None:
        return "missing", "file not found (moved or deleted?)"
    return "ok", None


def _as_found(item: str | os.PathLike[str] | FoundFile) -> tuple[str, int | None, float | None]:
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
