"""What makes two image files "the same image": their bytes, not their names.

A content key is the file's size and a BLAKE2b digest of its bytes. Labels, splits and duplicate
groups follow it, so a renamed or moved file is still the same image, and two copies of a photo
under different names are one image to the split. Standard library only: the desktop app uses it
too (its scanner keys every file it adds), without loading TensorFlow.
"""

from __future__ import annotations

import hashlib
import os

DIGEST_BYTES = 16
"""128 bits: an accidental collision among a billion files has odds below 1e-20."""
PREFIX = "b2"
"""Names the hash, so a later change of hash cannot be mistaken for different content."""


SMALL_FILE = 1 << 20
"""Files up to this size are read in one call: ``hashlib.file_digest`` allocates a 256 KiB
buffer per file, which costs more than hashing a thumbnail-sized JPEG."""


def content_key(path: str | os.PathLike[str]) -> str:
    """``b2:<size>:<hex digest>`` of the file's bytes; OSError when it cannot be read."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size <= SMALL_FILE:
            data = handle.read()
            digest = hashlib.blake2b(data, digest_size=DIGEST_BYTES)
            size = len(data)
        else:
            digest = hashlib.file_digest(handle, _blake2b)
            size = handle.tell()
    return f"{PREFIX}:{size}:{digest.hexdigest()}"


def _blake2b() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=DIGEST_BYTES)


def content_key_or_none(path: str | os.PathLike[str]) -> str | None:
    """The content key, or None when the file cannot be read (gone, no permission)."""
    try:
        return content_key(path)
    except OSError:
        return None
