"""File names of any bytes, carried through text without losing a byte.

A POSIX file name is bytes, and old archives and Samba shares hold names that are not UTF-8
(``b"caf\\xe9.png"``). Python hands such a name to us as a str in which each stray byte is a lone
surrogate (``os.fsdecode``, the 'surrogateescape' error handler). That str opens the file, but it
cannot be written as UTF-8, so every place where a path becomes text decides what to do:

- **On screen** a stray byte is shown as U+FFFD (``shown``); the shown form never opens a file.
- **In a CSV** (exports, the classify CLI, the trainer's manifest and split.csv) the ``path``
  column holds the shown form, so a spreadsheet shows a readable name, and the extra column
  ``path_bytes`` holds the exact bytes, percent-encoded as in a URL (``caf%E9.png``). It is empty
  for names that are valid UTF-8, which is nearly all of them, so the CSV stays plain UTF-8 and a
  tool that ignores the column still gets every ordinary path. A reader takes ``path_bytes``
  when it is not empty (``path_from_cells``). The escape lives in its own column because no escape
  inside ``path`` itself could be told apart from a real name: any text is a valid POSIX name.

Which names are images (``is_image_path``) lives here too, for the same readers.
Standard library only: the desktop app uses it without loading TensorFlow.
"""

from __future__ import annotations

import os
from urllib.parse import quote_from_bytes, unquote_to_bytes

PATH_BYTES_COLUMN = "path_bytes"


def is_text(path: str) -> bool:
    """Whether ``path`` is valid Unicode text (no bytes that the OS name held outside UTF-8)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(path: str) -> str:
    """``path`` for people: each byte that is not UTF-8 becomes U+FFFD; other text is unchanged."""
    if is_text(path):
        return path
    return os.fsencode(path).decode("utf-8", "replace")


def path_bytes_cell(path: str) -> str:
    """The ``path_bytes`` cell for ``path``: empty for text names, else its exact bytes escaped."""
    if is_text(path):
        return ""
    return quote_from_bytes(os.fsencode(path), safe="/")


def path_from_cells(path_cell: str, bytes_cell: str | None) -> str:
    """The path a CSV row names: from ``path_bytes`` when it is filled in, else ``path``."""
    if bytes_cell:
        return os.fsdecode(unquote_to_bytes(bytes_cell.strip()))
    return path_cell


IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".jfif",
        ".ppm",
        ".pgm",
        ".avif",
    }
    | {".heic", ".heif"}  # listed so they are flagged "not supported", not silently ignored
)
"""File suffixes we treat as images when scanning folders (case-insensitive)."""


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True for names that look like images; content is checked only when decoded."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES
