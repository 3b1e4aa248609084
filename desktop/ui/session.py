"""The open project as the window sees it: store calls plus the signals that repaint the views.

Every user action goes through here: the store does it and commits, the returned Action is
recorded on the undo stack, and a signal tells the grid and panels what changed. Errors from the
store (``ProjectError``) are re-raised for the caller to show; nothing here talks to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.core.class_keys import class_for_key, class_keys
from desktop.core.errors import InvalidAction, ProjectError
from desktop.core.records import Action, ClassRecord, ImageRow
from desktop.core.store import Project
from desktop.ui.grid_model import Tile
from desktop.ui.undo import HistoryMirror

log = logging.getLogger(__name__)


class Session(QObject):
    projectOpened = Signal()
    classesChanged = Signal()
    labelsChanged = Signal(list)  # image ids
    everythingChanged = Signal()  # undo/redo, predictions: reload all tiles
    historyStepped = Signal(str)  # "Undone: Label 3 images as cat", for the status bar

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._stepped: Action | None = None  # the action the last undo/redo moved over
        self._step_word = "Undone"
        self.history = HistoryMirror(self)
        self.history.changed.connect(self._after_history_step)

    # --- project ------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return None if self.project is None else self.project.path

    def require(self) -> Project:
        if self.project is None:
            raise InvalidAction("No project is open: use File → New or File → Open.")
        return self.project

    def open(self, path: Path, read_only: bool = False) -> None:
        """Open ``path`` (creating it when new); the old project stays open if this fails."""
        project = Project.open(path, read_only=read_only)
        self.close()
        self.project = project
        self.history.attach(self._undo_step, self._redo_step, self._history)
        self.projectOpened.emit()

    def close(self) -> None:
        if self.project is not None:
            self.history.detach()
            self.project.close()
            self.project = None

    def _history(self) -> tuple[Sequence[Action], int]:
        project = self.require()
        return project.history(), project.history_index()

    # --- reading ------------------------------------------------------------------------------
    def classes(self) -> list[ClassRecord]:
        return [] if self.project is None else self.project.classes()

    def class_by_shortcut(self, key: int) -> ClassRecord | None:
        """The class number ``key`` labels with (``desktop.core.class_keys`` has the rule)."""
        return class_for_key(self.classes(), key)

    def class_keys(self) -> dict[int, int]:
        """Class id -> its number key; classes past the tenth key have none."""
        return class_keys(self.classes())

    def tiles(self, ids: Iterable[int] | None = None) -> list[Tile]:
        """Tiles of all images, or only of ``ids`` (one small query, not a full reload)."""
        if self.project is None:
            return []
        names = {c.id: c.name for c in self.project.classes()}
        rows = self.project.image_rows(ids=None if ids is None else list(ids))
        return [tile_from_row(r, names) for r in rows]

    def top_k(self, image_id: int) -> list[tuple[str, float]]:
        """The current model's top-k for one image, as (class name, probability)."""
        project = self.require()
        prediction = project.prediction(image_id)
        model_id = project.current_model_id()
        if prediction is None or model_id is None:
            return []
        names = project.version_class_names(model_id)
        return [(names[i] if 0 <= i < len(names) else f"#{i}", p) for i, p in prediction.topk]

    # --- labels (undoable) --------------------------------------------------------------------
    def label(self, image_ids: Sequence[int], class_id: int | None) -> Action:
        if not image_ids:
            raise InvalidAction("No images are selected.")
        action = self.require().set_labels(image_ids, class_id)
        return self._done(action, labels=image_ids)

    def accept_predictions(self, image_ids: Sequence[int]) -> Action:
        action = self.require().accept_predictions(image_ids)
        return self._done(action, labels=image_ids)

    def decide_review(
        self, image_id: int, class_id: int, decision: str, model_id: int | None = None
    ) -> Action:
        """The review queue's Keep / Accept: the label and the remembered answer, one action."""
        action = self.require().decide_review(image_id, class_id, decision, model_id)
        return self._done(action, labels=[image_id])

    # --- classes (undoable) -------------------------------------------------------------------
    def add_class(self, name: str, colour: str | None = None) -> Action:
        return self._done(self.require().add_class(name, colour))

    def add_classes(self, names: Sequence[str], text: str = "") -> Action:
        return self._done(self.require().add_classes(names, text))

    def rename_class(self, class_id: int, name: str) -> Action:
        return self._done(self.require().rename_class(class_id, name), all_tiles=True)

    def recolour_class(self, class_id: int, colour: str) -> Action:
        return self._done(self.require().recolour_class(class_id, colour))

    def merge_classes(self, source_id: int, target_id: int) -> Action:
        return self._done(self.require().merge_classes(source_id, target_id), all_tiles=True)

    def delete_class(self, class_id: int) -> Action:
        return self._done(self.require().delete_class(class_id), all_tiles=True)

    def reorder_classes(self, ids_in_order: Sequence[int]) -> Action:
        return self._done(self.require().reorder_classes(ids_in_order))

    def reload(self) -> None:
        """The store changed under the views (files found moved, results imported, another
        version in use): every view shows it all again."""
        self.everythingChanged.emit()

    def record(self, action: Action | None, all_tiles: bool = True) -> None:
        """An action done elsewhere (an import): make it undoable and refresh."""
        if action is not None:
            self._done(action, all_tiles=all_tiles)

    def _done(self, action: Action, labels: Sequence[int] = (), all_tiles: bool = False) -> Action:
        self.history.record(action)
        if not labels:
            self._relink_model_classes()
        if all_tiles:
            self.classesChanged.emit()
            self.everythingChanged.emit()
        elif labels:
            self.labelsChanged.emit(list(labels))
        else:
            self.classesChanged.emit()
        return action

    def _undo_step(self) -> Action | None:
        self._stepped = None
        self._stepped = self.require().undo()
        self._step_word = "Undone"
        return self._stepped

    def _redo_step(self) -> Action | None:
        self._stepped = None
        self._stepped = self.require().redo()
        self._step_word = "Redone"
        return self._stepped

    def _after_history_step(self) -> None:
        """Reload only the images an undone/redone label action touched; class actions (and
        anything unknown) reload everything, since names and colours may have changed."""
        stepped, self._stepped = self._stepped, None
        if stepped is not None:
            self.historyStepped.emit(f"{self._step_word}: {stepped.text}")
        touched = None
        if stepped is not None and self.project is not None:
            touched = self.project.labels_touched_by(stepped.id)
        if touched is not None:
            self.labelsChanged.emit(touched)
            return
        self._relink_model_classes()
        self.classesChanged.emit()
        self.everythingChanged.emit()

    def _relink_model_classes(self) -> None:
        """After class changes, let models forget deleted classes (their ids may be reused)."""
        project = self.project
        if project is None or project.read_only:
            return
        try:
            project.relink_model_classes()
        except ProjectError:
            log.exception("could not update the model's class links")


def tile_from_row(row: ImageRow, class_names: dict[int, str]) -> Tile:
    """A store row as the grid shows it: the label's class id becomes its name; the prediction
    already carries the name to show (``version_class_names``)."""
    return Tile(
        image_id=row.id,
        path=row.path,
        status=row.status,
        error=row.error,
        label=class_names.get(row.label_id) if row.label_id is not None else None,
        label_source=row.label_source,
        prediction=row.predicted_name,
        confidence=row.confidence,
        margin=row.margin,
    )
