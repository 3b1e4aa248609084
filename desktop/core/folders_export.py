"""Export as class folders: one folder per class holding copies of its images.

The user's images are never moved or changed, and nothing in the destination is ever overwritten:
a name already taken gets " (2)", " (3)"... Class names become safe folder names on every system
(no '/', ':' or reserved names; one Unicode form, and names equal but for case share a folder
name only once). Every name written is at most 255 bytes (NAME_MAX of ext4, APFS, NTFS), cut at
a character: a 100-character CJK class name is 300 bytes of UTF-8, and a 255-byte file name plus
" (2)" would be too long. A file name's bytes are kept as they are, also when they are not UTF-8.
How each file is written -- never through a planted link, never half a file under its real
name, never from a pipe or device -- is ``desktop.core.safe_copy``'s job.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.errors import ExportError
from desktop.core.labels_table import class_key
from desktop.core.records import ExportSummary, Skipped
from desktop.core.safe_copy import Folder, UnsafeSource

Progress = Callable[[int, int], None]
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)}
MODES = ("copy", "symlink")
NAME_MAX_BYTES = 255
_ROOM_FOR_NUMBER = len(" (99999)")


def export_class_folders(
    project,
    destination: str | os.PathLike[str],
    *,
    include_predictions: bool = False,
    min_confidence: float = 0.0,
    mode: str = "copy",
    cancel: Cancel = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Copy (or symlink) each labelled image into ``destination/<class>/``.

    With ``include_predictions``, unlabelled images go to their predicted class when the current
    model is at least ``min_confidence`` sure. Missing and unreadable files are skipped with a
    reason. Cancelling keeps what was written and says so in the summary.
    """
    check_mode(mode)
    root = prepare_destination(Path(destination))
    items, skipped = _plan(project, include_predictions, min_confidence)
    names = folder_names(sorted({name for _, name in items}))
    with Folder.root(root) as top:
        folders = _open_folders(top, names)
        try:
            return copy_all(root, items, skipped, folders, mode, cancel, progress)
        finally:
            for folder in folders.values():
                folder.close()


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ExportError(f"Unknown export mode {mode!r}; use one of {', '.join(MODES)}.")


def _open_folders(top: Folder, names: dict[str, str]) -> dict[str, Folder]:
    """Every class folder, opened before anything is copied (a planted link refuses the export),
    with the temporary files of an earlier, killed export removed."""
    folders: dict[str, Folder] = {}
    try:
        for class_name, folder_name in names.items():
            folders[class_name] = top.subfolder(folder_name)
            folders[class_name].remove_leftovers()
    except BaseException:
        for folder in folders.values():
            folder.close()
        raise
    return folders


def copy_all(
    root: Path,
    items: list[tuple[str, str]],
    skipped: list[Skipped],
    folders: dict[str, Folder],
    mode: str,
    cancel: Cancel,
    progress: Progress | None,
) -> ExportSummary:
    """Copy or link each (source, key) into ``folders[key]``, never overwriting; the summary
    counts per key. Every export that writes image files goes through here."""
    written = renamed = 0
    per_class: dict[str, int] = {}
    for done, (source, class_name) in enumerate(items):
        if progress is not None:
            progress(done, len(items))
        if is_cancelled(cancel):
            return ExportSummary(str(root), written, renamed, skipped, True, per_class)
        folder = folders[class_name]
        candidates = _candidate_names(Path(source))
        try:
            if mode == "symlink":
                name = folder.link_in(Path(source), candidates)
            else:
                name = folder.copy_in(Path(source), candidates)
        except UnsafeSource as exc:
            skipped.append(Skipped(source, str(exc)))
            continue
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ExportError(
                    f"The disk holding {root} is full after {written} files; free space and "
                    "export again (existing files are never overwritten)."
                ) from exc
            skipped.append(Skipped(source, exc.strerror or str(exc)))
            continue
        written += 1
        renamed += name != Path(source).name
        per_class[class_name] = per_class.get(class_name, 0) + 1
    if progress is not None:
        progress(len(items), len(items))
    return ExportSummary(str(root), written, renamed, skipped, False, per_class)


def prepare_destination(root: Path) -> Path:
    """The chosen folder, made if needed; ExportError when it is a file or cannot be made."""
    root = root.expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ExportError(f"{root} is a file; choose a folder to export into.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create the folder {root}: {exc.strerror or exc}.") from exc
    return root


def _plan(
    project, include_predictions: bool, min_confidence: float
) -> tuple[list[tuple[str, str]], list[Skipped]]:
    """(source path, class name) for every image to export, and what is left out and why."""
    names = {c.id: c.name for c in project.classes()}
    model_id = project.current_model_id()
    model_names = project.version_class_names(model_id) if model_id is not None else []
    predictions = project.predictions(model_id) if include_predictions and model_id else {}
    items: list[tuple[str, str]] = []
    skipped: list[Skipped] = []
    for row in project.image_rows():
        if row.label_id is not None:
            class_name = names[row.label_id]
        elif row.id in predictions and predictions[row.id].confidence >= min_confidence:
            class_name = model_names[predictions[row.id].class_index]
        else:
            continue
        if row.status != "ok":
            skipped.append(Skipped(row.path, f"{row.status}: {row.error or 'no reason given'}"))
            continue
        items.append((row.path, class_name))
    return items, skipped


def safe_folder_name(name: str) -> str:
    """A folder name that works on Windows, macOS and Linux for a class name (Unicode NFC)."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip().rstrip(". ")
    if not cleaned or cleaned in {".", ".."}:
        cleaned = "_"
    if cleaned.split(".")[0].lower() in _RESERVED:
        cleaned += "_"
    return fit_name(cleaned, "", NAME_MAX_BYTES - _ROOM_FOR_NUMBER).rstrip(". ") or "_"


def fit_name(stem: str, suffix: str, limit: int = NAME_MAX_BYTES) -> str:
    """``stem + suffix``, the stem cut at a character so the name has at most ``limit`` bytes."""
    room = limit - len(os.fsencode(suffix))
    while stem and len(os.fsencode(stem)) > room:
        stem = stem[: -max(1, (len(os.fsencode(stem)) - room) // 4)]
    return stem + suffix


def folder_names(class_names: list[str]) -> dict[str, str]:
    """Distinct folder names, also on file systems that ignore case or Unicode form (macOS,
    Windows): "a/b" and "a_b", or "Été" and "été", each get a folder of their own."""
    taken: set[str] = set()
    folders: dict[str, str] = {}
    for name in class_names:
        base = safe_folder_name(name)
        candidate, n = base, 1
        while class_key(candidate) in taken:
            n += 1
            candidate = f"{base} ({n})"
        taken.add(class_key(candidate))
        folders[name] = candidate
    return folders


def _candidate_names(source: Path) -> Iterator[str]:
    """The file's own name, then "name (2).ext", "name (3).ext"..., each cut to NAME_MAX."""
    yield fit_name(source.stem, source.suffix)
    for n in itertools.count(2):
        yield fit_name(source.stem, f" ({n}){source.suffix}")
