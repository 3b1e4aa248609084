"""Labels in and out as CSV: importing ``path,label`` files, exporting results, training manifests.

Import is forgiving about the file and strict about the project: any common encoding (UTF-8 with
or without BOM, UTF-16 with BOM, Windows-1252), comma, semicolon or tab separators, a header in any
column order with extra columns ignored, paths absolute or relative to the CSV's folder. Rows we
cannot use are skipped and reported with a reason; the rows we can use are applied in ONE
transaction by ``Project.import_labels`` (one undoable action).

A path that is not valid UTF-8 is written as its shown form in ``path`` and its exact bytes in a
last column ``path_bytes``, which import reads back (see trainer/file_names.py for why).

Decision: a row naming an existing file that is not yet in the project adds that image, because
the CSV explicitly asks for it to be labelled (the summary counts them as added); rows naming files
that do not exist are skipped ("file not found").

Cells are read and written through ``desktop.core.csv_cells``: what we export never runs as a
spreadsheet formula, and reads back as it was. Top-k is a JSON list of [class, probability] pairs,
so any class name (with ';', ':' or quotes) survives.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.core.csv_cells import neutralise, unneutralise
from desktop.core.errors import CsvError, ExportError
from desktop.core.records import ExportSummary, ImportSummary, Skipped
from trainer.contract import is_image_path
from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, path_from_cells, shown
from trainer.files import replacing

PATH_COLUMNS = ("path", "file", "filename", "file_name", "filepath", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "class_name", "category")
EXPORT_COLUMNS = ("path", "label", "prediction", "confidence", "top_k", PATH_BYTES_COLUMN)


@dataclass(frozen=True, slots=True)
class LabelCsv:
    """The usable rows of a label CSV (absolute path, label) and the rows skipped, with why."""

    rows: list[tuple[str, str]]
    skipped: list[Skipped]
    n_rows: int
    encoding: str


def read_label_csv(path: str | os.PathLike[str]) -> LabelCsv:
    """Parse a label CSV; CsvError when the file as a whole is unusable."""
    path = Path(path)
    text, encoding = _decode(_read_bytes(path), path)
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    except csv.Error as exc:
        raise CsvError(f"{path.name} is not a valid CSV file ({exc}).") from exc
    numbered = [(n, row) for n, row in enumerate(table, start=1) if any(c.strip() for c in row)]
    if not numbered:
        raise CsvError(f"{path.name} is empty: it needs rows of path,label.")
    path_col, label_col, has_header = _columns(numbered[0][1], path.name)
    bytes_col = _bytes_column(numbered[0][1]) if has_header else None
    body = numbered[1:] if has_header else numbered
    if not body:
        raise CsvError(f"{path.name} has a header but no rows of path,label.")
    rows: list[tuple[str, str]] = []
    skipped: list[Skipped] = []
    for line, row in body:
        where = f"{path.name} line {line}"
        raw_path = _cell(row, path_col)
        if bytes_col is not None:
            raw_path = path_from_cells(raw_path, _cell(row, bytes_col))
        label = _cell(row, label_col)
        if not raw_path:
            skipped.append(Skipped(where, "no path"))
        elif label_col >= len(row):
            skipped.append(Skipped(where, "missing label column"))
        elif not label:
            skipped.append(Skipped(f"{where}: {raw_path}", "no label"))
        else:
            rows.append((_absolute(raw_path, path.parent), label))
    return LabelCsv(rows, skipped, len(body), encoding)


def _cell(row: list[str], column: int) -> str:
    return unneutralise(row[column].strip()) if column < len(row) else ""


def import_label_csv(
    project,
    path: str | os.PathLike[str],
    *,
    create_classes: bool = False,
    add_new_images: bool = True,
    dry_run: bool = False,
    allow_outside: bool = False,
) -> ImportSummary:
    """Import a label CSV into a project in one transaction; ``dry_run`` only reports.

    Run it with ``dry_run=True`` first: ``unknown_classes`` lists names the UI can offer to create
    (then call again with ``create_classes=True``), and ``outside`` lists files not yet in the
    project that lie outside the CSV's folder (``../../etc/shadow``, ``~/.ssh/id_rsa``): they
    are added only when called again with ``allow_outside=True``, after the user said yes.
    """
    path = Path(path).absolute()
    table = read_label_csv(path)
    summary = project.import_labels(
        table.rows,
        create_classes=create_classes,
        add_new_images=add_new_images,
        dry_run=dry_run,
        text=f"Import labels from {path.name}",
        new_files_within=None if allow_outside else path.parent,
    )
    return dataclasses.replace(
        summary, n_rows=table.n_rows, skipped=table.skipped + summary.skipped
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CsvError(f"{path} does not exist (moved or deleted?).") from exc
    except IsADirectoryError as exc:
        raise CsvError(f"{path} is a folder, not a CSV file.") from exc
    except OSError as exc:
        raise CsvError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """Text and the encoding that worked: UTF-16 by BOM, else UTF-8(-sig), else Windows-1252."""
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvError(f"{path.name} looks like a binary file, not a CSV text file.")
    candidates = ["utf-16"] if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else []
    for encoding in [*candidates, "utf-8-sig", "cp1252", "latin-1"]:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise CsvError(f"{path.name} is not text in any encoding we know; save it as UTF-8.")


def _delimiter(text: str) -> str:
    """The separator used in the first line: comma, semicolon (European Excel) or tab."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _columns(first_row: list[str], name: str) -> tuple[int, int, bool]:
    """(path column, label column, whether the first row is a header)."""
    cells = [c.strip().lower() for c in first_row]
    path_col = next((cells.index(c) for c in PATH_COLUMNS if c in cells), None)
    label_col = next((cells.index(c) for c in LABEL_COLUMNS if c in cells), None)
    if path_col is not None and label_col is not None:
        return path_col, label_col, True
    if path_col is not None or label_col is not None:
        raise CsvError(
            f"{name} needs both a path and a label column; its header has "
            f"{', '.join(c for c in cells if c) or 'nothing'}."
        )
    if cells and is_image_path(cells[0]):
        return 0, 1, False
    raise CsvError(
        f"{name}: the first row should name the columns path,label "
        f"(it has {', '.join(c for c in cells if c) or 'nothing'})."
    )


def _bytes_column(header: list[str]) -> int | None:
    cells = [c.strip().lower() for c in header]
    return cells.index(PATH_BYTES_COLUMN) if PATH_BYTES_COLUMN in cells else None


def _absolute(raw_path: str, base: Path) -> str:
    """A CSV path as an absolute, normalised path; relative paths are relative to the CSV."""
    path = os.path.expanduser(raw_path)
    if not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(os.path.abspath(path))


# ----------------------------------------------------------------- export
def format_topk(topk: Iterable[tuple[int, float]], names: Sequence[str]) -> str:
    """Top-k as JSON, e.g. ``[["cat", 0.91], ["dog", 0.05]]`` (``names``: the model's classes as
    the user sees them, ``version_class_names``)."""
    pairs = [[_name(names, int(i)), round(float(p), 4)] for i, p in topk]
    return json.dumps(pairs, ensure_ascii=False)


def parse_topk(text: str) -> list[tuple[str, float]]:
    """Inverse of format_topk; also reads the older ``cat:0.91;dog:0.05`` text."""
    text = unneutralise(text.strip())
    if not text:
        return []
    if text.startswith("["):
        return [(str(name), float(p)) for name, p in json.loads(text)]
    pairs = []
    for item in filter(None, text.split(";")):
        name, _, value = item.rpartition(":")
        pairs.append((name, float(value)))
    return pairs


def export_csv(project, path: str | os.PathLike[str], model_id: int | None = None) -> ExportSummary:
    """Write one row per image: path, label, prediction, confidence, top_k (current model).

    Written to a temporary file and renamed, so a crash never leaves half a CSV behind.
    """
    model_id = model_id if model_id is not None else project.current_model_id()
    names = project.version_class_names(model_id) if model_id is not None else []
    class_names = {c.id: c.name for c in project.classes()}
    predictions = project.predictions(model_id) if model_id is not None else {}
    rows = []
    for image in project.image_rows(model_id):
        prediction = predictions.get(image.id)
        label = class_names.get(image.label_id, "") if image.label_id is not None else ""
        predicted = ("", "", "")
        if prediction is not None:
            predicted = (
                _name(names, prediction.class_index),
                f"{prediction.confidence:.4f}",
                format_topk(prediction.topk, names),
            )
        cells = [shown(image.path), label, *predicted, path_bytes_cell(image.path)]
        rows.append([neutralise(cell) for cell in cells])
    _write_atomically(Path(path), [list(EXPORT_COLUMNS), *rows])
    return ExportSummary(str(Path(path).absolute()), len(rows))


MANIFEST_COLUMNS = ("path", "label", "group", "split")
"""``group``: the image's duplicate group (the trainer keeps a group in one split); ``split``:
a split an old version locked (see splits_lock.py), usually empty."""


def write_training_manifest(project, path: str | os.PathLike[str]) -> int:
    """Write ``path,label,group,split,path_bytes`` for labelled, readable images for the trainer.

    Paths are absolute (the trainer accepts them, see trainer/data.py). Files that vanished since
    the last scan are left out so the trainer does not stop on them. Returns the number of rows.
    Cells are written raw, not neutralised: this file is for the trainer, which reads them as is.
    """
    rows = [
        [shown(path), label, group, split, path_bytes_cell(path)]
        for path, label, group, split in project.training_rows()
        if os.path.isfile(path)
    ]
    if not rows:
        raise ExportError("There are no labelled, readable images to train on yet: label some.")
    _write_atomically(Path(path), [[*MANIFEST_COLUMNS, PATH_BYTES_COLUMN], *rows])
    return len(rows)


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _write_atomically(path: Path, rows: list[list[str]]) -> None:
    path = path.absolute()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; choose a file name for the CSV.")
    if not path.parent.is_dir():
        raise ExportError(f"The folder {path.parent} does not exist.")
    try:
        with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    except OSError as exc:
        raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc
