"""Export as class folders: one folder per class holding copies of its images.

The user's images are never moved or changed, and nothing in the destination is ever overwritten:
files are created with exclusive open, and a name already taken gets " (2)", " (3)"...
Class names become safe folder names on every system (no '/', ':' or reserved names). Every name
written is at most 255 bytes (NAME_MAX of ext4, APFS, NTFS), cut at a character: a 100-character
CJK class name is 300 bytes of UTF-8, and a 255-byte file name plus " (2)" would be too long.
A file name's bytes are kept as they are, also when they are not UTF-8.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.errors import ExportError
from desktop.core.records import ExportSummary, Skipped

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
    if mode not in MODES:
        raise ExportError(f"Unknown export mode {mode!r}; use one of {', '.join(MODES)}.")
    root = _prepare(Path(destination))
    items, skipped = _plan(project, include_predictions, min_confidence)
    folders = _folder_names(sorted({name for _, name in items}))
    written = renamed = 0
    per_class: dict[str, int] = {}
    for done, (source, class_name) in enumerate(items):
        if progress is not None:
            progress(done, len(items))
        if is_cancelled(cancel):
            return ExportSummary(str(root), written, renamed, skipped, True, per_class)
        folder = root / folders[class_name]
        try:
            target = _place(Path(source), folder, mode)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ExportError(
                    f"The disk holding {root} is full after {written} files; free space and "
                    "export again (existing files are never overwritten)."
                ) from exc
            skipped.append(Skipped(source, exc.strerror or str(exc)))
            continue
        written += 1
        renamed += target.name != Path(source).name
        per_class[class_name] = per_class.get(class_name, 0) + 1
    if progress is not None:
        progress(len(items), len(items))
    return ExportSummary(str(root), written, renamed, skipped, False, per_class)


def _prepare(root: Path) -> Path:
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
    model_names = project.model(model_id).classes if model_id is not None else []
    predictions = project.predictions(model_id) if include_predictions and model_id else {}
    items: list[tuple[str, str]] = []
    skipped: list[Skipped] = []
    for row in project.image_rows():
        if row.label_id is not None:
            class_name = names[row.label_id]
        elif row.id in predictions and predictions[row.id].confidence >= min_confidence:
            index = predictions[row.id].class_index
            class_name = names.get(row.predicted_id) or model_names[index]
        else:
            continue
        if row.status != "ok":
            skipped.append(Skipped(row.path, f"{row.status}: {row.error or 'no reason given'}"))
            continue
        items.append((row.path, class_name))
    return items, skipped


def safe_folder_name(name: str) -> str:
    """A folder name that works on Windows, macOS and Linux for a class name."""
    cleaned = _UNSAFE.sub("_", name).strip().rstrip(". ")
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


def _folder_names(class_names: list[str]) -> dict[str, str]:
    """Distinct folder names, also on case-insensitive file systems ("a/b" and "a_b" both fit)."""
    taken: set[str] = set()
    folders: dict[str, str] = {}
    for name in class_names:
        base = safe_folder_name(name)
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base} ({n})"
        taken.add(candidate.casefold())
        folders[name] = candidate
    return folders


def _place(source: Path, folder: Path, mode: str) -> Path:
    """Copy or link ``source`` into ``folder`` under a name not yet taken; returns the new path."""
    folder.mkdir(exist_ok=True)
    stem, suffix = source.stem, source.suffix
    n = 1
    while True:
        target = folder / fit_name(stem, suffix if n == 1 else f" ({n}){suffix}")
        try:
            if mode == "symlink":
                os.symlink(source, target)
            else:
                _copy_exclusive(source, target)
            return target
        except FileExistsError:
            n += 1


def _copy_exclusive(source: Path, target: Path) -> None:
    """Copy bytes and timestamps; the target must not exist (no overwrite, even in a race)."""
    with source.open("rb") as src, target.open("xb") as dst:
        try:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        except BaseException:
            dst.close()
            target.unlink(missing_ok=True)
            raise
    shutil.copystat(source, target)
