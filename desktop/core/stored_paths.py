"""How a file path is kept in the project's SQLite file, so that any name the OS gives us fits.

Decision: a path that is valid UTF-8 is stored as TEXT, as it always was; any other path is
stored, in the same column, as a BLOB of its exact bytes (``os.fsencode``). SQLite columns take
either type, compares them byte for byte, and never takes a BLOB to equal a TEXT, so
``UNIQUE (path)`` and ``WHERE path IN (...)`` keep working, and projects made before this need
no rewrite. Storing the surrogate-escaped str as TEXT is not an option: sqlite3 encodes str as
strict UTF-8 and a lone surrogate raises UnicodeEncodeError (what made a drop of 1,201 files with
one such name add only 100). A BLOB for every path would have meant rewriting every project.

Every query that reads or writes a path goes through ``to_db`` / ``from_db``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from trainer.file_names import is_text


def to_db(path: str) -> str | bytes:
    """The value to store for ``path``: the str itself, or its bytes when it is not UTF-8."""
    return path if is_text(path) else os.fsencode(path)


def from_db(value: str | bytes) -> str:
    """A stored path back as the str the OS functions take (bytes via ``os.fsdecode``)."""
    return value if isinstance(value, str) else os.fsdecode(value)


def rows_with_path(rows: Iterable[tuple], column: int = 1) -> list[tuple]:
    """``rows`` with ``row[column]`` turned back into a str path; rows already str are kept as
    they are, so the 100,000-row grid query pays one type check per row."""
    return [
        row
        if isinstance(row[column], str)
        else (*row[:column], from_db(row[column]), *row[column + 1 :])
        for row in rows
    ]
