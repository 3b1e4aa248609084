"""Opening a project's SQLite file safely: the writer lock, the connection, and error messages.

Kept apart from the store so the rules for "is this file safe to write?" live in one place.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import filelock

from desktop.core.errors import ProjectError, ProjectLocked, ReadOnlyProject
from desktop.core.project_check import check_project_file
from desktop.core.schema import SCHEMA_VERSION, inspect_version, migrate

T = TypeVar("T")
IN_CHUNK = 900
"""Values per ``IN (...)``: older SQLite builds bind at most 999 parameters per statement."""


def in_chunks(values: Sequence[T]) -> Iterator[tuple[Sequence[T], str]]:
    """Slices of ``values`` small enough for one ``IN (...)``, each with its ``?,?,…`` marks."""
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


PathLike = str | os.PathLike[str]


def lock_path_for(path: PathLike) -> Path:
    """The single-writer lock file that sits next to a project file."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def acquire_lock(path: Path) -> filelock.BaseFileLock:
    lock = filelock.FileLock(lock_path_for(path), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise ProjectLocked(
            f"{path.name} is open in another Pigeonhole window or process. "
            "Close it there, or open this project read-only."
        ) from exc
    except OSError as exc:
        raise ReadOnlyProject(
            f"Cannot write next to {path.name} in {path.parent} ({exc.strerror}). "
            "Open it read-only, or copy it to a folder you can write to."
        ) from exc
    return lock


def connect(
    path: Path, *, uri: bool, mode: str = "rwc", immutable: bool = False
) -> sqlite3.Connection:
    if uri:
        target = path.as_uri() + f"?mode={mode}" + ("&immutable=1" if immutable else "")
    else:
        target = os.fspath(path)
    try:
        conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ProjectError(f"Could not open {path.name}: {exc}.") from exc
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    # A file from someone else may carry views or triggers: they must not call side effects.
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def migrate_or_explain(conn: sqlite3.Connection, version: int, path: Path) -> None:
    try:
        migrate(conn, version)
    except sqlite3.Error as exc:
        rollback(conn)
        raise translate(exc, path) from exc


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def translate(exc: sqlite3.Error, path: Path) -> ProjectError:
    """Turn an SQLite failure into a message for the user; the transaction is already undone."""
    message = str(exc)
    if "disk is full" in message or "disk I/O error" in message:
        return ProjectError(
            f"Could not save to {path.name}: the disk is full or failing. Nothing was changed; "
            "free some space and try again."
        )
    if "readonly" in message:
        return ReadOnlyProject(f"{path.name} cannot be written ({message}). Nothing was changed.")
    if "locked" in message or "busy" in message:
        return ProjectLocked(
            f"{path.name} is busy in another process; nothing was changed. Try again."
        )
    return ProjectError(f"Could not save to {path.name} ({message}). Nothing was changed.")


def open_writable(path: Path) -> tuple[sqlite3.Connection, filelock.BaseFileLock]:
    """The writer lock and a connection to ``path``, upgraded to the current schema.

    A foreign file is checked before anything writes, so it stays as it was when refused.
    """
    lock = acquire_lock(path)
    try:
        conn = connect(path, uri=False)
        try:
            version = inspect_version(conn, path)
            if version > 0:  # before anything writes: a foreign file stays as it was
                check_project_file(conn, version, path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            if version < SCHEMA_VERSION:
                migrate_or_explain(conn, version, path)
        except BaseException:
            conn.close()
            raise
    except BaseException:
        lock.release()
        raise
    return conn, lock


def open_read_only(path: Path) -> sqlite3.Connection:
    """A query-only connection to an existing, current project file."""
    if not path.is_file():
        raise ProjectError(f"{path} does not exist (moved or deleted?).")
    conn = None
    try:
        try:
            conn = connect(path, uri=True, mode="ro")
            version = inspect_version(conn, path)
        except sqlite3.OperationalError:
            # No write access to the folder for WAL's shared-memory file: read it as a snapshot.
            if conn is not None:
                conn.close()
            conn = connect(path, uri=True, mode="ro", immutable=True)
            version = inspect_version(conn, path)
        if version < SCHEMA_VERSION:
            raise ProjectError(
                f"{path.name} was made by an older Pigeonhole and must be upgraded before it "
                "can be read; open it once for writing."
            )
        check_project_file(conn, version, path)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise ProjectError(f"Could not read {path.name}: {exc}.") from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn
