"""Writing files so that nobody ever sees half of one: the trainer's runs and the app's exports.

Standard library only, so the desktop app can use it without loading TensorFlow.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    The temporary file keeps ``path``'s extension (Keras and ONNX look at it), is flushed to disk
    before the rename so a crash leaves either the old file or the whole new one, and is removed
    if the block raises, leaving ``path`` as it was.
    """
    path = Path(path)
    remove_leftovers(path)
    temporary = path.with_name(
        f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    )
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def remove_leftovers(path: Path) -> int:
    """Delete temporary siblings of ``path`` that a killed process left behind; returns how many.

    Only our own names (``.<stem>.<pid>-<8 hex>.tmp<suffix>``) whose process is gone are touched,
    so a file the user made, or another process's write in progress, is never removed.
    """
    pattern = re.compile(
        rf"\.{re.escape(path.stem)}\.(\d+)-[0-9a-f]{{8}}\.tmp{re.escape(path.suffix)}"
    )
    removed = 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and is_stale(entry, int(match[1])):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                continue
    return removed


STALE_SECONDS = 3600.0
"""Where we cannot ask whether a process lives (Windows), a temporary file this old is stale."""


def is_stale(entry: os.DirEntry[str], pid: int) -> bool:
    """True when the process that wrote this temporary file is gone."""
    if pid == os.getpid():
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        try:
            return time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, but another user's
        return False
    return False


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
