"""Labels in and out as CSV: importing ``path,label`` files, exporting results, training manifests.

Import is forgiving about the file and strict about the project: any common encoding (UTF-8 with
or without BOM, UTF-16 with BOM, Windows-1252), comma, semicolon or tab separators, a header in any
column order with extra columns ignored, paths absolute or relative to the CSV's folder. Rows we
cannot use are skipped and reported with a reason; the rows we can use are applied in ONE
transaction by ``Project.import_labels`` (one undoable action).

Decision: a row naming an existing file that is not yet in the project adds that image, because
the CSV explicitly asks for it to be labelled (the summary counts them as added); rows naming files
that do not exist are skipped ("file not found").
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
from dataclasses import dataclass
from pathlib import Path

from desktop.core.errors import CsvError, ExportError
from desktop.core.records import ExportSummary, ImportSummary, Skipped
from trainer.contract import is_image_path
from trainer.files import replacing

PATH_COLUMNS = ("path", "file", "filename", "file_name", "filepath", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "class_name", "category")
EXPORT_COLUMNS = ("path", "label", "prediction", "confidence", "top_k")


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
    body = numbered[1:] if has_header else numbered
    if not body:
        raise CsvError(f"{path.name} has a header but no rows of path,label.")
    rows: list[tuple[str, str]] = []
    skipped: list[Skipped] = []
    for line, row in body:
        where = f"{path.name} line {line}"
        raw_path = row[path_col].strip() if path_col < len(row) else ""
        label = row[label_col].strip() if label_col < len(row) else ""
        if not raw_path:
            skipped.append(Skipped(where, "no path"))
        elif label_col >= len(row):
            skipped.append(Skipped(where, "missing label column"))
        elif not label:
            skipped.append(Skipped(f"{where}: {raw_path}", "no label"))
        else:
            rows.append((_absolute(raw_path, path.parent), label))
    return LabelCsv(rows, skipped, len(body), encoding)


def import_label_csv(
    project,
    path: str | os.PathLike[str],
    *,
    create_classes: bool = False,
    add_new_images: bool = True,
    dry_run: bool = False,
) -> ImportSummary:
    """Import a label CSV into a project in one transaction; ``dry_run`` only reports.

    Run it with ``dry_run=True`` first: ``unknown_classes`` lists names the UI can offer to create
    (then call again with ``create_classes=True``).
    """
    table = read_label_csv(path)
    summary = project.import_labels(
        table.rows,
        create_classes=create_classes,
        add_new_images=add_new_images,
        dry_run=dry_run,
        text=f"Import labels from {Path(path).name}",
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


def _absolute(raw_path: str, base: Path) -> str:
    """A CSV path as an absolute, normalised path; relative paths are relative to the CSV."""
    path = os.path.expanduser(raw_path)
    if not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(os.path.abspath(path))


# ----------------------------------------------------------------- export
def format_topk(topk: list[tuple[int, float]], names: list[str]) -> str:
    """Top-k as "cat:0.9100;dog:0.0500" (class names from the model)."""
    return ";".join(f"{names[i] if 0 <= i < len(names) else i}:{p:.4f}" for i, p in topk)


def parse_topk(text: str) -> list[tuple[str, float]]:
    """Inverse of format_topk (class names may contain ':' but not ';')."""
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
    names = project.model(model_id).classes if model_id is not None else []
    class_names = {c.id: c.name for c in project.classes()}
    predictions = project.predictions(model_id) if model_id is not None else {}
    rows = []
    for image in project.image_rows(model_id):
        prediction = predictions.get(image.id)
        rows.append(
            [
                image.path,
                class_names.get(image.label_id, "") if image.label_id is not None else "",
                _name(names, prediction.class_index) if prediction else "",
                f"{prediction.confidence:.4f}" if prediction else "",
                format_topk(prediction.topk, names) if prediction else "",
            ]
        )
    _write_atomically(Path(path), [list(EXPORT_COLUMNS), *rows])
    return ExportSummary(str(Path(path).absolute()), len(rows))


MANIFEST_COLUMNS = ("path", "label", "group", "split")
"""``group``: the image's duplicate group (the trainer keeps a group in one split); ``split``:
a split an old version locked (see splits_lock.py), usually empty."""


def write_training_manifest(project, path: str | os.PathLike[str]) -> int:
    """Write ``path,label,group,split`` for labelled, readable images for ``python -m trainer``.

    Paths are absolute (the trainer accepts them, see trainer/data.py). Files that vanished since
    the last scan are left out so the trainer does not stop on them. Returns the number of rows.
    """
    rows = [list(row) for row in project.training_rows() if os.path.isfile(row[0])]
    if not rows:
        raise ExportError("There are no labelled, readable images to train on yet: label some.")
    _write_atomically(Path(path), [list(MANIFEST_COLUMNS), *rows])
    return len(rows)


def _name(names: list[str], index: int) -> str:
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
