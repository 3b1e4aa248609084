"""The train / review loop: the Model menu's work (Train…, Quick Retrain, Evaluate, Review) and
the Models / Evaluation / Review panels' requests.

The window puts the panels in docks and the entries in its Model menu; this controller gets
the session, the jobs service, the dialogs, the classifier and the grid. The work itself is in
``desktop.core`` (training_run, quick_retrain, evaluation, review, active, churn); long steps
run through ``Jobs`` with the status bar's progress and Cancel, and the trainer runs as a child
process owned by the training dialog.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QWidget

from desktop.core.errors import ProjectError
from desktop.core.evaluation import EvaluationError, VersionScore, score_version
from desktop.core.prediction_cache import PredictionCache
from desktop.core.quick_retrain import QuickRetrainError, quick_retrain_version
from desktop.core.store import Project
from desktop.core.training_run import TrainingRunError, default_runs_folder, new_run_dir
from desktop.core.version_data import VersionDataError
from desktop.core.version_review import ReviewData, gather_review
from desktop.ui.classifying import Classifier
from desktop.ui.dialogs import Dialogs
from desktop.ui.evaluation_view import EvaluationView
from desktop.ui.filter_proxy import Filter
from desktop.ui.grid_model import Tile
from desktop.ui.grid_parts import GridParts
from desktop.ui.jobs import Jobs
from desktop.ui.models_panel import ModelsPanel
from desktop.ui.review_panel import ReviewPanel
from desktop.ui.session import Session
from desktop.ui.training_dialog import TrainingDialog
from desktop.ui.training_status import AUTO_SWITCH_SETTING, TrainingStatus, VersionOffer

log = logging.getLogger(__name__)

QUICK = "Quick retrain: refitting the head…"
RUNS_SETTING = "training/runs_folder"
"""QSettings key overriding where training runs are written (default: the user data folder)."""


@dataclass(frozen=True)
class IdsFilter(Filter):
    """A grid filter showing exactly these images (a confusion cell, a churn set, a list)."""

    image_ids: frozenset[int] = field(default_factory=frozenset)
    title: str = ""

    def accepts(self, tile: Tile) -> bool:
        return tile.image_id in self.image_ids


MenuEntry = tuple[str, Callable[[], object], str | None]
"""A Model menu entry: its text, what it does, its shortcut."""


class Loop(QObject):
    """Owns the loop's panels and training dialog and turns their requests into store calls.

    The window assembles it: it puts ``panels`` in docks, ``menu_entries()`` in the Model menu,
    ``training_status`` in the status bar and ``offer`` above the grid, and shows a panel's
    dock when ``panelWanted`` names it.
    """

    panelWanted = Signal(str)
    """Show and raise this panel's dock ("Evaluation", "Review"): its answer is coming."""

    def __init__(
        self,
        session: Session,
        jobs: Jobs,
        dialogs: Dialogs,
        classifier: Classifier,
        grid: GridParts,
        settings: QSettings,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.classifier = classifier
        self.grid = grid
        self.settings = settings
        self.predictions = PredictionCache()
        """One read of a version's predictions for scores, review and churn (not one each)."""
        self.models_panel = ModelsPanel()
        self.evaluation_view = EvaluationView()
        self.review_panel = ReviewPanel(session)
        self.panels: dict[str, QWidget] = {
            "Models": self.models_panel,
            "Evaluation": self.evaluation_view,
            "Review": self.review_panel,
        }
        self.dialog = TrainingDialog(session.require, self.runs_folder, settings, parent)
        self.training_status = TrainingStatus()
        self.offer = VersionOffer()
        self._connect()
        self.refresh_models()

    def menu_entries(self) -> list[MenuEntry]:
        return [
            ("Train…", self.train, "Ctrl+T"),
            ("Quick Retrain", self.quick_retrain, "Ctrl+Shift+T"),
            ("Evaluate", self.evaluate, None),
            ("Review", self.review, None),
        ]

    def _connect(self) -> None:
        session = self.session
        session.projectOpened.connect(self._on_project_opened)
        self.classifier.modelChanged.connect(self.refresh_models)
        session.history.changed.connect(self._sync_review_with_history)  # after undo or redo
        self.dialog.trained.connect(self._on_trained)
        self.dialog.failed.connect(self._show_error)
        self.dialog.progressed.connect(self.training_status.follow)
        self.dialog.ended.connect(self.training_status.stop)
        self.training_status.showRequested.connect(self.train)
        self.training_status.cancelRequested.connect(self.dialog.cancel_training)
        self.offer.useRequested.connect(self.switch_version)
        self.models_panel.versionChosen.connect(self.switch_version)
        self.evaluation_view.cellChosen.connect(self._show_cell)
        self.review_panel.showIds.connect(self.show_ids)
        self.review_panel.imageChosen.connect(self.select_image)
        self.review_panel.failed.connect(self._show_error)

    def _show_error(self, message: str) -> None:
        # Looked up at call time: tests replace show_error on the window after it is built.
        self.dialogs.show_error(message)

    def shutdown(self) -> None:
        """Kill a running trainer (its run is not registered); safe to call twice."""
        self.dialog.shutdown()

    # --- paths ---------------------------------------------------------------------------------
    def runs_folder(self) -> Path:
        """Runs of this project: ``<runs folder>/<project name>/``, never next to the images."""
        configured = self.settings.value(RUNS_SETTING)
        base = Path(str(configured)) if configured else default_runs_folder()
        project = self.session.require()
        return base / project.path.stem

    # --- Model → Train… ------------------------------------------------------------------------
    def train(self) -> None:
        if self.session.project is None:
            self.dialogs.show_error("No project is open: use File → New or File → Open.")
            return
        self.dialog.show()
        self.dialog.raise_()

    def _on_trained(self, model_id: int) -> None:
        """A trainer run is registered. With a version already in use, offer the new one beside
        it (unless the user chose automatic switching); else load it, reclassify, score it."""
        project = self.session.project
        previous = self.dialog.previous_model_id
        auto = self.settings.value(AUTO_SWITCH_SETTING, False, type=bool)
        known = {r.id: r for r in project.models()} if project is not None else {}
        if previous in known and model_id in known and previous != model_id and not auto:
            try:
                project.set_current_model(previous)  # registering made it current: undo that
            except ProjectError as exc:
                self.dialogs.show_error(str(exc))
                return
            self.refresh_models()
            self.offer.offer(known[model_id], known[previous])
            return
        self.offer.dismiss()
        self._load_current()
        if self.classifier.model_id != model_id:
            self.dialogs.show_error(f"v{model_id} was added but could not be loaded.")
            return
        self.classifier.classify_all()
        self.jobs.when_idle(self.refresh_analysis)

    # --- Model → Quick Retrain -----------------------------------------------------------------
    def quick_retrain(self) -> None:
        project = self._writable_project_with_model()
        if project is None:
            return
        model_id = project.current_model_id()
        try:
            run_dir = new_run_dir(self.runs_folder())
        except (OSError, ProjectError, TrainingRunError) as exc:
            self.dialogs.show_error(f"Cannot create a folder for the quick retrain: {exc}")
            return

        def job(_cancel: threading.Event) -> Iterator[Any]:
            try:
                yield quick_retrain_version(project, run_dir, model_id)
            except (QuickRetrainError, VersionDataError) as exc:
                raise ProjectError(f"Quick retrain did not run: {exc}") from exc

        # Cancel cannot stop the fit midway (seconds); the panels always show the store's truth.
        self.jobs.run(QUICK, job, on_done=self._after_quick, queue=True)

    def _after_quick(self, completed: bool) -> None:
        self.jobs.finish("" if completed else f"{QUICK.rstrip('…')}: stopped")
        self._load_current()
        if completed:
            self.refresh_analysis()

    # --- Model → Evaluate / Review -------------------------------------------------------------
    def evaluate(self) -> None:
        project = self._project_with_model()
        if project is None:
            return
        self.panelWanted.emit("Evaluation")
        self.jobs.run(
            "Evaluating…",
            lambda _cancel: iter(
                [score_version(project, project.current_model_id(), self.predictions)]
            ),
            self.evaluation_view.show_score,
            queue=True,
        )

    def review(self) -> None:
        project = self._project_with_model()
        if project is None:
            return
        self.panelWanted.emit("Review")
        self.jobs.run(
            "Looking for label mistakes…",
            lambda _cancel: iter(
                [gather_review(project, project.current_model_id(), self.predictions)]
            ),
            self.review_panel.set_data,
            queue=True,
        )

    def refresh_analysis(self) -> None:
        """After a new version: its scores, its review queue and its churn, in the background."""
        project = self.session.project
        model_id = project.current_model_id() if project else None
        if project is None or model_id is None:
            return

        def job(_cancel: threading.Event) -> Iterator[Any]:
            try:
                yield score_version(project, model_id, self.predictions)
            except EvaluationError as exc:
                yield f"No evaluation: {exc}."
            yield gather_review(project, model_id, self.predictions)

        self.jobs.run("Scoring the new version…", job, self._show_analysis)

    def _show_analysis(self, item: object) -> None:
        if isinstance(item, str):
            self.evaluation_view.clear(item)
        elif isinstance(item, VersionScore):
            self.evaluation_view.show_score(item)
        elif isinstance(item, ReviewData):
            self.review_panel.set_data(item)

    # --- versions ------------------------------------------------------------------------------
    def switch_version(self, model_id: int) -> None:
        project = self.session.project
        if project is None or project.read_only:
            self.dialogs.show_error("Open a project for writing to switch versions.")
            return
        if not self.jobs.free():
            return
        try:
            project.set_current_model(model_id)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return
        if self.offer.model_id == model_id:
            self.offer.dismiss()
        self._load_current()
        if project.unpredicted_image_ids(model_id):
            self.classifier.classify_unpredicted()
        self.jobs.when_idle(self.refresh_analysis)

    def refresh_models(self) -> None:
        project = self.session.project
        if project is None:
            self.models_panel.set_versions([], None)
            return
        self.models_panel.set_versions(project.models(), project.current_model_id())

    def _load_current(self) -> None:
        self.classifier.restore_for_project()
        self.session.reload()
        self.refresh_models()

    # --- grid ----------------------------------------------------------------------------------
    def show_ids(self, title: str, ids: list[int]) -> None:
        """Filter the grid to exactly these images; the filter bar's choices leave it again."""
        self.grid.proxy.set_filter(IdsFilter(image_ids=frozenset(ids), title=title))
        self.dialogs.note(
            f"Showing {title} ({len(ids):,}); the ✕ on the filter chip shows the others.", 15_000
        )

    def select_image(self, image_id: int) -> None:
        self.grid.select(image_id)  # the preview follows the current image

    def _show_cell(self, true: str, predicted: str, ids: list[int]) -> None:
        self.show_ids(f"labelled {true}, predicted {predicted}", ids)

    # --- keeping up with the session ------------------------------------------------------------
    def _on_project_opened(self) -> None:
        self.predictions.clear()
        self.refresh_models()
        self.evaluation_view.clear()
        self.review_panel.set_data(None)
        self.jobs.when_idle(self._rebuild_review)

    def _rebuild_review(self) -> None:
        """After opening a project: its queue again, without a click (answers are in the file)."""
        project = self.session.project
        model_id = project.current_model_id() if project else None
        if project is None or model_id is None or self.review_panel.data is not None:
            return  # nothing to review, or a review the user asked for got there first
        if not project.counts().predicted:
            return
        self.jobs.run(
            "Rebuilding the review queue…",
            lambda _cancel: iter([gather_review(project, model_id, self.predictions)]),
            self.review_panel.set_data,
        )

    def _sync_review_with_history(self) -> None:
        project = self.session.project
        if project is None or not self.review_panel.decisions:
            return
        applied = project.history()[: project.history_index()]
        self.review_panel.sync_with_history({action.id for action in applied})

    # --- helpers -------------------------------------------------------------------------------
    def _project_with_model(self) -> Project | None:
        project = self.session.project
        if project is None:
            self.dialogs.show_error("No project is open: use File → New or File → Open.")
            return None
        if project.current_model_id() is None:
            self.dialogs.show_error(
                "There is no model yet: train one (Model → Train…) or open one."
            )
            return None
        return project

    def _writable_project_with_model(self) -> Project | None:
        project = self._project_with_model()
        if project is not None and project.read_only:
            self.dialogs.show_error("This project is open read-only, so no version can be added.")
            return None
        return project
