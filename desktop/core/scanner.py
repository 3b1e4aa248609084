"""Finding image files under the folders a user drops, without hanging or following loops.

``scan`` is a generator of batches so the caller (a worker thread) can stream images into the grid
and report progress as folders are walked; it stops at the next folder when cancelled. Symbolic
links to folders are followed once: every visited folder is remembered by (device, inode), so a
link back to a parent cannot loop. Hidden folders and files (names starting with '.') are skipped.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.records import (
    FoundFile,
    ImportSummary,
    RescanSummary,
    ScanBatch,
    Skipped,
)
from trainer.contract import is_image_path
from trainer.run_folder import class_of_folder

BATCH_SIZE = 500


def scan(
    paths: Iterable[str | os.PathLike[str]],
    *,
    cancel: Cancel = None,
    batch_size: int = BATCH_SIZE,
    first_batch: int | None = None,
) -> Iterator[ScanBatch]:
    """Yield batches of image files found in ``paths`` (folders recursively, or single files).

    Paths are absolute with symbolic links in the dropped paths themselves resolved, so the same
    folder dropped twice (or via a link) gives the same paths. Each file is yielded once.
    A smaller ``first_batch`` lets a window show the first screenful sooner.
    """
    walker = _Walker(batch_size, first_batch)
    folders: list[str] = []
    for raw in paths:
        path = os.path.realpath(os.path.expanduser(os.fspath(raw)))
        if os.path.isdir(path):
            folders.append(path)
        else:
            walker.add_file(path, _file_reason(path))
    for folder in folders:
        yield from walker.walk(folder, cancel)
        if is_cancelled(cancel):
            break
    yield walker.flush()


def _file_reason(path: str) -> str | None:
    """Why a dropped single file cannot be added (None: it can)."""
    if not os.path.lexists(path):
        return "not found (moved or deleted?)"
    if not os.path.exists(path):
        return "broken symbolic link"
    if not is_image_path(path):
        return "not an image file name (" + (Path(path).suffix or "no suffix") + ")"
    return None


class _Walker:
    """Walk state shared across dropped folders: visited folders, seen files, the open batch."""

    def __init__(self, batch_size: int, first_batch: int | None = None) -> None:
        self.batch_size = max(1, batch_size)
        self.limit = max(1, min(first_batch or self.batch_size, self.batch_size))
        self.visited: set[tuple[int, int]] = set()
        self.seen: set[str] = set()
        self.files: list[FoundFile] = []
        self.skipped: list[Skipped] = []
        self.folders_done = 0
        self.files_found = 0

    def add_file(self, path: str, reason: str | None) -> None:
        if reason is not None:
            self.skipped.append(Skipped(path, reason))
            return
        if path in self.seen:
            return
        try:
            stat = os.stat(path)
        except OSError as exc:
            self.skipped.append(Skipped(path, _os_reason(exc)))
            return
        self.seen.add(path)
        self.files.append(FoundFile(path, stat.st_size, stat.st_mtime))
        self.files_found += 1

    def flush(self) -> ScanBatch:
        batch = ScanBatch(self.files, self.skipped, self.folders_done, self.files_found)
        self.files, self.skipped = [], []
        self.limit = self.batch_size
        return batch

    def walk(self, root: str, cancel: Cancel) -> Iterator[ScanBatch]:
        stack = [root]
        while stack:
            if is_cancelled(cancel):
                return
            subfolders: list[str] = []
            for entry in self._entries(stack.pop()):
                if _is_dir(entry):
                    subfolders.append(entry.path)
                elif is_image_path(entry.name):
                    reason = None if _is_file(entry) else "broken symbolic link or not a file"
                    self.add_file(entry.path, reason)
                    if len(self.files) >= self.limit:
                        yield self.flush()
                        if is_cancelled(cancel):
                            return
            stack.extend(reversed(subfolders))
            self.folders_done += 1

    def _entries(self, folder: str) -> list[os.DirEntry[str]]:
        """The visible entries of a folder not visited before, sorted by name."""
        try:
            stat = os.stat(folder)
        except OSError as exc:
            self.skipped.append(Skipped(folder, _os_reason(exc)))
            return []
        key = (stat.st_dev, stat.st_ino)
        if key in self.visited:
            return []  # reached again through a symbolic link: a loop or a duplicate
        self.visited.add(key)
        try:
            with os.scandir(folder) as listing:
                entries = [e for e in listing if not e.name.startswith(".")]
        except OSError as exc:
            self.skipped.append(Skipped(folder, "folder skipped: " + _os_reason(exc)))
            return []
        return sorted(entries, key=lambda e: e.name)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "disappeared while scanning (moved or deleted?)"
    if isinstance(exc, PermissionError):
        return "no permission to read it"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return exc.strerror or str(exc)


def scan_all(paths: Iterable[str | os.PathLike[str]], cancel: Cancel = None) -> ScanBatch:
    """Everything ``scan`` finds, in one batch (for small folders and tests)."""
    files: list[FoundFile] = []
    skipped: list[Skipped] = []
    last = ScanBatch([], [], 0, 0)
    for last in scan(paths, cancel=cancel):
        files.extend(last.files)
        skipped.extend(last.skipped)
    return ScanBatch(files, skipped, last.folders_done, last.files_found)


def detect_class_folders(
    folder: str | os.PathLike[str], cancel: Cancel = None
) -> dict[str, list[Path]] | None:
    """Subfolders that look like classes (at least two holding images): name -> image paths.

    Images anywhere below a subfolder belong to it; images loose in ``folder`` itself belong to
    no class. Returns None when the folder does not look like class folders.
    """
    root = Path(os.path.realpath(os.fspath(folder)))
    try:
        with os.scandir(root) as listing:
            subfolders = [e for e in listing if class_of_folder(e.name) and _is_dir(e)]
    except OSError:
        return None
    subfolders.sort(key=lambda e: e.name)
    classes: dict[str, list[Path]] = {}
    for entry in subfolders:
        if is_cancelled(cancel):
            return None
        found = scan_all([entry.path], cancel)
        if found.files:  # the trainer's rule: a folder name's stray bytes show as U+FFFD
            classes.setdefault(class_of_folder(entry.name), []).extend(
                Path(f.path) for f in found.files
            )
    return classes if len(classes) >= 2 else None


def import_class_folders(
    project, folder: str | os.PathLike[str], *, dry_run: bool = False, cancel: Cancel = None
) -> ImportSummary | None:
    """Add the images of class-like subfolders labelled by folder name (one undoable action).

    Returns None when ``folder`` does not look like class folders. Classes are created as
    needed; run with ``dry_run=True`` first to show the summary before asking the user.
    """
    classes = detect_class_folders(folder, cancel)
    if classes is None:
        return None
    pairs = [(path, name) for name, paths in classes.items() for path in paths]
    return project.import_labels(
        pairs,
        create_classes=True,
        dry_run=dry_run,
        text=f"Import class folders from {Path(folder).name}",
    )


def rescan(project, cancel: Cancel = None, chunk: int = 2000) -> RescanSummary:
    """Check every image of a project on disk: flag missing ones, bring back returned ones.

    Labels are untouched; a file whose size or mtime changed is given another chance to decode.
    """
    rows = project.image_files()
    missing: list[int] = []
    back: list[int] = []
    changed: list[tuple[int, int, float]] = []
    cancelled = False
    for start in range(0, len(rows), chunk):
        if is_cancelled(cancel):
            cancelled = True
            break
        for image_id, path, size, mtime, status in rows[start : start + chunk]:
            try:
                stat = os.stat(path)
            except OSError:
                if status != "missing":
                    missing.append(image_id)
                continue
            if status == "missing":
                back.append(image_id)
            if stat.st_size != size or stat.st_mtime != mtime:
                changed.append((image_id, stat.st_size, stat.st_mtime))
    project.mark_missing(missing)
    project.mark_present(back)
    project.update_file_info(changed)
    return RescanSummary(len(rows), len(missing), len(back), len(changed), cancelled)
