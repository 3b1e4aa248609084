"""The undo log, stored in the project so undo and redo survive a restart.

An action is a list of row-level changes (table, key, row before, row after) written in the same
transaction as the change itself. Undo writes the "before" rows back in reverse order, redo writes
the "after" rows in order; ``meta.history_cursor`` is the id of the newest applied action. Replaying
rows (rather than re-running commands) means undo cannot disagree with what actually happened.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from desktop.core.connection import in_chunks
from desktop.core.records import Action
from trainer.file_names import shown

HISTORY_LIMIT = 1000
"""Oldest actions beyond this many are forgotten, so the file does not grow without bound."""

# table -> (key column, all columns, columns that do not make a row "different")
TRACKED: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "classes": ("id", ("id", "name", "colour", "position"), frozenset()),
    "labels": ("image_id", ("image_id", "class_id", "source", "updated"), frozenset({"updated"})),
    "duplicate_marks": ("image_id", ("image_id", "kept_id"), frozenset()),
    "review_decisions": (
        "image_id",
        ("image_id", "class_id", "decision", "model_id", "updated"),
        frozenset({"updated"}),
    ),
}

Row = dict[str, object]


@dataclass(frozen=True, slots=True)
class Change:
    table: str
    key: int
    before: Row | None
    after: Row | None


class ChangeSet:
    """Writes tracked rows and remembers each before/after pair for the history."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.changes: list[Change] = []

    def put(self, table: str, key: int, after: Row | None) -> None:
        """Set one row (None deletes it), recording the change if it is a real one."""
        self.put_many(table, {key: after})

    def put_many(self, table: str, afters: Mapping[int, Row | None]) -> None:
        """Set many rows of one table at once: one bulk read, one bulk write."""
        befores = read_rows(self.conn, table, list(afters))
        ignored = TRACKED[table][2]
        new = [
            Change(table, key, befores.get(key), after)
            for key, after in afters.items()
            if not _same(befores.get(key), after, ignored)
        ]
        write_changes(self.conn, [(c.table, c.key, c.after) for c in new])
        self.changes.extend(new)


def _same(before: Row | None, after: Row | None, ignored: frozenset[str]) -> bool:
    if before is None or after is None:
        return before is after
    return all(before.get(k) == after.get(k) for k in after if k not in ignored)


def read_rows(conn: sqlite3.Connection, table: str, keys: list[int]) -> dict[int, Row]:
    """Current rows of a tracked table by key (absent keys are missing from the result)."""
    key_col, cols, _ = TRACKED[table]
    found: dict[int, Row] = {}
    for chunk, marks in in_chunks(keys):
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {key_col} IN ({marks})"
        for values in conn.execute(sql, chunk):
            row = dict(zip(cols, values, strict=True))
            found[row[key_col]] = row
    return found


def write_changes(conn: sqlite3.Connection, rows: list[tuple[str, int, Row | None]]) -> None:
    """Apply (table, key, row-or-None) in order, batching runs of the same table and kind."""
    start = 0
    while start < len(rows):
        table, _, first = rows[start]
        end = start
        while (
            end < len(rows) and rows[end][0] == table and (rows[end][2] is None) == (first is None)
        ):
            end += 1
        run = rows[start:end]
        key_col, cols, _ = TRACKED[table]
        if first is None:
            conn.executemany(f"DELETE FROM {table} WHERE {key_col} = ?", [(k,) for _, k, _ in run])
        else:
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != key_col)
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT ({key_col}) DO UPDATE SET {updates}"
            )
            conn.executemany(sql, [tuple(row[c] for c in cols) for _, _, row in run])
        start = end


def cursor(conn: sqlite3.Connection) -> int:
    """Id of the newest applied action, 0 when everything is undone (or nothing was done)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'history_cursor'").fetchone()
    return int(row[0]) if row else 0


def _set_cursor(conn: sqlite3.Connection, action_id: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('history_cursor', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(action_id),),
    )


def record(conn: sqlite3.Connection, text: str, changes: Iterable[Change]) -> Action:
    """Append an action after the cursor and drop the redo tail, in the caller's transaction."""
    conn.execute("DELETE FROM history WHERE id > ?", (cursor(conn),))
    created = time.time()
    action_id = conn.execute(
        "INSERT INTO history (text, created) VALUES (?, ?)", (shown(text), created)
    ).lastrowid
    conn.executemany(
        "INSERT INTO history_changes (action_id, seq, tbl, key, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (action_id, seq, c.table, c.key, _dump(c.before), _dump(c.after))
            for seq, c in enumerate(changes)
        ],
    )
    _set_cursor(conn, action_id)
    _forget_oldest(conn)
    return Action(action_id, text, created)


def _forget_oldest(conn: sqlite3.Connection) -> None:
    conn.execute(
        "DELETE FROM history WHERE id NOT IN (SELECT id FROM history ORDER BY id DESC LIMIT ?)",
        (HISTORY_LIMIT,),
    )


def undo(conn: sqlite3.Connection) -> Action | None:
    """Write back the befores of the action at the cursor; None when there is nothing to undo."""
    action = _action(conn, cursor(conn))
    if action is None:
        return None
    rows = conn.execute(
        "SELECT tbl, key, before FROM history_changes WHERE action_id = ? ORDER BY seq DESC",
        (action.id,),
    ).fetchall()
    write_changes(conn, [(t, k, _load(b)) for t, k, b in rows])
    previous = conn.execute("SELECT max(id) FROM history WHERE id < ?", (action.id,)).fetchone()
    _set_cursor(conn, previous[0] or 0)
    return action


def redo(conn: sqlite3.Connection) -> Action | None:
    """Write the afters of the action after the cursor; None when there is nothing to redo."""
    following = conn.execute("SELECT min(id) FROM history WHERE id > ?", (cursor(conn),))
    action = _action(conn, following.fetchone()[0])
    if action is None:
        return None
    rows = conn.execute(
        "SELECT tbl, key, after FROM history_changes WHERE action_id = ? ORDER BY seq",
        (action.id,),
    ).fetchall()
    write_changes(conn, [(t, k, _load(a)) for t, k, a in rows])
    _set_cursor(conn, action.id)
    return action


def actions(conn: sqlite3.Connection) -> list[Action]:
    """All remembered actions, oldest first (applied and undone alike)."""
    return [
        Action(*row) for row in conn.execute("SELECT id, text, created FROM history ORDER BY id")
    ]


def applied_count(conn: sqlite3.Connection) -> int:
    """How many remembered actions are applied: QUndoStack's ``index()``."""
    return conn.execute("SELECT count(*) FROM history WHERE id <= ?", (cursor(conn),)).fetchone()[0]


def can_redo(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute("SELECT 1 FROM history WHERE id > ? LIMIT 1", (cursor(conn),)).fetchone()
        is not None
    )


def _action(conn: sqlite3.Connection, action_id: int | None) -> Action | None:
    if not action_id:
        return None
    row = conn.execute(
        "SELECT id, text, created FROM history WHERE id = ?", (action_id,)
    ).fetchone()
    return Action(*row) if row else None


def _dump(row: Row | None) -> str | None:
    return None if row is None else json.dumps(row)


def _load(text: str | None) -> Row | None:
    return None if text is None else json.loads(text)
