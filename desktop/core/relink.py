"""Finding moved images again: content keys behind the scan, and "Locate Folder…".

After a scan has shown its tiles, ``check_files`` flags files that are gone, hashes every image
not yet keyed (on the worker thread, in batches, cancellable) and lets each missing image take
over the newly scanned row with its content. ``relink_folder`` is the user's answer to "where is
this folder now?": images below the old folder are matched by their path relative to it, checked
by content where they have a key, and the rest by content alone. Files are only ever read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.identity_table import Relinked
from desktop.core.scanner import rescan, scan_all
from trainer.identity import content_key_or_none

if TYPE_CHECKING:
    from desktop.core.store import Project

KEY_BATCH = 500
"""Files hashed between two commits (and two progress reports)."""
_WORKERS = 4
"""Hashing is mostly waiting for the disk; hashlib releases the GIL while it digests."""


@dataclass(frozen=True)
class KeyProgress:
    done: int
    total: int


@dataclass(frozen=True)
class FilesChecked:
    """What ``check_files`` found: images that came back at their new place, and missing ones."""

    relinked: list[Relinked]
    missing: int
    keyed: int
    cancelled: bool = False
    status_changed: bool = False
    """Some file went missing or came back: the grid's tiles need reloading."""

    @property
    def message(self) -> str:
        """The sentence the status bar shows ("40 moved images found again")."""
        parts = []
        if self.relinked:
            n = len(self.relinked)
            parts.append(f"{n:,} moved image{'s' if n != 1 else ''} found again")
        if self.missing:
            parts.append(f"{self.missing:,} missing (Show → Missing)")
        return ", ".join(parts)


def key_images(project: Project, cancel: Cancel = None) -> Iterator[KeyProgress]:
    """Hash every image without a content key; yields progress after each committed batch."""
    rows = project.images_without_key()
    done = 0
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for start in range(0, len(rows), KEY_BATCH):
            if is_cancelled(cancel):
                return
            batch = rows[start : start + KEY_BATCH]
            keys = _keys_in_parallel(pool, [path for _, path in batch])
            project.set_content_keys(
                (image_id, key) for (image_id, _), key in zip(batch, keys, strict=True) if key
            )
            done += len(batch)
            yield KeyProgress(done, len(rows))


def _keys_in_parallel(pool: ThreadPoolExecutor, paths: list[str]) -> list[str | None]:
    """Keys of ``paths`` in order, one task per worker: a task per file costs more than
    hashing a small file, but parallel reads still help a slow or network disk."""
    step = -(-len(paths) // _WORKERS) or 1
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    keyed = pool.map(lambda chunk: [content_key_or_none(p) for p in chunk], chunks)
    return [key for chunk in keyed for key in chunk]


def check_files(project: Project, cancel: Cancel = None) -> Iterator[KeyProgress | FilesChecked]:
    """Flag gone files, key the rest, let missing images take over their moved files.

    Yields KeyProgress while hashing and one FilesChecked at the end.
    """
    checked = rescan(project, cancel)
    keyed = 0
    for progress in key_images(project, cancel):
        keyed = progress.done
        yield progress
    cancelled = checked.cancelled or is_cancelled(cancel)
    relinked = [] if cancelled else project.take_over_moved()
    missing = project.counts().missing
    changed = bool(relinked or checked.missing or checked.back)
    yield FilesChecked(relinked, missing, keyed, cancelled, changed)


# ----------------------------------------------------------------- Locate Folder…
@dataclass(frozen=True)
class FolderRelinked:
    """What "Locate Folder…" did, for the message the user reads."""

    old_folder: str
    new_folder: str
    relinked: list[Relinked] = field(default_factory=list)
    by_path: int = 0
    by_content: int = 0
    different_content: int = 0
    not_found: int = 0

    @property
    def message(self) -> str:
        lines = [
            f"{len(self.relinked):,} images relinked from {self.old_folder} to "
            f"{self.new_folder} ({self.by_path:,} by their place in the folder, "
            f"{self.by_content:,} by content)."
        ]
        if self.different_content:
            lines.append(
                f"{self.different_content:,} files at the same place have different content and "
                "were left alone."
            )
        if self.not_found:
            lines.append(f"{self.not_found:,} images are still missing.")
        return "\n".join(lines)


def old_folder_for(missing_path: str, new_folder: str | os.PathLike[str]) -> str:
    """The folder of ``missing_path`` that ``new_folder`` replaces.

    The nearest ancestor whose relative path exists under ``new_folder`` (the user may pick the
    new place of ``photos`` while looking at ``photos/cats/x.jpg``); the file's own folder when
    none fits, and then content alone finds the files.
    """
    path = Path(missing_path)
    new = Path(new_folder)
    for ancestor in path.parents:
        if (new / path.relative_to(ancestor)).is_file():
            return os.fspath(ancestor)
    return os.fspath(path.parent)


def relink_folder(
    project: Project,
    old_folder: str | os.PathLike[str],
    new_folder: str | os.PathLike[str],
    cancel: Cancel = None,
) -> FolderRelinked:
    """Point the missing images below ``old_folder`` at their files below ``new_folder``."""
    old = os.path.abspath(os.fspath(old_folder))
    new = os.path.realpath(os.fspath(new_folder))
    missing = project.missing_under(old)
    moves: list[tuple[int, str]] = []
    by_path = 0
    different: set[int] = set()
    unmatched: dict[str, list[int]] = {}
    for image_id, path, size, key in missing:
        candidate = os.path.join(new, os.path.relpath(path, old))
        verdict = _same_file(candidate, size, key)
        if verdict is True:
            moves.append((image_id, candidate))
            by_path += 1
            continue
        if verdict is False:
            different.add(image_id)
        if key is not None:
            unmatched.setdefault(key, []).append(image_id)
    by_content = _match_by_content(new, unmatched, {p for _, p in moves}, cancel)
    moves += by_content
    relinked = project.relink(moves)
    return FolderRelinked(
        old,
        new,
        relinked,
        by_path=by_path,
        by_content=len(by_content),
        different_content=len(different - {image_id for image_id, _ in by_content}),
        not_found=len(missing) - len(relinked),
    )


def _same_file(candidate: str, size: int | None, key: str | None) -> bool | None:
    """True when ``candidate`` holds this image (same key; same size if it was never keyed),
    False when it holds something else, None when there is no such file."""
    if not os.path.isfile(candidate):
        return None
    if key is not None:
        return content_key_or_none(candidate) == key
    try:
        return size is None or os.path.getsize(candidate) == size
    except OSError:
        return None


def _match_by_content(
    folder: str, wanted: dict[str, list[int]], taken: set[str], cancel: Cancel
) -> list[tuple[int, str]]:
    """(image id, path) for files below ``folder`` whose content a missing image has."""
    if not wanted:
        return []
    sizes = {int(key.split(":")[1]) for key in wanted if key.count(":") == 2}
    files = [f.path for f in scan_all([folder], cancel).files if f.size in sizes]
    files = [path for path in files if path not in taken]
    moves = []
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for path, key in zip(files, _keys_in_parallel(pool, files), strict=True):
            ids = wanted.get(key) if key else None
            if ids:
                moves.append((ids.pop(0), path))
    return moves
