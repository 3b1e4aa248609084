"""A cluster's results brought into a project, so a big batch can still be reviewed in the window.

``python -m desktop classify --engine ray`` writes Parquet shards or one CSV (path, prediction,
confidence, top_k, error). Rows for images the project has become predictions of a model the
project knows (normally the current one); every other row is counted, never added: results are
not the user's decisions, so importing one adds no image and no label. A file as a whole must fit
the model first: its classes must be the model's, and a shard that records the model's SHA-256
must name this model, or nothing is imported.

Predictions are results, not user actions, so (like classifying in the window) an import is not
undoable; importing again replaces them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.cancel import Cancel, is_cancelled
from desktop.core.csv_cells import unneutralise
from desktop.core.csv_io import parse_topk
from desktop.core.errors import ProjectError
from desktop.core.records import PredictionRow, Skipped
from trainer.file_names import PATH_BYTES_COLUMN, path_from_cells

RESULT_COLUMNS = ("path", "prediction", "confidence", "top_k", "error")
PATHS_KEY = b"pigeonhole.paths_sha1"
MODEL_KEY = b"pigeonhole.model_sha256"
CLASSES_KEY = b"pigeonhole.classes"
_CHUNK = 5000


class ResultsError(ProjectError):
    """A results file or folder we cannot import at all; nothing was changed."""


@dataclass
class ResultsSummary:
    """What an import did, for the summary dialog."""

    n_rows: int = 0
    n_imported: int = 0
    n_errors: int = 0
    """Rows the cluster could not classify (their reason stays in the results file)."""
    n_not_in_project: int = 0
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    path: str
    prediction: str
    confidence: float | None
    top_k: str
    error: str
    embedding: list[float] | None = None


def import_results(
    project,
    source: str | os.PathLike[str],
    model_id: int | None = None,
    cancel: Cancel = None,
) -> ResultsSummary:
    """Store the predictions in ``source`` (CSV, Parquet file or folder of shards) for images
    the project has, as predictions of ``model_id`` (default: the current model).

    Cancelling stops between chunks of rows; the chunks already stored stay.
    """
    model_id = model_id if model_id is not None else project.current_model_id()
    if model_id is None:
        raise ResultsError(
            "Open the model that made these results first (File → Open Model…), "
            "so the predictions belong to it."
        )
    record = project.model(model_id)
    classes = record.classes
    index = {name: i for i, name in enumerate(classes)}
    summary = ResultsSummary()
    for chunk in _chunks(_read(Path(source), record)):
        if is_cancelled(cancel):
            break
        summary.n_rows += len(chunk)
        found = project.image_ids_by_path([row.path for row in chunk if not row.error])
        predictions = []
        for row in chunk:
            if row.error:
                summary.n_errors += 1
                continue
            image_id = found.get(os.path.abspath(row.path))
            if image_id is None:
                summary.n_not_in_project += 1
                continue
            try:
                predictions.append(_prediction(image_id, row, index))
            except ValueError as exc:
                summary.skipped.append(Skipped(row.path, str(exc)))
        summary.n_imported += project.set_predictions(model_id, predictions)
    return summary


def _prediction(image_id: int, row: _Row, index: dict[str, int]) -> PredictionRow:
    if row.prediction not in index:
        raise ValueError(f"class '{row.prediction}' is not one of the model's classes")
    if row.confidence is None or not 0.0 <= row.confidence <= 1.0:
        raise ValueError(f"confidence {row.confidence} is not between 0 and 1")
    pairs = []
    for name, probability in parse_topk(row.top_k):
        if name not in index or not math.isfinite(probability):
            raise ValueError(f"top_k names '{name}', not one of the model's classes")
        pairs.append((index[name], probability))
    embedding = None
    if row.embedding:
        import numpy as np

        embedding = np.asarray(row.embedding, np.float32).tobytes()
    return PredictionRow(image_id, index[row.prediction], row.confidence, pairs, embedding)


def _chunks(rows: Iterator[_Row]) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def results_source(chosen: Path) -> Path:
    """What to import for a chosen file: a shard stands for the whole folder of its run."""
    if chosen.suffix.lower() == ".parquet" and chosen.name.startswith("part-"):
        return chosen.parent
    return chosen


def _read(source: Path, record) -> Iterator[_Row]:
    """The rows of ``source``, after checking that the whole file fits the model."""
    if source.is_dir():
        shards = sorted(source.glob("part-*.parquet"))
        if not shards:
            raise ResultsError(f"{source} holds no part-*.parquet shards from a cluster run.")
        for shard in shards:  # every shard is checked before any row is stored
            _check_parquet(shard, record)
        return (row for shard in shards for row in _parquet_rows(shard))
    if source.suffix.lower() == ".parquet":
        _check_parquet(source, record)
        return _parquet_rows(source)
    return _csv_rows(source, record.classes)


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ResultsError(
            "Reading Parquet results needs pyarrow: pip install 'pigeonhole[cluster]' "
            "(or classify with --out results.csv)."
        ) from None
    return pq


def _check_parquet(path: Path, record) -> None:
    pq = _pyarrow()
    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ResultsError(f"{path.name} is not a Parquet file we can read ({exc}).") from None
    missing = [c for c in RESULT_COLUMNS if c not in schema.names]
    if missing:
        raise ResultsError(f"{path.name} has no column {', '.join(missing)}: not our results.")
    metadata = schema.metadata or {}
    classes = metadata.get(CLASSES_KEY)
    if classes is not None and json.loads(classes) != record.classes:
        raise ResultsError(
            f"{path.name} was made by a model with other classes than {Path(record.path).name}."
        )
    made_by = metadata.get(MODEL_KEY)
    model_path = Path(record.path)
    if made_by is not None and model_path.is_file() and made_by.decode() != file_sha256(model_path):
        raise ResultsError(
            f"{path.name} was made by another model file than {model_path.name}: open that "
            "model first, so the predictions are filed under the model that made them."
        )


def _parquet_rows(path: Path) -> Iterator[_Row]:
    pq = _pyarrow()
    file = pq.ParquetFile(path)
    columns = [*RESULT_COLUMNS, *(["embedding"] if "embedding" in file.schema_arrow.names else [])]
    for batch in file.iter_batches(columns=columns):
        for row in batch.to_pylist():
            yield _Row(
                path=str(row["path"]),
                prediction=row["prediction"] or "",
                confidence=row["confidence"],
                top_k=row["top_k"] or "",
                error=row["error"] or "",
                embedding=row.get("embedding"),
            )


def _csv_rows(path: Path, classes: list[str]) -> Iterator[_Row]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"Cannot read {path.name} as a UTF-8 CSV ({exc}).") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ())[: len(RESULT_COLUMNS)] != RESULT_COLUMNS:
        raise ResultsError(
            f"{path.name} is not a classify CSV: its header should be {','.join(RESULT_COLUMNS)}."
        )
    # Cells were neutralised against spreadsheet formulas (desktop.core.csv_cells): undo that.
    rows = [{key: unneutralise(value or "") for key, value in row.items()} for row in reader]
    named = {r["prediction"] for r in rows if not r["error"] and r["prediction"]}
    if named and not named & set(classes):
        raise ResultsError(f"{path.name} names none of the model's classes: another model's?")
    for row in rows:
        yield _Row(
            path=path_from_cells(row["path"], row.get(PATH_BYTES_COLUMN)),
            prediction=row["prediction"] or "",
            confidence=_number(row["confidence"]),
            top_k=row["top_k"] or "",
            error=row["error"] or "",
        )


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def file_sha256(path: Path) -> str:
    """The model's fingerprint that shards record, so results stay with the model that made them."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
