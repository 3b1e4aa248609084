"""Models in the window: File → Open Model, and classifying in the background.

A model file is checked before anything changes; a refused file shows its message and the current
model stays. Classification runs ``desktop.core.classify`` (the same code as the headless CLI) on a
worker thread; each batch is written to the project and streamed into the grid, and Cancel stops
within one chunk. The status bar shows the provider ONNX Runtime really uses, and why not CUDA.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from desktop.core.classify import ClassifyError, ClassifyOptions, PredictionBatch, classify_images
from desktop.core.errors import ProjectError
from desktop.core.inference import InferenceError, ModelRunner, open_session
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.records import PredictionRow
from desktop.ui.dialogs import Dialogs
from desktop.ui.grid_parts import GridParts
from desktop.ui.jobs import Jobs
from desktop.ui.session import Session
from desktop.ui.workers import run_beside_gui

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classified:
    """One batch, already stored: what the grid needs to repaint those tiles."""

    predictions: list[tuple[int, str | None, float, float]]  # id, class, confidence, margin
    errors: list[tuple[int, str]]
    done: int
    total: int | None


class Classifier(QObject):
    modelChanged = Signal()
    """The model in use was opened, switched or dropped (the models list follows it)."""
    providerChanged = Signal(str)
    """What runs the model now, in words (for the status bar)."""
    classified = Signal(bool)
    """A classification ended (True: ran to its end); the predictions are stored and shown."""

    def __init__(
        self,
        session: Session,
        jobs: Jobs,
        dialogs: Dialogs,
        grid: GridParts,
        settings: QSettings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.grid = grid
        self.settings = settings
        self.model: ModelRunner | None = None
        self.model_id: int | None = None
        self.last_run: tuple[int, int, bool] | None = None  # predicted, failed, completed

    def class_names(self) -> list[str]:
        """The classes of the model in use, by its class index, as the user sees them (a
        renamed class has its new name: ``version_class_names``)."""
        project = self.session.project
        if project is None or self.model_id is None:
            return []
        return project.version_class_names(self.model_id)

    # --- models ------------------------------------------------------------------------------
    def choose_model(self) -> None:
        path = self.dialogs.choose_open_file("Open model", "ONNX models (*.onnx);;All files (*)")
        if path is not None:
            self.open_model(path)

    def open_model(self, path: Path) -> bool:
        """Check, load and register a model; on any problem show why and keep the current one."""
        project = self.session.project
        if project is None or project.read_only:
            self.dialogs.show_error("Open a project for writing before opening a model.")
            return False
        try:
            session = self._load(path)
        except (ModelFileError, InferenceError) as exc:
            self.dialogs.show_error(f"{Path(path).name} was not opened: {exc}")
            return False
        if not self._offer_missing_classes(session.model.classes, Path(path).name):
            return False
        try:
            model_id = project.add_model(path, session.model.info)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        self._use(session, model_id)
        self.session.reload()
        return True

    def restore_for_project(self) -> None:
        """Reopen the project's current model (quietly: a moved file is only reported)."""
        self.model, self.model_id = None, None
        project = self.session.project
        model_id = project.current_model_id() if project else None
        if model_id is None:
            self.providerChanged.emit("No model: File → Open Model…")
            self.modelChanged.emit()
            return
        record = project.model(model_id)
        try:
            session = self._load(Path(record.path))
        except (ModelFileError, InferenceError) as exc:
            self.providerChanged.emit(f"Model unavailable: {exc}")
            self.modelChanged.emit()
            return
        self._use(session, model_id)

    def _load(self, path: Path) -> ModelRunner:
        """Check and load off the GUI thread: a hostile file must not freeze the window."""
        provider = str(self.settings.value("classify/provider", "auto"))
        return run_beside_gui(
            lambda: open_session(check_model_file(path), provider)  # type: ignore[arg-type]
        )

    def _use(self, session: ModelRunner, model_id: int) -> None:
        self.model, self.model_id = session, model_id
        self.providerChanged.emit(f"{session.model.path.name} on {session.report}")
        self.modelChanged.emit()

    def _offer_missing_classes(self, names: Sequence[str], model_name: str) -> bool:
        """Predictions show only for classes the project has, so offer to add the model's
        (as one undoable action, refused whole if any name is unusable)."""
        have = {c.name.casefold() for c in self.session.classes()}
        missing = [n for n in names if n.casefold() not in have]
        if not missing:
            return True
        question = (
            f"The model knows {len(missing)} class(es) this project does not have: "
            f"{', '.join(missing[:8])}.\n\nAdd them to the project?"
        )
        if not self.dialogs.ask("Add the model's classes", question):
            return True  # the model still opens; those predictions show the model's names
        try:
            self.session.add_classes(missing, f"Add the classes of {model_name}")
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        return True

    # --- classifying ------------------------------------------------------------------------
    def classify_all(self) -> None:
        ids = [t.image_id for t in self.grid.model.tiles() if t.status != "missing"]
        self._classify_ids(ids, "The project has no images yet: drop folders on the window.")

    def classify_selection(self) -> None:
        ids = self.grid.view.selected_ids()
        self._classify_ids(ids, "Select the images to classify first (click, or Ctrl+A).")

    def classify_unpredicted(self) -> None:
        project = self.session.project
        if project is not None:
            ids = project.unpredicted_image_ids(self.model_id)
            self._classify_ids(ids, f"Every image already has a prediction from v{self.model_id}.")

    def classify_added(self) -> bool:
        """After images are added: classify those the model has not seen, without a word when
        there is no model, nothing new or the project is read-only. True when a job started."""
        project = self.session.project
        if self.model is None or project is None or project.read_only:
            return False
        ids = project.unpredicted_image_ids(self.model_id)
        return bool(ids) and self._classify_ids(ids, "")

    def _classify_ids(self, ids: Sequence[int], none_message: str) -> bool:
        if self.model is None or self.model_id is None:
            self.dialogs.show_error(
                "Open a model first (File → Open Model…), or train one (Model → Train…)."
            )
            return False
        if not ids:
            self.dialogs.note(none_message, 10_000)
            return False
        if not self.jobs.free():
            return False
        items = []
        for image_id in ids:
            tile = self.grid.model.tile_by_id(image_id)
            if tile is not None:
                items.append((image_id, tile.path))
        self.last_run = None
        self._counts = [0, 0]
        return self.jobs.run(
            f"Classifying {len(items):,} images…",
            lambda cancel: self._job(items, cancel),
            self._on_batch,
            self._on_done,
            total=len(items),
        )

    def _job(self, items: list[tuple[int, str]], cancel: threading.Event) -> Iterator[Classified]:
        project = self.session.require()
        model, model_id = self.model, self.model_id
        assert model is not None and model_id is not None
        shown = project.version_class_names(model_id)
        workers = self.settings.value("classify/workers")
        options = ClassifyOptions(workers=None if workers in (None, "") else int(workers))
        try:
            for batch in classify_images(model, items, options, cancel=cancel, total=len(items)):
                yield self._store(project, model_id, batch, shown)
        except (ClassifyError, InferenceError) as exc:
            raise ProjectError(str(exc)) from exc

    def _store(
        self, project, model_id: int, batch: PredictionBatch, shown: list[str]
    ) -> Classified:
        rows = [
            PredictionRow(
                image_id=key,
                class_index=int(batch.class_index[i]),
                confidence=float(batch.confidence[i]),
                topk=list(
                    zip(batch.top_k_index[i].tolist(), batch.top_k_prob[i].tolist(), strict=True)
                ),
                embedding=batch.embedding[i].astype("float32").tobytes(),
            )
            for i, key in enumerate(batch.keys)
        ]
        project.set_predictions(model_id, rows)
        for error in batch.errors:
            project.mark_unreadable(error.key, error.reason)
        predictions = [(r.image_id, shown[r.class_index], r.confidence, r.margin) for r in rows]
        return Classified(
            predictions, [(e.key, e.reason) for e in batch.errors], batch.done, batch.total
        )

    def _on_batch(self, batch: Classified) -> None:
        grid = self.grid.model
        updated = []
        for image_id, name, confidence, margin in batch.predictions:
            tile = grid.tile_by_id(image_id)
            if tile is not None:
                updated.append(
                    dataclasses.replace(tile, prediction=name, confidence=confidence, margin=margin)
                )
        for image_id, reason in batch.errors:
            tile = grid.tile_by_id(image_id)
            if tile is not None:
                updated.append(dataclasses.replace(tile, status="unreadable", error=reason))
        grid.update_tiles(updated)
        self._counts[0] += len(batch.predictions)
        self._counts[1] += len(batch.errors)
        self.jobs.progress(batch.done, batch.total)

    def _on_done(self, completed: bool) -> None:
        predicted, failed = self._counts
        self.last_run = (predicted, failed, completed)
        note = "" if completed else " (cancelled; finished batches are kept)"
        unreadable = f", {failed} unreadable" if failed else ""
        self.jobs.finish(f"Classified {predicted:,} images{unreadable}{note}")
        self.classified.emit(completed)
