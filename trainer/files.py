"""Writing files so that nobody ever sees half of one: the trainer's runs and the app's exports.

Standard library only, so the desktop app can use it without loading TensorFlow.
"""

from __future__ import annotations

import os
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
    temporary = path.with_name(
        f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    )
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
