"""Labels in and out as CSV: importing ``path,label`` files, exporting results, training manifests.

Import is forgiving about the file and strict about the project: any common encoding (UTF-8 with
or without BOM, UTF-16 with BOM, Windows-1252), comma, semicolon or tab separators, a header in any
column order with extra columns ignored, paths absolute or relative to the CSV's folder (the
contract's one manifest reader, trainer/run_folder.py, read forgivingly). Rows we cannot use are
skipped and reported with a reason; the rows we can use are applied in ONE transaction by
``Project.import_labels`` (one undoable action).

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

import csv
import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.core.csv_cells import neutralise, unneutralise
from desktop.core.errors import CsvError, ExportError
from desktop.core.records import ExportSummary, ImportSummary, Skipped
from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, shown
from trainer.files import replacing
from trainer.run_folder import ManifestError, read_manifest, write_manifest

EXPORT_COLUMNS = ("path", "label", "prediction", "confidence", "top_k", PATH_BYTES_COLUMN)


@dataclass(frozen=True, slots=True)
class LabelCsv:
    """The usable rows of a label CSV (absolute path, label) and the rows skipped, with why."""

    rows: list[tuple[str, str]]
    skipped: list[Skipped]
    n_rows: int
    encoding: str


def read_label_csv(path: str | os.PathLike[str]) -> LabelCsv:
    """Parse a label CSV with the contract's one manifest reader, forgiving as a person's file
    needs; CsvError when the file as a whole is unusable."""
    path = Path(path)
    try:
        table = read_manifest(path, forgiving=True, cell=_cell)
    except ManifestError as exc:
        raise CsvError(str(exc)) from exc
    rows = [(_absolute(row.path, path.parent), row.label) for row in table.rows]
    return LabelCsv(rows, table.skipped, table.n_rows, table.encoding)


def _cell(raw: str) -> str:
    """A cell's text: our exports guard formula-like cells with a quote, taken off here."""
    return unneutralise(raw.strip())


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


def write_training_manifest(project, path: str | os.PathLike[str]) -> int:
    """Write ``path,label,group,split,path_bytes`` for labelled, readable images for the trainer.

    Written by the contract's ``write_manifest`` (trainer/run_folder.py), raw, not neutralised:
    the trainer reads it as is. Paths are absolute (the trainer accepts them). Files that vanished
    since the last scan are left out so the trainer does not stop on them. Returns the number of
    rows.
    """
    rows = [row for row in project.training_rows() if os.path.isfile(row[0])]
    if not rows:
        raise ExportError("There are no labelled, readable images to train on yet: label some.")
    try:
        return write_manifest(_writable(Path(path)), rows)
    except OSError as exc:
        raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _writable(path: Path) -> Path:
    """``path`` made absolute, or ExportError when it names a folder or lies in none."""
    path = path.absolute()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; choose a file name for the CSV.")
    if not path.parent.is_dir():
        raise ExportError(f"The folder {path.parent} does not exist.")
    return path


def _write_atomically(path: Path, rows: list[list[str]]) -> None:
    path = _writable(path)
    try:
        with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    except OSError as exc:
        raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc
