"""The meta table: small project-wide settings by key, such as which model the grid shows."""

from __future__ import annotations

import sqlite3

CURRENT_MODEL = "current_model"


def read_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def current_model_id(conn: sqlite3.Connection) -> int | None:
    """The model whose predictions the grid shows (the newest added, unless changed)."""
    value = read_meta(conn, CURRENT_MODEL)
    return int(value) if value else None
