"""Checking a project file from someone else before trusting it: its schema and its settings.

A valid project with one extra TRIGGER can delete labels behind the user's back (and undo would not
know); a VIEW in place of a table shows an empty project. So on open the file's ``sqlite_master``
must be exactly what our own migrations create for its version: the expected schema is built by
running ``schema.migrate`` on an in-memory database, so it stays right as migrations are added.
The few settings the store reads from ``meta`` are checked too, so a bad value is a clear message
instead of a ValueError and an empty grid.
"""

from __future__ import annotations

import json
import re
import sqlite3
from functools import cache
from pathlib import Path

from desktop.core.errors import ProjectError
from desktop.core.schema import migrate

SchemaObject = tuple[str, str]
"""(type, name) of an entry in sqlite_master: ("table", "labels"), ("trigger", "x")..."""

_WHITESPACE = re.compile(r"\s+")
_ID = re.compile(r"0|[1-9][0-9]{0,17}")


class UntrustedProject(ProjectError):
    """A project file we refuse to open as it is; it was not changed.

    ``clean_copy.make_clean_copy(error.path)`` copies the rows of our own tables into a fresh
    project beside it, which can then be opened.
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class ForeignSchema(UntrustedProject):
    """The file holds tables, views or triggers Pigeonhole never made (or lacks ours)."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        super().__init__(
            path,
            f"{path.name} contains things Pigeonhole never creates ({shown}). They could change "
            "or hide your labels, so the file was not opened and was left unchanged. A clean "
            "copy with its data can be made and opened instead.",
        )
        self.problems = problems


class BadSetting(UntrustedProject):
    """A value in the project's ``meta`` table (or a model record) the store cannot use."""


def check_project_file(conn: sqlite3.Connection, version: int, path: Path) -> None:
    """Refuse a file whose schema or settings are not ours; reads only."""
    try:
        problems = schema_differences(conn, version)
        if problems:
            raise ForeignSchema(path, problems)
        check_settings(conn, path)
    except sqlite3.Error as exc:
        raise ProjectError(f"Could not read {path.name}: {exc}.") from exc


def schema_differences(conn: sqlite3.Connection, version: int) -> list[str]:
    """What differs between the file's schema and ours at ``version`` (empty: identical)."""
    expected = expected_schema(version)
    actual = read_schema(conn)
    problems = []
    for (kind, name), sql in sorted(actual.items()):
        if (kind, name) not in expected:
            problems.append(f"an unknown {kind} '{name}'")
        elif expected[kind, name] != sql:
            problems.append(f"a changed {kind} '{name}'")
    for kind, name in sorted(expected.keys() - actual.keys()):
        problems.append(f"no {kind} '{name}'")
    return problems


@cache
def expected_schema(version: int) -> dict[SchemaObject, str]:
    """The schema our migrations create at ``version``, normalised for comparison."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(memory, 0, version)
        return read_schema(memory)
    finally:
        memory.close()


def read_schema(conn: sqlite3.Connection) -> dict[SchemaObject, str]:
    """sqlite_master without SQLite's own bookkeeping, each statement's whitespace collapsed.

    Only SQLite's automatic indexes (no SQL) and its statistics tables are left out: anything
    else named ``sqlite_…`` can only have been written into the schema by hand, and is compared.
    """
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE NOT (type = 'index' AND sql IS NULL) AND NOT (type = 'table' AND name IN "
        "('sqlite_sequence', 'sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', 'sqlite_stat4')) "
        "ORDER BY rowid"
    ).fetchall()
    return {(kind, name): f"{table}: {_normal(sql)}" for kind, name, table, sql in rows}


def check_settings(conn: sqlite3.Connection, path: Path) -> None:
    """The meta values and model records the store parses must parse; BadSetting says which."""
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    cursor = meta.get("history_cursor", "0")
    if cursor != "0" and not names_row(conn, "history", cursor):
        raise _damaged(path, f"its undo position ({_shown(cursor)}) names no action")
    current = meta.get("current_model")
    if current not in (None, "") and not names_row(conn, "models", current):
        raise _damaged(path, f"its current model ({_shown(current)}) is not in the file")
    for model_id, info, metrics in conn.execute("SELECT id, info, metrics FROM models"):
        if not model_info_ok(info, metrics):
            raise _damaged(path, f"the record of model {model_id} cannot be read")


def _damaged(path: Path, what: str) -> BadSetting:
    return BadSetting(
        path,
        f"{path.name} is damaged: {what}. It was not opened and was left unchanged; a clean "
        "copy with its data (and that setting reset) can be made and opened instead.",
    )


def names_row(conn: sqlite3.Connection, table: str, value: object) -> bool:
    """True when ``value`` is the text of an id that ``table`` (one of ours) has."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        return False
    query = f"SELECT 1 FROM {table} WHERE id = ?"
    return conn.execute(query, (int(value),)).fetchone() is not None


def model_info_ok(info: object, metrics: object) -> bool:
    """A model record the store can read: info with a list of class names, metrics a dict."""
    parsed = _json(info)
    if not isinstance(parsed, dict) or not isinstance(_json(metrics), dict):
        return False
    names = parsed.get("classes")
    return isinstance(names, list) and all(isinstance(name, str) for name in names)


def _json(text: object) -> object:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + "…" if len(text) > 40 else text)


def _normal(sql: str | None) -> str:
    return _WHITESPACE.sub(" ", sql or "").strip()
