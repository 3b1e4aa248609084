"""The trainer–app contract, written once: the manifest, the run folder's files, the events.

The app hands the trainer a run folder holding ``manifest.csv`` (``path,label[,group][,split]``
plus ``path_bytes``, see trainer/file_names.py); the trainer writes its model, report, history,
split and groups next to it, and tells the app how it goes with one JSON object per stdout line
whose ``event`` is one of ``Event``. Both sides import the names below from here, so a renamed
file or a new event kind cannot be changed on one side only. (What a model file carries and how
an image becomes model input is the other half of the contract, in trainer/contract.py.)

There is ONE manifest reader. It is strict by default, as the trainer needs: UTF-8, commas, a
header naming ``path`` and ``label``, every row complete, else a ``ManifestError`` saying what to
fix. ``forgiving=True`` is how the app reads a label CSV a person made: any common encoding,
comma, semicolon or tab, the usual other names of the two columns (or no header when the first
cell names an image), and incomplete rows skipped with a reason instead of refused.

Standard library only: the desktop app imports it without loading TensorFlow.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from trainer.file_names import (
    PATH_BYTES_COLUMN,
    is_image_path,
    path_bytes_cell,
    path_from_cells,
    shown,
)
from trainer.files import replacing

# --- the run folder ----------------------------------------------------------------------------
MANIFEST_FILE = "manifest.csv"
"""What the app asks to train on (written by the app, read by ``trainer train``)."""
MODEL_FILE = "model.onnx"
KERAS_FILE = "model.keras"
REPORT_FILE = "report.json"
HISTORY_FILE = "history.json"
"""Per-epoch curves and the data folder the run read (``data_root``)."""
SPLIT_FILE = "split.csv"
"""Which split each file went to, so later versions are scored on the same test images."""
GROUPS_FILE = "groups.csv"
"""Each file's duplicate group, so a moved test image stays a test image."""


# --- progress events ---------------------------------------------------------------------------
class Event(StrEnum):
    """The ``event`` of each JSON line ``trainer train --progress json`` prints."""

    STAGE = "stage"
    START = "start"
    EPOCH = "epoch"
    DONE = "done"
    ERROR = "error"


# --- the manifest ------------------------------------------------------------------------------
MANIFEST_COLUMNS = ("path", "label")
OPTIONAL_MANIFEST_COLUMNS = ("group", "split")
"""``group``: the image's duplicate group (a group stays in one split); ``split``: a split an old
version locked the group to (train, val or test), usually empty."""
PATH_ALIASES = ("path", "file", "filename", "file_name", "filepath", "image", "image_path")
LABEL_ALIASES = ("label", "class", "class_name", "category")
"""Other names a forgiving read accepts for the two columns (a spreadsheet someone made)."""


class ManifestError(ValueError):
    """The manifest as a whole is unusable; the message says what to fix, on one line."""


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One usable row: the path as written (exact bytes restored), its label, group, split."""

    line: int
    path: str
    label: str
    group: str = ""
    split: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something left out (a file, a folder, a CSV row) and the reason a person understands: the
    one record both sides use, in the trainer's report and in the app's summaries."""

    what: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """As the trainer's report.json lists it."""
        return {"path": self.what, "reason": self.reason}


def class_of_folder(name: str) -> str | None:
    """The class a first-level folder of a dataset stands for, the one rule both sides follow:
    its name as text (a byte that is not UTF-8 shows as U+FFFD, as the app shows any name), or
    None for a hidden folder, which holds no class."""
    return None if name.startswith(".") else shown(name)


@dataclass(frozen=True)
class Manifest:
    """The usable rows, and (forgiving reads only) the rows left out and why."""

    rows: list[ManifestRow]
    skipped: list[Skipped] = field(default_factory=list)
    n_rows: int = 0
    encoding: str = "utf-8"


def read_manifest(
    path: Path, *, forgiving: bool = False, cell: Callable[[str], str] = str.strip
) -> Manifest:
    """Read a ``path,label`` CSV (see the module for what ``forgiving`` allows).

    ``cell`` turns a raw cell into its text (the app passes one that also undoes its
    spreadsheet-formula guard). Raises ManifestError for an unusable file, and in strict mode
    for an incomplete row too.
    """
    text, encoding = _text(path, forgiving)
    delimiter = _delimiter(text) if forgiving else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        table = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise ManifestError(f"{path.name} is not a valid CSV file ({exc})") from exc
    if not table:
        if forgiving:
            raise ManifestError(f"{path.name} is empty: it needs rows of path,label.")
        _strict_header([], path.name)
    if forgiving:
        columns, has_header = _forgiving_header(table[0][1], path.name)
    else:
        columns, has_header = _strict_header(table[0][1], path.name), True
    body = table[1:] if has_header else table
    if forgiving and not body:
        raise ManifestError(f"{path.name} has a header but no rows of path,label.")
    rows, skipped = [], []
    for line, row in body:
        values = {name: cell(row[i]) if i < len(row) else "" for name, i in columns.items()}
        raw_path = path_from_cells(values["path"], values.get(PATH_BYTES_COLUMN))
        where = f"{path.name} line {line}"
        label = values["label"]
        if not forgiving and not (label and raw_path):
            raise ManifestError(f"{where} has an empty {'path' if label else 'label'}: fill it in")
        if raw_path and label:
            rows.append(ManifestRow(line, raw_path, label, *_extras(values)))
        elif not raw_path:
            skipped.append(Skipped(where, "no path"))
        elif columns["label"] >= len(row):
            skipped.append(Skipped(where, "missing label column"))
        else:
            skipped.append(Skipped(f"{where}: {raw_path}", "no label"))
    return Manifest(rows, skipped, len(body), encoding)


def write_manifest(path: Path, rows: Iterable[Sequence[str]]) -> int:
    """Write ``(path, label, group, split)`` rows for the trainer, whole or not at all.

    Cells are written as they are (the trainer reads them raw); a path that is not UTF-8 keeps its
    exact bytes in ``path_bytes``. Returns how many rows were written.
    """
    count = 0
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*MANIFEST_COLUMNS, *OPTIONAL_MANIFEST_COLUMNS, PATH_BYTES_COLUMN])
        for file, label, group, split in rows:
            writer.writerow([shown(file), label, group, split, path_bytes_cell(file)])
            count += 1
    return count


def _extras(values: dict[str, str]) -> tuple[str, str]:
    return values.get("group", ""), values.get("split", "")


def _text(path: Path, forgiving: bool) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} does not exist (moved or deleted?).") from exc
    except IsADirectoryError as exc:
        raise ManifestError(f"{path} is a folder, not a CSV file.") from exc
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not forgiving:
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path.name} is not UTF-8 text: save it as a UTF-8 CSV") from exc
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in data[:4096] and not utf16:
        raise ManifestError(f"{path.name} looks like a binary file, not a CSV text file.")
    for encoding in ["utf-16"] if utf16 else ["utf-8-sig", "cp1252", "latin-1"]:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ManifestError(f"{path.name} is not text in any encoding we know; save it as UTF-8.")


def _delimiter(text: str) -> str:
    """The separator of the first line: comma, semicolon (European Excel) or tab."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _strict_header(first_row: list[str], name: str) -> dict[str, int]:
    cells = [c.strip() for c in first_row]
    lacking = [column for column in MANIFEST_COLUMNS if column not in cells]
    if lacking:
        raise ManifestError(
            f"{name} lacks column(s) {', '.join(lacking)}: its first row must name the columns "
            f"path,label (it has: {', '.join(cells) or 'nothing'})"
        )
    known = (*MANIFEST_COLUMNS, *OPTIONAL_MANIFEST_COLUMNS, PATH_BYTES_COLUMN)
    return {column: cells.index(column) for column in known if column in cells}


def _forgiving_header(first_row: list[str], name: str) -> tuple[dict[str, int], bool]:
    """(column positions, whether the first row is a header)."""
    cells = [c.strip().lower() for c in first_row]
    path_col = next((cells.index(c) for c in PATH_ALIASES if c in cells), None)
    label_col = next((cells.index(c) for c in LABEL_ALIASES if c in cells), None)
    if path_col is not None and label_col is not None:
        columns = {"path": path_col, "label": label_col}
        if PATH_BYTES_COLUMN in cells:
            columns[PATH_BYTES_COLUMN] = cells.index(PATH_BYTES_COLUMN)
        return columns, True
    if path_col is not None or label_col is not None:
        raise ManifestError(
            f"{name} needs both a path and a label column; its header has "
            f"{', '.join(c for c in cells if c) or 'nothing'}."
        )
    if cells and is_image_path(cells[0]):
        return {"path": 0, "label": 1}, False
    raise ManifestError(
        f"{name}: the first row should name the columns path,label "
        f"(it has {', '.join(c for c in cells if c) or 'nothing'})."
    )
