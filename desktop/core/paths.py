"""Where Pigeonhole keeps things by default, from platformdirs, so nothing needs configuring.

Nothing is created at import time; the functions that hand out a folder create it on demand.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "Pigeonhole"
PROJECT_SUFFIX = ".pigeonhole"
DEFAULT_PROJECT_NAME = "My images" + PROJECT_SUFFIX


def data_dir() -> Path:
    """The user's data folder for Pigeonhole (created if needed)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False, ensure_exists=True)


def default_project_path() -> Path:
    """The project the app opens the very first time, inside the user's data folder."""
    return data_dir() / DEFAULT_PROJECT_NAME


def cache_dir() -> Path:
    """The user's cache folder for Pigeonhole (created if needed); safe to delete at any time."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False, ensure_exists=True)


def thumbnail_cache_dir() -> Path:
    """Where thumbnails are cached, keyed by path + size + mtime (created if needed)."""
    folder = cache_dir() / "thumbnails"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def with_project_suffix(path: Path) -> Path:
    """Add ``.pigeonhole`` to a name typed without it in a save dialog."""
    return (
        path
        if path.suffix.lower() == PROJECT_SUFFIX
        else path.with_name(path.name + PROJECT_SUFFIX)
    )
