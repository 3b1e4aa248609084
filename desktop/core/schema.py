"""The one place that knows the project's SQLite schema, and how to upgrade old files.

``PRAGMA application_id`` marks a file as ours, so we never write into someone else's database;
``PRAGMA user_version`` is the schema version, and MIGRATIONS[n] turns version n into n + 1.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from desktop.core.errors import ProjectError

APPLICATION_ID = 0x50474E48  # "PGNH"

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id     INTEGER PRIMARY KEY,
    path   TEXT NOT NULL UNIQUE,
    size   INTEGER,
    mtime  REAL,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'unreadable', 'missing')),
    error  TEXT,
    added  REAL NOT NULL
);
CREATE TABLE classes (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE COLLATE NOCASE,
    colour   TEXT NOT NULL CHECK (colour GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    position INTEGER NOT NULL
);
CREATE TABLE labels (
    image_id INTEGER PRIMARY KEY REFERENCES images(id),
    class_id INTEGER NOT NULL REFERENCES classes(id),
    source   TEXT NOT NULL CHECK (source IN ('user', 'import', 'accepted_prediction')),
    updated  REAL NOT NULL
);
CREATE INDEX labels_by_class ON labels(class_id);
CREATE TABLE models (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL,
    info     TEXT NOT NULL,
    metrics  TEXT NOT NULL,
    created  REAL NOT NULL,
    n_labels INTEGER NOT NULL
);
CREATE TABLE predictions (
    model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    image_id    INTEGER NOT NULL REFERENCES images(id),
    class_index INTEGER NOT NULL,
    confidence  REAL NOT NULL,
    margin      REAL NOT NULL,
    topk        TEXT NOT NULL,
    embedding   BLOB,
    PRIMARY KEY (model_id, image_id)
) WITHOUT ROWID;
CREATE TABLE history (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE history_changes (
    action_id INTEGER NOT NULL REFERENCES history(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    tbl       TEXT NOT NULL,
    key       INTEGER NOT NULL,
    before    TEXT,
    after     TEXT,
    PRIMARY KEY (action_id, seq)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('history_cursor', '0');
"""

_V2_PATH_BYTES = """
-- No table changes: from version 2 on, images.path and models.path hold a BLOB of the exact
-- bytes for a path that is not valid UTF-8 (desktop/core/stored_paths.py). The version goes up
-- so that an older Pigeonhole, which would read such a path as bytes, refuses the file instead.
SELECT 1;
"""

_V3_CONTENT_KEYS = """
ALTER TABLE images ADD COLUMN content_key TEXT;
CREATE INDEX images_by_content ON images(content_key);
"""
"""Each image's content key (``trainer.identity``), filled behind the scan: labels follow it."""

_V4_LOCKED_SPLITS = """
CREATE TABLE locked_splits (
    image_id INTEGER PRIMARY KEY REFERENCES images(id),
    split    TEXT NOT NULL CHECK (split IN ('train', 'val', 'test'))
);
INSERT INTO meta (key, value) VALUES ('lock_old_splits', 'pending');
"""
"""Splits models were trained with before splits followed content (they followed the path).
``lock_old_splits`` (splits_lock.py) fills it from the trained versions' split.csv when the
file is first opened, so their test images stay test images."""

_V5_DUPLICATE_MARKS = """
CREATE TABLE duplicate_marks (
    image_id INTEGER PRIMARY KEY REFERENCES images(id),
    kept_id  INTEGER NOT NULL REFERENCES images(id)
);
"""
"""Copies the user marked "duplicate" of the one they kept (undoable; files never touched)."""

_V6_REVIEW_DECISIONS = """
CREATE TABLE review_decisions (
    image_id INTEGER PRIMARY KEY,
    class_id INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('kept', 'accepted')),
    model_id INTEGER,
    updated  REAL NOT NULL
);
"""
"""The review queue's "Keep label" / "Accept" answers: one per image, for the label it then had
(``class_id``), so a new version does not ask again until the label changes. No foreign keys:
deleting a class or a model must not be blocked by an old answer, which simply stops matching."""

MIGRATIONS: list[str] = [
    _V1,
    _V2_PATH_BYTES,
    _V3_CONTENT_KEYS,
    _V4_LOCKED_SPLITS,
    _V5_DUPLICATE_MARKS,
    _V6_REVIEW_DECISIONS,
]
"""MIGRATIONS[n] upgrades a file at user_version n to n + 1; append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)


def inspect_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an existing file, or raise ProjectError if it is not ours.

    Returns 0 for an empty database (a new project). Reads only, so a foreign file is untouched.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ProjectError(
            f"{path.name} is not a Pigeonhole project (not an SQLite database: {exc}). "
            "Choose a .pigeonhole file, or create a new project."
        ) from exc
    if app_id == 0 and n_tables == 0:
        return 0
    if app_id != APPLICATION_ID:
        raise ProjectError(
            f"{path.name} is an SQLite database but not a Pigeonhole project; "
            "it was left untouched. Choose a .pigeonhole file, or create a new project."
        )
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{path.name} was saved by a newer Pigeonhole (project format {version}; this "
            f"version reads up to {SCHEMA_VERSION}). Update Pigeonhole to open it; the file was "
            "not changed."
        )
    return version


def migrate(conn: sqlite3.Connection, from_version: int, to_version: int = SCHEMA_VERSION) -> None:
    """Bring the file up to ``to_version`` (normally SCHEMA_VERSION), one transaction per step,
    so a crash leaves a consistent older version rather than half a new one."""
    for version in range(from_version, to_version):
        script = MIGRATIONS[version]
        conn.executescript(
            "BEGIN IMMEDIATE;\n"
            f"{script}\n"
            f"PRAGMA application_id = {APPLICATION_ID};\n"
            f"PRAGMA user_version = {version + 1};\n"
            "COMMIT;"
        )
