"""Images by content: their content keys, finding them by key, and pointing one at a new path.

An image is its bytes, not its path: labels, predictions, marks and history refer to the image's
id, so when its file moves only ``images.path`` changes. Relinking never deletes a file; it may
remove the row the scan just made for the moved file, but only when that row holds nothing the
user gave (no label, mark, locked split or history), because that row IS the moved image.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop.core.connection import in_chunks
from desktop.core.images_table import ids_by_path
from desktop.core.stored_paths import from_db, rows_with_path, to_db


@dataclass(frozen=True, slots=True)
class Relinked:
    """One image found again: ``image_id`` now points at ``path``; ``absorbed`` is the id of the
    scan's row for that path that was folded into it (None when there was none)."""

    image_id: int
    path: str
    absorbed: int | None


_USER_DATA = (
    ("labels", "image_id"),
    ("duplicate_marks", "image_id"),
    ("duplicate_marks", "kept_id"),
    ("locked_splits", "image_id"),
    ("review_decisions", "image_id"),
)


def images_without_key(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(id, path) of images not yet keyed whose file was there when last seen."""
    rows = conn.execute(
        "SELECT id, path FROM images WHERE content_key IS NULL AND status != 'missing' ORDER BY id"
    ).fetchall()
    return rows_with_path(rows)


def set_content_keys(conn: sqlite3.Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Store (id, content key) pairs computed behind the scan."""
    conn.executemany("UPDATE images SET content_key = ?2 WHERE id = ?1", [(i, k) for i, k in rows])


def content_key(conn: sqlite3.Connection, image_id: int) -> str | None:
    row = conn.execute("SELECT content_key FROM images WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else None


def image_ids_by_content(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, list[int]]:
    """key -> ids of the images with that content (several when there are copies)."""
    found: dict[str, list[int]] = defaultdict(list)
    for chunk, marks in in_chunks(list(keys)):
        rows = conn.execute(
            f"SELECT content_key, id FROM images WHERE content_key IN ({marks}) ORDER BY id",
            chunk,
        )
        for key, image_id in rows:
            found[key].append(image_id)
    return dict(found)


def take_over_moved(conn: sqlite3.Connection) -> list[Relinked]:
    """Let each missing image take over a newer row with the same content, and say which.

    The newer row is the moved or renamed file as the scan found it; when it carries no user
    data it is folded into the missing image, which keeps its id and so its labels, history,
    predictions and split. Pairs are made per key in id order (two moved copies of one photo
    take over two rows).
    """
    pairs = _moved_pairs(conn)
    return [done for old, new in pairs if (done := _absorb(conn, old, new)) is not None]


def relink(conn: sqlite3.Connection, moves: Sequence[tuple[int, str]]) -> list[Relinked]:
    """Point images at the files the user located (Locate Folder…): (image id, new path).

    A new path the project already knows as another row is absorbed when that row holds no
    user data, and skipped otherwise (it stays a separate image, a duplicate of this one).
    """
    done: list[Relinked] = []
    known = dict(ids_by_path(conn, [path for _, path in moves]))
    busy = _user_data_ids(conn, list(known.values()))
    for image_id, path in moves:
        other = known.get(path)
        if other == image_id or other in busy:
            continue
        if other is not None:
            if (absorbed := _absorb(conn, image_id, other)) is not None:
                done.append(absorbed)
        elif _point_at(conn, image_id, path):
            done.append(Relinked(image_id, path, None))
    return done


def missing_under(
    conn: sqlite3.Connection, folder: str
) -> list[tuple[int, str, int | None, str | None]]:
    """(id, path, size, content key) of missing images below ``folder``."""
    prefix = os.path.join(os.path.abspath(folder), "")
    rows = conn.execute(
        "SELECT id, path, size, content_key FROM images WHERE status = 'missing' "
        "AND substr(path, 1, ?) = ? ORDER BY id",
        (len(prefix), prefix),
    ).fetchall()
    return rows_with_path(rows)


def _moved_pairs(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(missing image, newer present row with its content and no user data) pairs.

    "Missing" is checked on disk, not only by status: a thumbnail may have flagged the gone file
    unreadable before the rescan flagged it missing.
    """
    rows = conn.execute(
        "SELECT content_key, id, path, status FROM images WHERE content_key IN ("
        "SELECT content_key FROM images WHERE content_key IS NOT NULL "
        "GROUP BY content_key HAVING count(*) > 1) ORDER BY id"
    ).fetchall()
    missing: dict[str, list[int]] = defaultdict(list)
    present: dict[str, list[int]] = defaultdict(list)
    for key, image_id, path, status in rows:
        gone = status == "missing" or not os.path.exists(path)
        (missing if gone else present)[key].append(image_id)
    busy = _user_data_ids(conn, [i for ids in present.values() for i in ids])
    pairs = []
    for key, olds in missing.items():
        news = [i for i in present.get(key, []) if i > olds[0] and i not in busy]
        pairs += list(zip(olds, news, strict=False))
    return pairs


def _user_data_ids(conn: sqlite3.Connection, image_ids: list[int]) -> set[int]:
    """The ids among ``image_ids`` holding anything the user gave: a label, a mark, a locked
    split, or a place in the undo history."""
    busy: set[int] = set()
    for table, column in _USER_DATA:
        for chunk, marks in in_chunks(image_ids):
            sql = f"SELECT {column} FROM {table} WHERE {column} IN ({marks})"
            busy.update(row[0] for row in conn.execute(sql, chunk))
    if image_ids:
        wanted = set(image_ids)
        in_history = conn.execute(
            "SELECT DISTINCT key FROM history_changes "
            "WHERE tbl IN ('labels', 'duplicate_marks', 'review_decisions')"
        )
        busy.update(row[0] for row in in_history if row[0] in wanted)
    return busy


def _absorb(conn: sqlite3.Connection, image_id: int, scanned_id: int) -> Relinked | None:
    """Fold the scan's row ``scanned_id`` into ``image_id``: the image now lives at its path.

    In a savepoint, so a row that some other table still refers to (a foreign key we do not
    know about) is left as it was instead of failing the whole relink: None then.
    """
    path, size, mtime, key = conn.execute(
        "SELECT path, size, mtime, content_key FROM images WHERE id = ?", (scanned_id,)
    ).fetchone()
    conn.execute("SAVEPOINT absorb")
    try:
        conn.execute("DELETE FROM predictions WHERE image_id = ?", (scanned_id,))
        conn.execute("DELETE FROM images WHERE id = ?", (scanned_id,))
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO absorb")
        conn.execute("RELEASE absorb")
        return None
    conn.execute("RELEASE absorb")
    conn.execute(
        "UPDATE images SET path = ?, size = ?, mtime = ?, content_key = coalesce(?, content_key), "
        "status = 'ok', error = NULL WHERE id = ?",
        (path, size, mtime, key, image_id),
    )
    return Relinked(image_id, from_db(path), scanned_id)


def _point_at(conn: sqlite3.Connection, image_id: int, path: str) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return False
    conn.execute(
        "UPDATE images SET path = ?, size = ?, mtime = ?, status = 'ok', error = NULL WHERE id = ?",
        (to_db(path), stat.st_size, stat.st_mtime, image_id),
    )
    return True
