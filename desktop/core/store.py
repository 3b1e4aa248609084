"""The project: one SQLite file holding the user's images, classes, labels, models and history.

Labels are days of someone's work, so every user action is one transaction committed before its
method returns, the file is in WAL mode with ``synchronous=FULL`` (an acknowledged action survives
a crash or power cut), undo lives in the file (see ``history``), and one process at a time may write
(a ``<project>.lock`` file lock; a second window gets ProjectLocked and can open read-only).

A Project may be shared between threads: every call holds one re-entrant lock.

``Project`` is a thin transaction facade: each public method opens its read or write transaction
and calls a function of the table module that knows that table (``images_table``,
``identity_table``, ``labels_table``, ``predictions_table``, ``duplicates``, ``review_decisions``,
``queries``, ``history``, ``meta_table``). Those take a connection (or a ``history.ChangeSet``) and
never commit, so a method can combine two of them in one transaction and a test can call them on
any connection. Opening the file safely is ``connection.py``'s.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import filelock

from desktop.core import (
    duplicates,
    history,
    identity_table,
    images_table,
    labels_table,
    meta_table,
    near_duplicates,
    predictions_table,
    queries,
    review_decisions,
    splits_lock,
)
from desktop.core.cancel import Cancel
from desktop.core.connection import open_read_only, open_writable, rollback, translate
from desktop.core.duplicates import DuplicateGroup
from desktop.core.errors import InvalidAction, ProjectError, ReadOnlyProject
from desktop.core.identity_table import Relinked
from desktop.core.records import (
    Action,
    ClassRecord,
    Counts,
    FoundFile,
    ImageRecord,
    ImageRow,
    ImportSummary,
    ModelRecord,
    PredictionRow,
)
from desktop.core.review_decisions import ReviewDecision

PathLike = str | os.PathLike[str]


class Project:
    """An open project file. Use ``Project.open(path)``; close it (or use ``with``) when done.

    Undoable actions (labels and classes) return an ``Action``; ``undo()``/``redo()`` replay them.
    Images, models and predictions are facts about files rather than user decisions, so they are
    not undoable. Errors are ``ProjectError`` subclasses with messages meant for the user.
    """

    def __init__(
        self, path: Path, conn: sqlite3.Connection, lock: filelock.BaseFileLock | None
    ) -> None:
        """Private: use ``Project.open`` or ``Project.create``."""
        self.path = path
        self._conn = conn
        self._file_lock = lock
        self._mutex = threading.RLock()
        self._near_cache: tuple[tuple[object, ...], list[list[int]]] | None = None
        """The near-duplicate groups and the key they were found under (see near_duplicates)."""

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, path: PathLike, *, read_only: bool = False, create: bool = True) -> Project:
        """Open (or, with ``create``, make) a project.

        Raises ProjectLocked if another process writes it (retry with ``read_only=True``),
        ReadOnlyProject if the file cannot be written, ProjectError if it is not a project, is
        from a newer Pigeonhole or cannot be read. In every failing case the file is untouched.
        """
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            raise ProjectError(f"{path} is a folder; choose or name a project file inside it.")
        if read_only:
            return cls(path, open_read_only(path), None)
        if not path.exists() and not create:
            raise ProjectError(f"{path} does not exist (moved or deleted?).")
        if not path.parent.is_dir():
            raise ProjectError(f"The folder {path.parent} does not exist.")
        if path.exists() and not os.access(path, os.W_OK):
            raise ReadOnlyProject(
                f"{path.name} is read-only (no permission to write it). "
                "Open it read-only to look at it, or save a copy elsewhere."
            )
        conn, lock = open_writable(path)
        project = cls(path, conn, lock)
        if project.meta(splits_lock.PENDING_KEY) == "pending":
            project._lock_old_splits()
        return project

    def _lock_old_splits(self) -> None:
        """Once, after the upgrade to content splits: keep what old versions trained and tested on
        in those splits (see splits_lock.py)."""
        try:
            with self._writing() as conn:
                splits_lock.lock_old_splits(conn)
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(cls, path: PathLike) -> Project:
        """Make a new project, refusing to touch an existing file of that name."""
        path = Path(path).expanduser().absolute()
        if path.exists():
            raise ProjectError(f"{path.name} already exists; open it, or choose another name.")
        return cls.open(path, create=True)

    @property
    def read_only(self) -> bool:
        """True when this window may only look: opened read-only or locked by another process."""
        return self._file_lock is None

    def close(self) -> None:
        """Close the file and give up the writer lock. Safe to call twice."""
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
            if self._file_lock is not None:
                self._file_lock.release()
                self._file_lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def copy_to(self, path: PathLike) -> Path:
        """Write a consistent copy of the project (File → Save As); refuses to overwrite."""
        target = Path(path).expanduser().absolute()
        if target.exists():
            raise ProjectError(f"{target.name} already exists; choose another name.")
        with self._mutex:
            try:
                copy = sqlite3.connect(target)
                try:
                    self._conn.backup(copy)
                finally:
                    copy.close()
            except sqlite3.Error as exc:
                target.unlink(missing_ok=True)
                raise ProjectError(f"Could not save a copy as {target}: {exc}.") from exc
        return target

    def data_generation(self) -> tuple[int, int]:
        """A value that changes whenever the file's content may have: this connection's writes
        (``total_changes``) or another process's commits (``PRAGMA data_version``). A cache of
        something read from the project keeps it beside what it read, to know when it is stale."""
        with self._reading() as conn:
            return conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0]

    # ----------------------------------------------------------------- transactions
    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the mutex around a read so another thread's transaction cannot interleave."""
        with self._mutex:
            if self._conn is None:
                raise ProjectError("The project is closed.")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise ProjectError(f"Could not read {self.path.name}: {exc}.") from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; any failure rolls it back and leaves the file as it was."""
        if self.read_only:
            raise ReadOnlyProject(
                f"{self.path.name} is open read-only, so nothing can be changed. "
                "Close the other Pigeonhole window using it, then reopen the project."
            )
        with self._mutex:
            if self._conn is None:
                raise ProjectError("The project is closed.")
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                rollback(conn)
                raise translate(exc, self.path) from exc
            except BaseException:
                rollback(conn)
                raise

    def _act(self, text: str, changes: history.ChangeSet) -> Action:
        return history.record(changes.conn, text, changes.changes)

    # ----------------------------------------------------------------- images (facts, not undoable)
    def add_images(self, files: Iterable[PathLike | FoundFile]) -> list[int]:
        """Add files (the same path is never added twice) and return their ids in order.

        Paths are made absolute. FoundFile records from the scanner carry size and mtime; plain
        paths are stat'ed here, and a path that cannot be stat'ed is added flagged missing. A
        known path that was flagged missing is brought back. Commits in batches, so the grid
        can show images while a big folder is still being added.
        """
        found = images_table.found_rows(files)
        ids: list[int] = []
        for start in range(0, len(found), images_table.BATCH):
            with self._writing() as conn:
                ids += images_table.add_batch(conn, found[start : start + images_table.BATCH])
        return ids

    def image_ids_by_path(self, paths: Sequence[PathLike]) -> dict[str, int]:
        """Ids of the given paths that are in the project, keyed by absolute path."""
        with self._reading() as conn:
            return images_table.ids_by_path(conn, [os.path.abspath(os.fspath(p)) for p in paths])

    def image(self, image_id: int) -> ImageRecord:
        """Everything about one image, for the preview pane."""
        with self._reading() as conn:
            return images_table.image(conn, image_id)

    def image_files(self) -> list[tuple[int, str, int | None, float | None, str]]:
        """(id, path, size, mtime, status) of every image, for rescans."""
        with self._reading() as conn:
            return images_table.image_files(conn)

    def mark_unreadable(self, image_id: int, reason: str) -> None:
        """Flag a file we could not decode, with the reason to show on its tile."""
        with self._writing() as conn:
            images_table.mark_unreadable(conn, image_id, reason)

    def mark_unreadable_many(self, rows: Iterable[tuple[int, str]]) -> None:
        """Flag many (image id, reason) at once, e.g. one classification batch."""
        with self._writing() as conn:
            images_table.mark_unreadable_many(conn, rows)

    def mark_ok(self, image_ids: Iterable[int]) -> None:
        """Clear the unreadable flag (e.g. the file was fixed and decodes now)."""
        with self._writing() as conn:
            images_table.set_status(conn, image_ids, "ok", None, only_from=("unreadable",))

    def mark_missing(self, image_ids: Iterable[int]) -> None:
        """Flag files that are gone; their labels stay."""
        with self._writing() as conn:
            images_table.set_status(conn, image_ids, "missing", images_table.MISSING)

    def mark_present(self, image_ids: Iterable[int]) -> None:
        """Bring back files that reappeared (they will be decoded again)."""
        with self._writing() as conn:
            images_table.set_status(conn, image_ids, "ok", None, only_from=("missing",))

    def update_file_info(self, rows: Iterable[tuple[int, int, float]]) -> None:
        """Store new (id, size, mtime) of changed files (they get another chance to decode)."""
        with self._writing() as conn:
            images_table.update_file_info(conn, rows)

    # ----------------------------------------------------------------- content keys
    def images_without_key(self) -> list[tuple[int, str]]:
        """(id, path) of images not yet keyed whose file was there when last seen."""
        with self._reading() as conn:
            return identity_table.images_without_key(conn)

    def set_content_keys(self, rows: Iterable[tuple[int, str]]) -> None:
        """Store (id, content key) pairs computed behind the scan."""
        with self._writing() as conn:
            identity_table.set_content_keys(conn, rows)

    def content_key(self, image_id: int) -> str | None:
        with self._reading() as conn:
            return identity_table.content_key(conn, image_id)

    def image_ids_by_content(self, keys: Sequence[str]) -> dict[str, list[int]]:
        """key -> ids of the images with that content (several when there are copies)."""
        with self._reading() as conn:
            return identity_table.image_ids_by_content(conn, keys)

    def take_over_moved(self) -> list[Relinked]:
        """Let each missing image take over the scan's new row of its moved file (same
        content, no user data), keeping its id and so its labels; says which."""
        with self._writing() as conn:
            return identity_table.take_over_moved(conn)

    def relink(self, moves: Sequence[tuple[int, str]]) -> list[Relinked]:
        """Point images at the files the user located (Locate Folder…): (image id, new path)."""
        with self._writing() as conn:
            return identity_table.relink(conn, moves)

    def missing_under(self, folder: str) -> list[tuple[int, str, int | None, str | None]]:
        """(id, path, size, content key) of missing images below ``folder``."""
        with self._reading() as conn:
            return identity_table.missing_under(conn, folder)

    # ----------------------------------------------------------------- models and predictions
    def add_model(
        self, path: PathLike, info: object, metrics: dict | None = None, n_labels: int = 0
    ) -> int:
        """Register a model file (ModelInfo or a dict with ``classes``) and make it current.

        Its run folder's split.csv, if any, locks the images to their splits (splits_lock.py).
        """
        info_dict = predictions_table.checked_info(info)
        with self._writing() as conn:
            model_id = predictions_table.add_model(conn, path, info_dict, metrics, n_labels)
            splits_lock.lock_run_split(conn, path)
            return model_id

    def models(self) -> list[ModelRecord]:
        """Registered models, oldest first."""
        with self._reading() as conn:
            return predictions_table.models(conn)

    def model(self, model_id: int) -> ModelRecord:
        with self._reading() as conn:
            return predictions_table.model(conn, model_id)

    def current_model_id(self) -> int | None:
        """The model whose predictions the grid shows (the newest added, unless changed)."""
        with self._reading() as conn:
            return meta_table.current_model_id(conn)

    def set_current_model(self, model_id: int) -> None:
        self.model(model_id)
        with self._writing() as conn:
            meta_table.write_meta(conn, meta_table.CURRENT_MODEL, str(model_id))

    def model_class_ids(self, model_id: int | None = None) -> list[int | None]:
        """For each of the model's class indices, the project's class id (None: no such class)."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            return [] if model_id is None else predictions_table.model_class_ids(conn, model_id)

    def version_class_names(self, model_id: int | None = None) -> list[str]:
        """For each of the model's class indices, the name the user sees (predictions_table)."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            if model_id is None:
                return []
            return predictions_table.version_class_names(conn, model_id)

    def set_predictions(
        self, model_id: int, rows: Iterable[PredictionRow], batch_size: int = 2000
    ) -> int:
        """Store predictions (replacing older ones of this model); returns how many. Each batch
        is its own transaction, so a cancelled classification keeps what it finished."""
        n_classes = len(self.model(model_id).classes)
        written = 0
        for batch in predictions_table.prediction_batches(rows, model_id, n_classes, batch_size):
            with self._writing() as conn:
                written += predictions_table.write_predictions(conn, batch)
        return written

    def relink_model_classes(self) -> None:
        """Re-remember every model's class links, forgetting classes that were deleted (call
        after deleting, merging or undoing; see predictions_table)."""
        with self._writing() as conn:
            predictions_table.relink_model_classes(conn)

    def predictions(self, model_id: int | None = None) -> dict[int, PredictionRow]:
        """All predictions of a model (default: current) by image id."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            return {} if model_id is None else predictions_table.predictions(conn, model_id)

    def predicted_classes(self, model_id: int | None = None) -> dict[int, int]:
        """image id -> the class index a model (default: current) predicted; no embeddings."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            return {} if model_id is None else predictions_table.predicted_classes(conn, model_id)

    def prediction(self, image_id: int, model_id: int | None = None) -> PredictionRow | None:
        """One image's prediction by a model (default: current), for the top-k bars."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            if model_id is None:
                return None
            return predictions_table.prediction(conn, image_id, model_id)

    def unpredicted_image_ids(self, model_id: int | None = None) -> list[int]:
        """Readable images the model has not classified yet ("Classify not yet predicted")."""
        with self._reading() as conn:
            model_id = _model_or_current(conn, model_id)
            return predictions_table.unpredicted_image_ids(conn, model_id)

    # ----------------------------------------------------------------- near-duplicates
    def near_duplicates(
        self, threshold: float = near_duplicates.DEFAULT_THRESHOLD, cancel: Cancel = None
    ) -> list[list[int]]:
        """Groups of near copies among the images the current model has classified (none
        without a model), remembered until its embeddings change, so the Duplicates view, Keep
        This Copy and the training manifest see the same groups. Raises
        ``NearDuplicatesError`` if the cached embeddings cannot be compared, ``Interrupted``
        if cancelled."""
        with self._reading() as conn:
            model_id = meta_table.current_model_id(conn)
            if model_id is None:
                return []
            key = (model_id, threshold, *near_duplicates.embeddings_stamp(conn, model_id))
        cached = self._near_cache
        if cached is None or cached[0] != key:  # the search runs outside the lock: seconds
            groups = near_duplicates.project_near_duplicates(self, model_id, threshold, cancel)
            self._near_cache = cached = (key, groups)
        return [list(group) for group in cached[1]]

    def near_duplicates_for_split(self) -> list[list[int]]:
        """``near_duplicates()``, or none when they cannot be compared (logged): the split then
        falls back to exact copies rather than refusing to train."""
        try:
            return self.near_duplicates()
        except near_duplicates.NearDuplicatesError as exc:
            near_duplicates.log.warning("near-duplicates left out of the split: %s", exc)
            return []

    # ----------------------------------------------------------------- copies
    def duplicate_groups(
        self, extra: Iterable[Sequence[int]] | None = None
    ) -> list[DuplicateGroup]:
        """Groups of copies: same content, merged with ``extra`` groups of near copies (by
        default the project's own, see near_duplicates.py)."""
        if extra is None:
            extra = self.near_duplicates_for_split()
        with self._reading() as conn:
            return duplicates.duplicate_groups(conn, extra)

    def keep_one(self, image_id: int, extra: Iterable[Sequence[int]] | None = None) -> Action:
        """Keep this copy and mark the others of its group "duplicate" (undoable; the files are
        never touched; marked copies are left out of training). Groups as ``duplicate_groups``."""
        if extra is None:
            extra = self.near_duplicates_for_split()
        extra = [list(group) for group in extra]
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            return self._act(duplicates.keep_copy(changes, image_id, extra), changes)

    def locked_splits(self) -> dict[int, str]:
        """image id -> the split an old version trained it in (kept; see splits_lock.py)."""
        with self._reading() as conn:
            return splits_lock.locked_splits(conn)

    # ----------------------------------------------------------------- views of the whole project
    def image_rows(
        self, model_id: int | None = None, *, ids: Iterable[int] | None = None
    ) -> list[ImageRow]:
        """One compact row per image, in the order added, with the model's (default: current)
        prediction; with ``ids``, only those images (see queries.image_rows)."""
        with self._reading() as conn:
            return queries.image_rows(conn, model_id, ids)

    def labels_touched_by(self, action_id: int) -> list[int] | None:
        """Image ids whose label a history action changed; None if it changed classes too
        (or is unknown), because then names and colours of any tile may have changed."""
        with self._reading() as conn:
            return queries.labels_touched_by(conn, action_id)

    def counts(self) -> Counts:
        """How many images, labelled, unreadable, missing, and per class."""
        with self._reading() as conn:
            return queries.counts(conn)

    def labelled_images(self, *, readable_only: bool = True) -> list[tuple[str, str]]:
        """(path, class name) of labelled images, for training manifests and exports."""
        with self._reading() as conn:
            return queries.labelled_images(conn, readable_only)

    def training_rows(
        self, extra: Iterable[Sequence[int]] | None = None
    ) -> list[tuple[str, str, str, str]]:
        """(path, class name, group, locked split) of the labelled, readable images to train on;
        ``extra`` near-duplicate groups default to the project's own (see queries)."""
        if extra is None:
            extra = self.near_duplicates_for_split()
        with self._reading() as conn:
            return queries.training_rows(conn, extra)

    # ----------------------------------------------------------------- classes (undoable)
    def classes(self) -> list[ClassRecord]:
        """All classes in their user order; number keys follow from names and order (class_keys)."""
        with self._reading() as conn:
            return labels_table.classes(conn)

    def class_by_name(self, name: str) -> ClassRecord | None:
        """The class with this name (case-insensitive), or None."""
        with self._reading() as conn:
            return labels_table.class_by_name(conn, name)

    def add_class(self, name: str, colour: str | None = None) -> Action:
        """Add a class at the end of the order; a colour is picked when none is given."""
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            record = labels_table.add_class(changes, name, colour)
            return self._act(f"Add class {record.name}", changes)

    def add_classes(self, names: Sequence[str], text: str = "") -> Action:
        """Add several classes (a model's) as ONE undoable action; every name is checked before
        any is added, so one bad name changes nothing."""
        cleaned = labels_table.clean_names(names)
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            known = labels_table.classes_by_key(conn)  # one scan for all, not one per class
            for name in cleaned:
                labels_table.add_class(changes, name, known=known)
            return self._act(text or f"Add {_n(len(cleaned), 'class')}", changes)

    def rename_class(self, class_id: int, name: str) -> Action:
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            old, new = labels_table.rename_class(changes, class_id, name)
            return self._act(f"Rename class {old} to {new}", changes)

    def recolour_class(self, class_id: int, colour: str) -> Action:
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            name = labels_table.recolour_class(changes, class_id, colour)
            return self._act(f"Recolour class {name}", changes)

    def merge_classes(self, source_id: int, target_id: int) -> Action:
        """Move every label of ``source`` to ``target`` and remove ``source``."""
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            source, target, moved = labels_table.merge_classes(changes, source_id, target_id)
            return self._act(f"Merge {source} into {target} ({_n(moved, 'image')})", changes)

    def delete_class(self, class_id: int) -> Action:
        """Remove a class; its images become unlabelled (undo brings both back)."""
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            name, cleared = labels_table.delete_class(changes, class_id)
            return self._act(f"Delete class {name} ({_n(cleared, 'image')} unlabelled)", changes)

    def reorder_classes(self, ids_in_order: Sequence[int]) -> Action:
        """Set the class order (and so which class gets which key); must list every class once."""
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            labels_table.reorder_classes(changes, ids_in_order)
            return self._act("Reorder classes", changes)

    # ----------------------------------------------------------------- labels (undoable)
    def set_labels(
        self, image_ids: Iterable[int], class_id: int | None, source: str = "user"
    ) -> Action:
        """Label images with a class, or clear their labels with ``None``: one undoable action."""
        ids = list(dict.fromkeys(image_ids))
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            name = labels_table.set_labels(changes, ids, class_id, source)
            if name is None:
                text = f"Clear the label of {_n(len(ids), 'image')}"
            else:
                text = f"Label {_n(len(ids), 'image')} as {name}"
            return self._act(text, changes)

    def accept_predictions(self, image_ids: Iterable[int], model_id: int | None = None) -> Action:
        """Make the current model's predictions the labels of these images (key Enter)."""
        ids = list(dict.fromkeys(image_ids))
        with self._writing() as conn:
            model_id = _model_or_current(conn, model_id)
            if model_id is None:
                raise InvalidAction("There are no predictions to accept: open a model first.")
            changes = history.ChangeSet(conn)
            n = labels_table.accept_predictions(changes, ids, model_id)
            return self._act(f"Accept {_n(n, 'prediction')}", changes)

    def import_labels(
        self,
        pairs: Iterable[tuple[PathLike, str]],
        *,
        create_classes: bool = False,
        add_new_images: bool = True,
        dry_run: bool = False,
        text: str = "Import labels",
        new_files_within: PathLike | None = None,
    ) -> ImportSummary:
        """Label many files by class name in ONE transaction and one undoable action.

        Paths must be absolute. A path given twice counts as a duplicate and its last label wins.
        Unknown class names are created with ``create_classes``, otherwise their rows are skipped
        and listed in ``unknown_classes``. Files not yet in the project are added when they exist
        (``add_new_images``) and the decoder recognises them as images. With
        ``new_files_within``, new files outside that folder (after resolving links) are not
        added but listed in ``outside``: a shared CSV must not pull ``~/.ssh/id_rsa`` in unasked.
        ``dry_run`` computes the same summary and then rolls everything back, so a dialog can ask
        "create these 3 classes?" before anything changes.
        """
        rows = [(os.path.abspath(os.fspath(p)), str(label)) for p, label in pairs]
        within = os.path.realpath(new_files_within) if new_files_within is not None else None
        try:
            with self._writing() as conn:
                changes = history.ChangeSet(conn)
                summary = labels_table.import_labels(
                    changes, rows, create_classes, add_new_images, within
                )
                if dry_run:
                    raise _DryRunDone(summary)
                if changes.changes:
                    summary = labels_table.with_action(summary, self._act(text, changes))
                return summary
        except _DryRunDone as done:
            return done.summary

    def import_labels_preview(
        self, pairs: Iterable[tuple[PathLike, str]], **options: bool
    ) -> ImportSummary:
        """What ``import_labels`` would do, without changing anything."""
        return self.import_labels(pairs, dry_run=True, **options)

    # ----------------------------------------------------------------- review answers (undoable)
    def review_decisions(self) -> dict[int, ReviewDecision]:
        """Every remembered answer by image id, whether or not it still matches the label."""
        with self._reading() as conn:
            return review_decisions.read_decisions(conn)

    def settled_image_ids(self) -> set[int]:
        """Images whose remembered answer was given for the label they still have."""
        with self._reading() as conn:
            return review_decisions.settled_image_ids(conn)

    def decide_review(
        self, image_id: int, class_id: int, decision: str, model_id: int | None = None
    ) -> Action:
        """Label the image ``class_id`` as the user's own and remember the answer: one action."""
        review_decisions.check_decision(decision)
        with self._writing() as conn:
            changes = history.ChangeSet(conn)
            text = review_decisions.decide(changes, image_id, class_id, decision, model_id)
            return self._act(text, changes)

    # ----------------------------------------------------------------- history
    def history(self) -> list[Action]:
        """Remembered actions, oldest first; the first ``history_index()`` are applied."""
        with self._reading() as conn:
            return history.actions(conn)

    def history_index(self) -> int:
        """How many of ``history()`` are applied (QUndoStack.index())."""
        with self._reading() as conn:
            return history.applied_count(conn)

    def can_undo(self) -> bool:
        with self._reading() as conn:
            return history.cursor(conn) != 0

    def can_redo(self) -> bool:
        with self._reading() as conn:
            return history.can_redo(conn)

    def undo(self) -> Action:
        """Undo the newest applied action and return it; InvalidAction when there is none."""
        with self._writing() as conn:
            action = history.undo(conn)
            if action is None:
                raise InvalidAction("There is nothing to undo.")
            return action

    def redo(self) -> Action:
        """Redo the next undone action and return it; InvalidAction when there is none."""
        with self._writing() as conn:
            action = history.redo(conn)
            if action is None:
                raise InvalidAction("There is nothing to redo.")
            return action

    # ----------------------------------------------------------------- meta
    def meta(self, key: str, default: str | None = None) -> str | None:
        """A small project-wide setting (e.g. the current model)."""
        with self._reading() as conn:
            return meta_table.read_meta(conn, key, default)


class _DryRunDone(Exception):
    """Raised inside a transaction to roll back a dry run while carrying its result out."""

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__("dry run")
        self.summary = summary


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _model_or_current(conn: sqlite3.Connection, model_id: int | None) -> int | None:
    return model_id if model_id is not None else meta_table.current_model_id(conn)
