"""The classes and labels tables: what the undoable label actions do, through a history.ChangeSet.

Every function validates first and raises InvalidAction before writing anything, so a refused
request changes nothing; the caller's transaction makes the accepted ones all-or-nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Sequence

from desktop.core.connection import in_chunks
from desktop.core.errors import InvalidAction
from desktop.core.history import ChangeSet
from desktop.core.images_table import ids_by_path
from desktop.core.records import LABEL_SOURCES, Action, ClassRecord, ImportSummary, Skipped
from desktop.core.stored_paths import to_db
from trainer.contract import UnreadableImage, check_image_header

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
)  # fmt: skip
MAX_NAME_LENGTH = 100
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ----------------------------------------------------------------- reading
def classes(conn: sqlite3.Connection) -> list[ClassRecord]:
    rows = conn.execute("SELECT id, name, colour, position FROM classes ORDER BY position, id")
    return [ClassRecord(*row) for row in rows]


def class_key(name: str) -> str:
    """What makes two class names the same class (and the same folder on macOS or Windows).

    Unicode spells "café" two ways (NFC "é" or NFD "e" + accent) and SQLite's NOCASE folds ASCII
    only, so "Été" and "été" would be two classes; APFS and NTFS would put both in one folder.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())


def classes_by_key(conn: sqlite3.Connection) -> dict[str, ClassRecord]:
    """Every class under its ``class_key`` (in an old file with twins, the first in order wins)."""
    found: dict[str, ClassRecord] = {}
    for record in classes(conn):
        found.setdefault(class_key(record.name), record)
    return found


def class_by_name(conn: sqlite3.Connection, name: str) -> ClassRecord | None:
    """The class of this name in any case and Unicode form, or None."""
    return classes_by_key(conn).get(class_key(name))


def _class(conn: sqlite3.Connection, class_id: int) -> ClassRecord:
    row = conn.execute(
        "SELECT id, name, colour, position FROM classes WHERE id = ?", (class_id,)
    ).fetchone()
    if row is None:
        raise InvalidAction(f"There is no class with id {class_id} (was it deleted?).")
    return ClassRecord(*row)


def _row(record: ClassRecord) -> dict[str, object]:
    return dataclasses.asdict(record)


# ----------------------------------------------------------------- validation
def clean_name(name: object) -> str:
    """A valid class name in Unicode NFC form, or InvalidAction saying what is wrong with it."""
    if not isinstance(name, str):
        raise InvalidAction("A class name must be text.")
    cleaned = unicodedata.normalize("NFC", name.strip())
    if not cleaned:
        raise InvalidAction("A class name cannot be empty.")
    if _CONTROL.search(cleaned):
        raise InvalidAction(
            f"The class name {cleaned!r} contains line breaks or control characters."
        )
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidAction(f"A class name can have at most {MAX_NAME_LENGTH} characters.")
    return cleaned


def clean_names(names: Sequence[object]) -> list[str]:
    """Every name cleaned, or InvalidAction naming the first bad one; nothing is written."""
    if not names:
        raise InvalidAction("There are no class names to add.")
    cleaned = []
    for name in names:
        try:
            cleaned.append(clean_name(name))
        except InvalidAction as exc:
            shown = repr(name[:40] + "…" if isinstance(name, str) and len(name) > 40 else name)
            raise InvalidAction(f"No classes were added: {shown}: {exc}") from exc
    return cleaned


def clean_colour(colour: object) -> str:
    if not isinstance(colour, str) or not _COLOUR.match(colour):
        raise InvalidAction(f"{colour!r} is not a colour; use the form #rrggbb, e.g. #1f77b4.")
    return colour.lower()


def _check_unique(
    conn: sqlite3.Connection,
    name: str,
    except_id: int | None = None,
    known: dict[str, ClassRecord] | None = None,
) -> None:
    clash = (known if known is not None else classes_by_key(conn)).get(class_key(name))
    if clash is not None and clash.id != except_id:
        raise InvalidAction(f"There is already a class called {clash.name}.")


def _check_images(conn: sqlite3.Connection, image_ids: list[int]) -> None:
    found = 0
    for chunk, marks in in_chunks(image_ids):
        found += conn.execute(
            f"SELECT count(*) FROM images WHERE id IN ({marks})", chunk
        ).fetchone()[0]
    if found != len(image_ids):
        raise InvalidAction(f"{len(image_ids) - found} of the images are not in this project.")


# ----------------------------------------------------------------- class actions
def add_class(
    changes: ChangeSet,
    name: str,
    colour: str | None = None,
    known: dict[str, ClassRecord] | None = None,
) -> ClassRecord:
    """Add a class; ``known`` (from ``classes_by_key``) saves a scan per class and is updated."""
    conn = changes.conn
    name = clean_name(name)
    _check_unique(conn, name, known=known)
    position = conn.execute("SELECT count(*) FROM classes").fetchone()[0]
    colour = clean_colour(colour) if colour is not None else PALETTE[position % len(PALETTE)]
    new_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM classes").fetchone()[0]
    record = ClassRecord(new_id, name, colour, position)
    changes.put("classes", new_id, _row(record))
    if known is not None:
        known[class_key(name)] = record
    return record


def rename_class(changes: ChangeSet, class_id: int, name: str) -> tuple[str, str]:
    record = _class(changes.conn, class_id)
    name = clean_name(name)
    _check_unique(changes.conn, name, except_id=class_id)
    changes.put("classes", class_id, _row(dataclasses.replace(record, name=name)))
    return record.name, name


def recolour_class(changes: ChangeSet, class_id: int, colour: str) -> str:
    record = _class(changes.conn, class_id)
    colour = clean_colour(colour)
    changes.put("classes", class_id, _row(dataclasses.replace(record, colour=colour)))
    return record.name


def _labelled_with(conn: sqlite3.Connection, class_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT image_id, class_id, source, updated FROM labels WHERE class_id = ?", (class_id,)
    ).fetchall()


def _remove_class(changes: ChangeSet, record: ClassRecord) -> None:
    """Delete a class row and close the gap in the order (labels must already be gone)."""
    changes.put("classes", record.id, None)
    later = [c for c in classes(changes.conn) if c.position > record.position]
    changes.put_many(
        "classes", {c.id: _row(dataclasses.replace(c, position=c.position - 1)) for c in later}
    )


def merge_classes(changes: ChangeSet, source_id: int, target_id: int) -> tuple[str, str, int]:
    if source_id == target_id:
        raise InvalidAction("A class cannot be merged into itself.")
    source = _class(changes.conn, source_id)
    target = _class(changes.conn, target_id)
    now = time.time()
    moved = _labelled_with(changes.conn, source_id)
    changes.put_many(
        "labels",
        {
            image_id: {"image_id": image_id, "class_id": target_id, "source": src, "updated": now}
            for image_id, _, src, _ in moved
        },
    )
    _remove_class(changes, source)
    return source.name, target.name, len(moved)


def delete_class(changes: ChangeSet, class_id: int) -> tuple[str, int]:
    record = _class(changes.conn, class_id)
    cleared = _labelled_with(changes.conn, class_id)
    changes.put_many("labels", {row[0]: None for row in cleared})
    _remove_class(changes, record)
    return record.name, len(cleared)


def reorder_classes(changes: ChangeSet, ids_in_order: list[int] | tuple[int, ...]) -> None:
    current = {c.id: c for c in classes(changes.conn)}
    wanted = list(ids_in_order)
    if sorted(wanted) != sorted(current):
        raise InvalidAction("The new class order must list every class exactly once.")
    changes.put_many(
        "classes",
        {
            cid: _row(dataclasses.replace(current[cid], position=pos))
            for pos, cid in enumerate(wanted)
        },
    )


# ----------------------------------------------------------------- label actions
def set_labels(
    changes: ChangeSet, image_ids: list[int], class_id: int | None, source: str
) -> str | None:
    """Write the labels; returns the class name (None when clearing) for the action's text."""
    if source not in LABEL_SOURCES:
        raise InvalidAction(
            f"Unknown label source {source!r}; use one of {', '.join(LABEL_SOURCES)}."
        )
    if not image_ids:
        raise InvalidAction("No images are selected.")
    name = None if class_id is None else _class(changes.conn, class_id).name
    _check_images(changes.conn, image_ids)
    now = time.time()
    changes.put_many(
        "labels",
        {
            i: None
            if class_id is None
            else {"image_id": i, "class_id": class_id, "source": source, "updated": now}
            for i in image_ids
        },
    )
    return name


def accept_predictions(changes: ChangeSet, image_ids: list[int], model_id: int) -> int:
    """Label images with their predicted class where that class exists in the project."""
    from desktop.core.predictions_table import model_class_ids

    if not image_ids:
        raise InvalidAction("No images are selected.")
    mapping = model_class_ids(changes.conn, model_id)
    now = time.time()
    afters: dict[int, dict[str, object]] = {}
    for chunk, marks in in_chunks(image_ids):
        rows = changes.conn.execute(
            f"SELECT image_id, class_index FROM predictions "
            f"WHERE model_id = ? AND image_id IN ({marks})",
            [model_id, *chunk],
        )
        for image_id, index in rows:
            class_id = mapping[index] if 0 <= index < len(mapping) else None
            if class_id is not None:
                afters[image_id] = {
                    "image_id": image_id,
                    "class_id": class_id,
                    "source": "accepted_prediction",
                    "updated": now,
                }
    if not afters:
        raise InvalidAction(
            "None of the selected images has a prediction for a class in this project."
        )
    changes.put_many("labels", afters)
    return len(afters)


def import_labels(
    changes: ChangeSet,
    rows: list[tuple[str, str]],
    create_classes: bool,
    add_new_images: bool,
    within: str | None = None,
) -> ImportSummary:
    """Resolve (absolute path, class name) rows and write them; see Project.import_labels."""
    conn = changes.conn
    latest: dict[str, str] = {}
    for path, label in rows:
        latest.pop(path, None)  # keep the order of the last occurrence
        latest[path] = label
    duplicates = len(rows) - len(latest)
    skipped: list[Skipped] = []
    class_ids, unknown, created = _resolve_classes(changes, set(latest.values()), create_classes)
    image_ids = ids_by_path(conn, list(latest))
    now = time.time()
    afters: dict[int, dict[str, object]] = {}
    added = 0
    outside: list[str] = []
    for path, label in latest.items():
        image_id = image_ids.get(path)
        if image_id is None and add_new_images and within and not _is_inside(path, within):
            outside.append(path)  # asked about first, whatever its class
            continue
        class_id = class_ids.get(label)
        if class_id is None:
            reason = "unknown class" if label in unknown else "invalid class name"
            skipped.append(Skipped(f"{path} ({label})", reason))
            continue
        if image_id is None:
            if not add_new_images:
                skipped.append(Skipped(path, "not in the project"))
                continue
            image_id, reason = _add_image(conn, path, now)
            if image_id is None:
                skipped.append(Skipped(path, reason))
                continue
            added += 1
        afters[image_id] = {"image_id": image_id, "class_id": class_id, "source": "import",
                            "updated": now}  # fmt: skip
    changes.put_many("labels", afters)
    return ImportSummary(
        n_rows=len(rows),
        n_labelled=len(afters),
        n_images_added=added,
        n_classes_created=created,
        n_duplicates=duplicates,
        unknown_classes=sorted(unknown),
        skipped=skipped,
        outside=outside,
    )


def with_action(summary: ImportSummary, action: Action) -> ImportSummary:
    return dataclasses.replace(summary, action=action)


def _resolve_classes(
    changes: ChangeSet, names: set[str], create: bool
) -> tuple[dict[str, int], set[str], int]:
    """Map label text to class ids, creating classes when asked; returns (ids, unknown, created)."""
    ids: dict[str, int] = {}
    unknown: set[str] = set()
    created = 0
    known = classes_by_key(changes.conn)
    for name in sorted(names):
        try:
            cleaned = clean_name(name)
        except InvalidAction:
            continue
        existing = known.get(class_key(cleaned))
        if existing is not None:
            ids[name] = existing.id
        elif create:
            ids[name] = add_class(changes, cleaned, known=known).id
            created += 1
        else:
            unknown.add(name)
    return ids, unknown, created


def _is_inside(path: str, folder: str) -> bool:
    """True when ``path``, links resolved, lies in ``folder`` (itself already resolved)."""
    real = os.path.realpath(path)
    try:
        return os.path.commonpath([real, folder]) == folder
    except ValueError:  # another drive on Windows
        return False


def _add_image(conn: sqlite3.Connection, path: str, now: float) -> tuple[int | None, str]:
    """Add a file the CSV names, once the decoder recognises it; (id, "") or (None, why not)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None, "file not found"
    if not os.path.isfile(path):
        return None, "not a file (a folder, pipe or device)"
    try:
        check_image_header(path)
    except UnreadableImage as exc:
        return None, f"not an image ({exc})"
    image_id = conn.execute(
        "INSERT INTO images (path, size, mtime, status, added) VALUES (?, ?, ?, 'ok', ?)",
        (to_db(path), stat.st_size, stat.st_mtime, now),
    ).lastrowid
    return image_id, ""
