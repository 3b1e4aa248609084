"""Results as Parquet shards that a rerun can trust, and the one CSV made from them.

The input list is cut into shards of ``shard_size`` files in input order; shard ``i`` is
``part-0000i.parquet``. Each shard's footer records the SHA-1 of its paths and the SHA-256 of the
model, so a rerun skips a shard only when it holds exactly these files classified by this model;
anything else (files added, another model) is classified again. A shard is written to a
temporary name and renamed, so a killed run leaves whole shards or none.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from desktop.core.cluster_results import (
    CLASSES_KEY,
    MODEL_KEY,
    PATHS_KEY,
    RESULT_COLUMNS,
)
from trainer.files import replacing

CSV_COLUMNS = RESULT_COLUMNS


@dataclass(frozen=True)
class Shard:
    """One slice of the input: rows ``start`` to ``stop`` (exclusive) of the input list."""

    number: int
    start: int
    stop: int
    paths_sha1: str

    @property
    def name(self) -> str:
        return f"part-{self.number:05d}.parquet"

    def __len__(self) -> int:
        return self.stop - self.start


def plan_shards(paths: Sequence[str], shard_size: int) -> list[Shard]:
    """The shards of ``paths`` in input order."""
    shards = []
    for number, start in enumerate(range(0, len(paths), shard_size)):
        stop = min(start + shard_size, len(paths))
        digest = hashlib.sha1("\n".join(paths[start:stop]).encode("utf-8", "surrogateescape"))
        shards.append(Shard(number, start, stop, digest.hexdigest()))
    return shards


def is_done(folder: Path, shard: Shard, model_sha256: str) -> bool:
    """Whether ``folder`` already holds this shard, for these files and this model."""
    path = folder / shard.name
    if not path.is_file():
        return False
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return False  # a damaged shard is classified again and replaced
    return (
        metadata.get(PATHS_KEY) == shard.paths_sha1.encode()
        and metadata.get(MODEL_KEY) == model_sha256.encode()
    )


def write_shard(
    folder: Path, shard: Shard, rows: dict[str, np.ndarray], model_sha256: str, classes: list[str]
) -> Path:
    """Write one finished shard (its rows in input order) as Parquet, atomically."""
    order = np.argsort(rows["index"], kind="stable")
    error = [str(e) for e in rows["error"][order]]
    failed = np.array([bool(e) for e in error])
    columns: dict[str, pa.Array] = {
        "path": pa.array([str(p) for p in rows["path"][order]], pa.string()),
        "prediction": pa.array(_nullable(rows["prediction"][order], failed), pa.string()),
        "confidence": pa.array(rows["confidence"][order], pa.float32(), mask=failed),
        "top_k": pa.array(_nullable(rows["top_k"][order], failed), pa.string()),
        "error": pa.array(error, pa.string()),
    }
    if "embedding" in rows:
        embedding = rows["embedding"][order]
        values = [None if bad else vector for vector, bad in zip(embedding, failed, strict=True)]
        columns["embedding"] = pa.array(values, pa.list_(pa.float32()))
    metadata = {
        PATHS_KEY: shard.paths_sha1.encode(),
        MODEL_KEY: model_sha256.encode(),
        CLASSES_KEY: json.dumps(classes).encode(),
    }
    table = pa.table(columns).replace_schema_metadata(metadata)
    target = folder / shard.name
    with replacing(target) as partial:
        pq.write_table(table, partial)
    return target


def _nullable(values: np.ndarray, failed: np.ndarray) -> list[str | None]:
    return [None if bad else str(v) for v, bad in zip(values, failed, strict=True)]


def csv_rows(folder: Path, shards: Sequence[Shard]) -> Iterator[list[str]]:
    """The rows of the local engine's CSV, read back from the shards in input order."""
    from desktop.cli_classify import csv_row

    for shard in shards:
        table = pq.read_table(folder / shard.name, columns=list(CSV_COLUMNS))
        for row in table.to_pylist():
            if row["error"]:
                yield csv_row(row["path"], "", "", "", row["error"])
            else:
                confidence = _confidence_text(row["confidence"])
                yield csv_row(row["path"], row["prediction"], confidence, row["top_k"], "")


def _confidence_text(value: float) -> str:
    from desktop.cli_classify import confidence_text

    return confidence_text(np.float32(value))


def write_csv(out: Path, folder: Path, shards: Sequence[Shard]) -> None:
    """Assemble the CSV from the shards, all or nothing."""
    from desktop.cli_classify import CSV_COLUMNS as LOCAL_CSV_COLUMNS

    with replacing(out) as partial, partial.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(LOCAL_CSV_COLUMNS)
        writer.writerows(csv_rows(folder, shards))
