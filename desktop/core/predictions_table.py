"""The models and predictions tables: models registered in a project and what each predicted.

Predictions keep the MODEL's class index; ``model_class_ids`` maps it to the project's class and
``version_class_names`` to the name the user sees, the one mapping the grid, preview, exports,
review and evaluation all use, so after a rename they cannot disagree.
A model class is first matched by name (case-insensitive), so a model trained elsewhere still lines
up with the user's classes; that match is then remembered by class id (``link_model_classes``), so
renaming a class keeps its predictions, and undoing the rename needs nothing extra. A remembered
class that no longer exists falls back to matching by name.
Predictions are results, not user decisions: they are not undoable, and are written in batches
so a cancelled or killed classification keeps what it finished.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, is_dataclass

from desktop.core.errors import InvalidAction
from desktop.core.labels_table import class_key
from desktop.core.meta_table import CURRENT_MODEL, read_meta, write_meta
from desktop.core.records import ModelRecord, PredictionRow
from desktop.core.stored_paths import from_db, to_db


def checked_info(info: object) -> dict:
    """A model's information (ModelInfo or a dict) as a dict, refused without class names."""
    info_dict = asdict(info) if is_dataclass(info) else dict(info)  # type: ignore[arg-type]
    names = info_dict.get("classes")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidAction("The model's information has no list of class names.")
    return info_dict


def add_model(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    info: dict,
    metrics: dict | None,
    n_labels: int,
) -> int:
    """Register a model file (``info`` from ``checked_info``) and make it current."""
    model_id = conn.execute(
        "INSERT INTO models (path, info, metrics, created, n_labels) VALUES (?, ?, ?, ?, ?)",
        (
            to_db(os.path.abspath(os.fspath(path))),
            json.dumps(info, sort_keys=True),
            json.dumps(metrics or {}, sort_keys=True),
            time.time(),
            int(n_labels),
        ),
    ).lastrowid
    write_meta(conn, CURRENT_MODEL, str(model_id))
    link_model_classes(conn, model_id)
    return model_id


def models(conn: sqlite3.Connection) -> list[ModelRecord]:
    """Registered models, oldest first."""
    rows = conn.execute(
        "SELECT id, path, info, metrics, created, n_labels FROM models ORDER BY id"
    ).fetchall()
    return [_model(row) for row in rows]


def model(conn: sqlite3.Connection, model_id: int) -> ModelRecord:
    row = conn.execute(
        "SELECT id, path, info, metrics, created, n_labels FROM models WHERE id = ?",
        (model_id,),
    ).fetchone()
    if row is None:
        raise InvalidAction(f"There is no model with id {model_id} in this project.")
    return _model(row)


def prediction_batches(
    rows: Iterable[PredictionRow], model_id: int, n_classes: int, batch_size: int
) -> Iterator[list[tuple]]:
    """Rows to store, in batches; a class index outside the model's classes is refused."""
    batch: list[tuple] = []
    for row in rows:
        if not 0 <= row.class_index < n_classes:
            raise InvalidAction(
                f"Prediction class index {row.class_index} is outside the model's "
                f"{n_classes} classes."
            )
        batch.append(_prediction_values(model_id, row))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_predictions(conn: sqlite3.Connection, batch: list[tuple]) -> int:
    """Store one batch from ``prediction_batches`` (replacing older ones); returns how many."""
    link_model_classes(conn, batch[0][0])
    conn.executemany(
        "INSERT OR REPLACE INTO predictions (model_id, image_id, class_index, confidence, "
        "margin, topk, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    return len(batch)


def relink_model_classes(conn: sqlite3.Connection) -> None:
    """Re-remember every model's class links, forgetting classes that were deleted.

    Call after deleting, merging or undoing: a deleted class's id may be given to the next new
    class, which must not inherit the old class's predictions.
    """
    for (model_id,) in conn.execute("SELECT id FROM models").fetchall():
        link_model_classes(conn, model_id)


def predictions(conn: sqlite3.Connection, model_id: int) -> dict[int, PredictionRow]:
    """All predictions of a model by image id."""
    rows = conn.execute(
        "SELECT image_id, class_index, confidence, topk, embedding FROM predictions "
        "WHERE model_id = ?",
        (model_id,),
    ).fetchall()
    return {row[0]: _prediction(row) for row in rows}


def predicted_classes(conn: sqlite3.Connection, model_id: int) -> dict[int, int]:
    """image id -> the model's class index, without the embeddings (a tenth of the bytes)."""
    rows = conn.execute(
        "SELECT image_id, class_index FROM predictions WHERE model_id = ?", (model_id,)
    )
    return dict(rows)


def prediction(conn: sqlite3.Connection, image_id: int, model_id: int) -> PredictionRow | None:
    """One image's prediction by a model, for the top-k bars."""
    row = conn.execute(
        "SELECT image_id, class_index, confidence, topk, embedding FROM predictions "
        "WHERE model_id = ? AND image_id = ?",
        (model_id, image_id),
    ).fetchone()
    return _prediction(row) if row else None


def unpredicted_image_ids(conn: sqlite3.Connection, model_id: int | None) -> list[int]:
    """Readable images the model has not classified yet ("Classify not yet predicted")."""
    rows = conn.execute(
        "SELECT id FROM images WHERE status = 'ok' AND id NOT IN "
        "(SELECT image_id FROM predictions WHERE model_id = ?) ORDER BY id",
        (model_id if model_id is not None else -1,),
    )
    return [row[0] for row in rows]


def model_class_ids(conn: sqlite3.Connection, model_id: int) -> list[int | None]:
    """For each of the model's class indices, the project's class id (None: no such class)."""
    names = model_class_names(conn, model_id)
    linked = _linked_ids(conn, model_id)
    current = dict(conn.execute("SELECT id, name FROM classes").fetchall())
    by_name = {class_key(name): cid for cid, name in current.items()}
    ids: list[int | None] = []
    for index, name in enumerate(names):
        cid = linked[index] if index < len(linked) else None
        ids.append(cid if cid in current else by_name.get(class_key(name)))
    return ids


def version_class_names(conn: sqlite3.Connection, model_id: int) -> list[str]:
    """For each of the model's class indices, the project class's current name (so a renamed
    class shows its new name), or the model's own name where the project has no such class."""
    current = dict(conn.execute("SELECT id, name FROM classes").fetchall())
    return [
        current[cid] if cid is not None else name
        for cid, name in zip(
            model_class_ids(conn, model_id), model_class_names(conn, model_id), strict=True
        )
    ]


def model_class_names(conn: sqlite3.Connection, model_id: int) -> list[str]:
    """The model's own class names, in its output order."""
    row = conn.execute("SELECT info FROM models WHERE id = ?", (model_id,)).fetchone()
    if row is None:
        raise InvalidAction(f"There is no model with id {model_id} in this project.")
    return [str(name) for name in json.loads(row[0]).get("classes", [])]


def link_model_classes(conn: sqlite3.Connection, model_id: int) -> None:
    """Remember, by class id, which project class each model class means (in the caller's
    transaction), so a later rename does not disconnect the model from the class."""
    write_meta(conn, _link_key(model_id), json.dumps(model_class_ids(conn, model_id)))


def _linked_ids(conn: sqlite3.Connection, model_id: int) -> list[int | None]:
    value = read_meta(conn, _link_key(model_id))
    if value is None:
        return []
    try:
        ids = json.loads(value)
    except ValueError:
        return []  # a damaged link only costs the rename memory; names still match
    if not isinstance(ids, list):
        return []
    return [i if isinstance(i, int) else None for i in ids]


def _link_key(model_id: int) -> str:
    return f"model_class_ids.{model_id}"


def _model(row: tuple) -> ModelRecord:
    model_id, path, info, metrics, created, n_labels = row
    return ModelRecord(
        model_id, from_db(path), json.loads(info), json.loads(metrics), created, n_labels
    )


def _prediction_values(model_id: int, row: PredictionRow) -> tuple:
    topk = [[int(i), float(p)] for i, p in row.topk]
    return (
        model_id,
        int(row.image_id),
        int(row.class_index),
        float(row.confidence),
        float(row.margin),
        json.dumps(topk),
        row.embedding,
    )


def _prediction(row: tuple) -> PredictionRow:
    image_id, class_index, confidence, topk, embedding = row
    pairs = [(int(i), float(p)) for i, p in json.loads(topk)]
    return PredictionRow(image_id, class_index, confidence, pairs, embedding)
