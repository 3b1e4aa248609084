"""One table of every image's label, the current model's prediction and, on request, embedding.

For the next tool: pandas, Polars, DuckDB or Hugging Face ``datasets`` read the Parquet file
directly (pyarrow, the optional ``parquet`` extra); the CSV is for spreadsheets, so every text
cell is neutralised (``csv_cells``) and embeddings become one column per dimension. Columns:
path, label, prediction, confidence, split (the project's train/val/test for labelled images),
path_bytes, then ``embedding`` (Parquet: a fixed-size list of float32) or ``embedding_0``...
The file appears under a temporary name and is renamed, so a cancelled or failed export leaves
nothing half-written.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.csv_cells import neutralise_row
from desktop.core.errors import ExportError
from desktop.core.folders_export import Progress
from desktop.core.records import ExportSummary
from desktop.core.split_export import project_splits
from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, shown
from trainer.files import replacing

if TYPE_CHECKING:
    from desktop.core.store import Project

COLUMNS = ("path", "label", "prediction", "confidence", "split", PATH_BYTES_COLUMN)
FORMATS = ("parquet", "csv")
PARQUET_MISSING = (
    "Parquet needs pyarrow: `pip install pigeonhole[parquet]` (or choose CSV, which needs nothing)"
)
_CHUNK = 2048


@dataclass
class ResultsTable:
    """The table as columns; ``embeddings`` is (n, d) float32 with NaN rows where none is cached."""

    columns: dict[str, list]
    embeddings: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.columns["path"])


def results_table(
    project: Project,
    *,
    embeddings: bool = False,
    cancel: Cancel = None,
    progress: Progress | None = None,
) -> ResultsTable | None:
    """The rows for the current model (empty predictions without one); None when cancelled."""
    model_id = project.current_model_id()
    names = project.model(model_id).classes if model_id is not None else []
    classes = {c.id: c.name for c in project.classes()}
    predictions = project.predictions(model_id) if model_id is not None else {}
    splits = project_splits(project)
    rows = project.image_rows(model_id)
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    vectors: list[np.ndarray | None] = []
    for done, row in enumerate(rows):
        if done % _CHUNK == 0:
            if progress is not None:
                progress(done, len(rows))
            if is_cancelled(cancel):
                return None
        prediction = predictions.get(row.id)
        index = prediction.class_index if prediction is not None else -1
        columns["path"].append(shown(row.path))
        columns["label"].append(classes.get(row.label_id, "") if row.label_id is not None else "")
        columns["prediction"].append(names[index] if 0 <= index < len(names) else "")
        columns["confidence"].append(None if prediction is None else float(prediction.confidence))
        columns["split"].append(splits[row.path][1] if row.path in splits else "")
        columns[PATH_BYTES_COLUMN].append(path_bytes_cell(row.path))
        if embeddings:
            blob = prediction.embedding if prediction is not None else None
            vectors.append(None if not blob else np.frombuffer(blob, dtype=np.float32))
    if progress is not None:
        progress(len(rows), len(rows))
    return ResultsTable(columns, _stack(vectors) if embeddings else None)


def _stack(vectors: list[np.ndarray | None]) -> np.ndarray:
    """(n, d) float32, NaN where an image has no embedding; ExportError for mixed sizes."""
    sizes = {len(v) for v in vectors if v is not None}
    if len(sizes) > 1:
        raise ExportError(
            "The cached embeddings have different sizes: classify all images with one model "
            "before exporting embeddings."
        )
    out = np.full((len(vectors), sizes.pop() if sizes else 0), np.nan, np.float32)
    for i, vector in enumerate(vectors):
        if vector is not None:
            out[i] = vector
    return out


def export_results(
    project: Project,
    path: str | os.PathLike[str],
    table_format: str,
    *,
    embeddings: bool = False,
    cancel: Cancel = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the results table as Parquet or CSV; a cancelled export writes nothing."""
    if table_format not in FORMATS:
        raise ExportError(f"Unknown table format {table_format!r}; use parquet or csv.")
    if table_format == "parquet" and not parquet_available():
        raise ExportError(PARQUET_MISSING)
    path = _check_target(Path(path))
    table = results_table(project, embeddings=embeddings, cancel=cancel, progress=progress)
    if table is None:
        return ExportSummary(str(path), 0, cancelled=True)
    try:
        with replacing(path) as tmp:
            (_write_parquet if table_format == "parquet" else _write_csv)(table, tmp)
    except OSError as exc:
        raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc
    return ExportSummary(str(path), len(table))


def parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _check_target(path: Path) -> Path:
    path = path.absolute()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; choose a file name for the table.")
    if not path.parent.is_dir():
        raise ExportError(f"The folder {path.parent} does not exist.")
    return path


def _write_parquet(table: ResultsTable, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {
        name: pa.array(values, pa.float32() if name == "confidence" else pa.string())
        for name, values in table.columns.items()
    }
    if table.embeddings is not None and table.embeddings.shape[1] == 0:
        # No image has an embedding yet (nothing classified): a column of nulls, still there.
        arrays["embedding"] = pa.nulls(len(table), pa.list_(pa.float32()))
    elif table.embeddings is not None:
        width = table.embeddings.shape[1]
        flat = pa.array(table.embeddings.reshape(-1), pa.float32())
        missing = np.isnan(table.embeddings).all(axis=1)
        arrays["embedding"] = pa.FixedSizeListArray.from_arrays(flat, width, mask=pa.array(missing))
    pq.write_table(pa.table(arrays), path)


def _write_csv(table: ResultsTable, path: Path) -> None:
    names = list(table.columns)
    width = 0 if table.embeddings is None else table.embeddings.shape[1]
    header = names + [f"embedding_{i}" for i in range(width)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(len(table)):
            # Text cells are neutralised; numbers are written as numbers (a leading "-" is a sign).
            cells = neutralise_row([_cell(table.columns[name][i]) for name in names])
            if width:
                vector = table.embeddings[i]
                cells += ["" if np.isnan(x) else f"{x:.6g}" for x in vector.tolist()]
            writer.writerow(cells)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
