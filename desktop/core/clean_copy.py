"""A clean copy of a project we refused: the rows of our own tables in a fresh file beside it.

The original is opened read-only and never changed. Only objects that are real tables in it are
read (a view in place of a table is data someone computed, not rows the user made), each row goes
through our schema's constraints, and settings the store cannot use are reset in the copy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.connection import connect
from desktop.core.errors import ProjectError
from desktop.core.paths import PROJECT_SUFFIX
from desktop.core.project_check import check_settings, expected_schema, model_info_ok, names_row
from desktop.core.schema import inspect_version, migrate

_CHUNK = 1000


@dataclass
class CleanCopy:
    """Where the copy went and what it left out, for the message to the user."""

    path: Path
    copied: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    """Rows per table that our constraints refused (or a view's rows: never copied)."""

    def summary(self) -> str:
        rows = sum(self.copied.values())
        text = f"Copied {rows:,} rows into {self.path.name}; the original was not changed."
        if self.left_out:
            parts = ", ".join(f"{n:,} from {table}" for table, n in sorted(self.left_out.items()))
            text += f" Left out rows that do not fit a Pigeonhole project: {parts}."
        return text


def make_clean_copy(source: Path) -> CleanCopy:
    """Copy the rows of our tables from ``source`` into a new project file next to it."""
    source = Path(source).expanduser().absolute()
    original = connect(source, uri=True, mode="ro")
    try:
        version = inspect_version(original, source)
        if version == 0:
            raise ProjectError(f"{source.name} holds no Pigeonhole data to copy.")
        target = _free_name(source)
        result = CleanCopy(target)
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            migrate(copy, 0, version)
            copy.execute("PRAGMA foreign_keys = ON")
            copy.execute("BEGIN IMMEDIATE")
            for table in _our_tables(version):
                _copy_table(original, copy, table, result)
            _reset_unusable_settings(copy)
            copy.execute("COMMIT")
            migrate(copy, version)
            check_settings(copy, target)
        except BaseException:
            copy.close()
            target.unlink(missing_ok=True)
            raise
        copy.close()
    except sqlite3.Error as exc:
        raise ProjectError(f"Could not make a clean copy of {source.name}: {exc}.") from exc
    finally:
        original.close()
    return result


def _free_name(source: Path) -> Path:
    stem = source.name.removesuffix(PROJECT_SUFFIX)
    for n in range(1, 1000):
        suffix = " (clean copy)" if n == 1 else f" (clean copy {n})"
        candidate = source.with_name(f"{stem}{suffix}{PROJECT_SUFFIX}")
        if not candidate.exists():
            return candidate
    raise ProjectError(f"Too many clean copies of {source.name} already; remove some first.")


def _our_tables(version: int) -> list[str]:
    """Our tables in creation order, so rows a foreign key points to are copied first."""
    return [name for kind, name in expected_schema(version) if kind == "table"]


def _copy_table(
    original: sqlite3.Connection, copy: sqlite3.Connection, table: str, result: CleanCopy
) -> None:
    row = original.execute(
        "SELECT type, sql FROM sqlite_master WHERE name = ?", (table,)
    ).fetchone()
    if row is None or row[0] != "table" or not str(row[1]).upper().startswith("CREATE TABLE"):
        return  # missing, a view, or a virtual table: nothing of the user's to copy
    ours = [info[1] for info in copy.execute(f'PRAGMA table_info("{table}")')]
    theirs = {info[1] for info in original.execute(f'PRAGMA table_info("{table}")')}
    columns = [name for name in ours if name in theirs]
    names = ", ".join(f'"{name}"' for name in columns)
    verb = "INSERT OR REPLACE" if table == "meta" else "INSERT"
    insert = f'{verb} INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    copied = refused = 0
    for chunk in _chunks(original.execute(f'SELECT {names} FROM "{table}"')):
        done = _insert_chunk(copy, insert, chunk)
        copied += done
        refused += len(chunk) - done
    result.copied[table] = copied
    if refused:
        result.left_out[table] = refused


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[tuple]]:
    while rows := cursor.fetchmany(_CHUNK):
        yield rows


def _insert_chunk(copy: sqlite3.Connection, insert: str, rows: list[tuple]) -> int:
    """Insert all rows at once, or one by one when some break our constraints."""
    copy.execute("SAVEPOINT chunk")
    try:
        copy.executemany(insert, rows)
        copy.execute("RELEASE chunk")
        return len(rows)
    except sqlite3.IntegrityError:
        copy.execute("ROLLBACK TO chunk")
        copy.execute("RELEASE chunk")
    done = 0
    for row in rows:
        try:
            copy.execute(insert, row)
            done += 1
        except sqlite3.IntegrityError:
            continue
    return done


def _reset_unusable_settings(copy: sqlite3.Connection) -> None:
    """Settings the store cannot use get the value a fresh project would have."""
    bad = [
        model_id
        for model_id, info, metrics in copy.execute("SELECT id, info, metrics FROM models")
        if not model_info_ok(info, metrics)
    ]
    copy.executemany("DELETE FROM models WHERE id = ?", [(model_id,) for model_id in bad])
    newest = copy.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0]
    cursor = copy.execute("SELECT value FROM meta WHERE key = 'history_cursor'").fetchone()
    if cursor is None or not (cursor[0] == "0" or names_row(copy, "history", cursor[0])):
        copy.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('history_cursor', ?)", (str(newest),)
        )
    current = copy.execute("SELECT value FROM meta WHERE key = 'current_model'").fetchone()
    if current is not None and not names_row(copy, "models", current[0]):
        copy.execute("DELETE FROM meta WHERE key = 'current_model'")
