"""The train / review loop in the window: ``install_loop(window)`` adds it to a MainWindow.

It adds a Model menu (Train…, Quick Retrain, Evaluate, Review), three docks (Models, Evaluation,
Review) and the wiring between them, the grid and the store, using only the window's public
attributes. The work itself is in ``desktop.core`` (training_run, quick_retrain, evaluation,
review, active, churn); long steps run on the window's worker pool with the status bar's
progress and Cancel, and the trainer runs as a child process owned by the training dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QWidget

from desktop.core.errors import ProjectError
from desktop.core.evaluation import EvaluationError, VersionScore, score_version
from desktop.core.prediction_cache import PredictionCache
from desktop.core.quick_retrain import QuickRetrainError, quick_retrain_version
from desktop.core.store import Project
from desktop.core.training_run import TrainingRunError, default_runs_folder, new_run_dir
from desktop.core.version_data import VersionDataError
from desktop.core.version_review import ReviewData, gather_review
from desktop.ui.evaluation_view import EvaluationView
from desktop.ui.filter_proxy import Filter
from desktop.ui.fit_screen import scrolling
from desktop.ui.grid_model import Tile
from desktop.ui.models_panel import ModelsPanel
from desktop.ui.review_panel import ReviewPanel
from desktop.ui.training_dialog import TrainingDialog
from desktop.ui.training_status import AUTO_SWITCH_SETTING, TrainingStatus, VersionOffer

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)

IDLE_POLL_MS = 250
RUNS_SETTING = "training/runs_folder"
"""QSettings key overriding where training runs are written (default: the user data folder)."""


@dataclass(frozen=True)
class IdsFilter(Filter):
    """A grid filter showing exactly these images (a confusion cell, a churn set, a list)."""

    image_ids: frozenset[int] = field(default_factory=frozenset)
    title: str = ""

    def accepts(self, tile: Tile) -> bool:
        return tile.image_id in self.image_ids


def when_idle(window: MainWindow, callback: Callable[[], None]) -> None:
    """Call back once the window's background job (a scan or a classification) has finished."""
    timer = QTimer(window)
    timer.setInterval(IDLE_POLL_MS)

    def check() -> None:
        if not window.status.busy() and not window.workers.busy():
            timer.stop()
            timer.deleteLater()
            callback()

    timer.timeout.connect(check)
    timer.start()


def install_loop(window: MainWindow) -> Loop:
    """Add the Model menu, the Models / Evaluation / Review docks and their wiring to ``window``.

    Keep the returned object (``self.loop = install_loop(self)``); it is also a child of the
    window, so Qt keeps it alive.
    """
    return Loop(window)


class Loop(QObject):
    """Owns the loop's docks and dialog and turns their requests into store and window calls."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.predictions = PredictionCache()
        """One read of a version's predictions for scores, review and churn (not one each)."""
        session = window.session
        self.models_panel = ModelsPanel()
        self.evaluation_view = EvaluationView()
        self.review_panel = ReviewPanel(session)
        self.dialog = TrainingDialog(session.require, self.runs_folder, window.settings, window)
        self.training_status = TrainingStatus()
        window.statusBar().addPermanentWidget(self.training_status)
        self.offer = VersionOffer()
        window.centralWidget().layout().insertWidget(0, self.offer)
        self.docks = {
            "Models": self._add_dock("Models", self.models_panel),
            "Evaluation": self._add_dock("Evaluation", self.evaluation_view),
            "Review": self._add_dock("Review", self.review_panel),
        }
        window.tabifyDockWidget(self.docks["Models"], self.docks["Evaluation"])
        window.tabifyDockWidget(self.docks["Evaluation"], self.docks["Review"])
        self.docks["Models"].raise_()
        self.actions = self._add_menu()
        self._restore_dock_state()
        self._connect()
        window.installEventFilter(self)
        self.refresh_models()

    # --- assembly ------------------------------------------------------------------------------
    def _add_dock(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock_loop_{title.lower()}")
        dock.setWidget(scrolling(widget))  # a dock's content scrolls, never widens the window
        dock.toggleViewAction().setText(f"{title} Panel")  # not a second "Review" in the menu
        self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.window.docks.append(dock)
        return dock

    def _add_menu(self) -> dict[str, QAction]:
        window = self.window
        menu = QMenu("&Model", window)
        entries: list[tuple[str, Callable[[], object], str | None]] = [
            ("Train…", self.train, "Ctrl+T"),
            ("Quick Retrain", self.quick_retrain, "Ctrl+Shift+T"),
            ("Evaluate", self.evaluate, None),
            ("Review", self.review, None),
        ]
        added: dict[str, QAction] = {}
        for text, slot, keys in entries:
            action = QAction(text, window)
            if keys:
                action.setShortcut(QKeySequence(keys))
            action.triggered.connect(lambda _checked=False, s=slot: s())
            menu.addAction(action)
            added[text.rstrip("…")] = action
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        bar = window.menuBar()
        view = next((a for a in bar.actions() if a.text().replace("&", "") == "View"), None)
        if view is not None:
            bar.insertMenu(view, menu)
        else:
            bar.addMenu(menu)
        window.actions.by_name.update(added)
        return added

    def _restore_dock_state(self) -> None:
        """The window restored its layout before these docks existed; apply it to them too."""
        state = self.window.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.window.restoreState(state)

    def _connect(self) -> None:
        session = self.window.session
        session.projectOpened.connect(self._on_project_opened)
        self.window.classifier.modelChanged.connect(self.refresh_models)
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
        # Looked up at call time: tests (and the window) may replace show_error after install.
        self.window.show_error(message)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def shutdown(self) -> None:
        """Kill a running trainer (its run is not registered); safe to call twice."""
        self.dialog.cancel_training()

    # --- paths ---------------------------------------------------------------------------------
    def runs_folder(self) -> Path:
        """Runs of this project: ``<runs folder>/<project name>/``, never next to the images."""
        configured = self.window.settings.value(RUNS_SETTING)
        base = Path(str(configured)) if configured else default_runs_folder()
        project = self.window.session.require()
        return base / project.path.stem

    # --- Model → Train… ------------------------------------------------------------------------
    def train(self) -> None:
        if self.window.session.project is None:
            self.window.show_error("No project is open: use File → New or File → Open.")
            return
        self.dialog.show()
        self.dialog.raise_()

    def _on_trained(self, model_id: int) -> None:
        """A trainer run is registered. With a version already in use, offer the new one beside
        it (unless the user chose automatic switching); else load it, reclassify, score it."""
        project = self.window.session.project
        previous = self.dialog.previous_model_id
        auto = self.window.settings.value(AUTO_SWITCH_SETTING, False, type=bool)
        known = {r.id: r for r in project.models()} if project is not None else {}
        if previous in known and model_id in known and previous != model_id and not auto:
            try:
                project.set_current_model(previous)  # registering made it current: undo that
            except ProjectError as exc:
                self.window.show_error(str(exc))
                return
            self.refresh_models()
            self.offer.offer(known[model_id], known[previous])
            return
        self.offer.dismiss()
        self._load_current()
        if self.window.classifier.model_id != model_id:
            self.window.show_error(f"v{model_id} was added but could not be loaded.")
            return
        self.window.classifier.classify_all()
        when_idle(self.window, self.refresh_analysis)

    # --- Model → Quick Retrain -----------------------------------------------------------------
    def quick_retrain(self) -> None:
        project = self._writable_project_with_model()
        if project is None:
            return
        model_id = project.current_model_id()
        try:
            run_dir = new_run_dir(self.runs_folder())
        except (OSError, ProjectError, TrainingRunError) as exc:
            self.window.show_error(f"Cannot create a folder for the quick retrain: {exc}")
            return

        def job() -> Iterator[Any]:
            try:
                yield quick_retrain_version(project, run_dir, model_id)
            except (QuickRetrainError, VersionDataError) as exc:
                raise ProjectError(f"Quick retrain did not run: {exc}") from exc

        # Cancel cannot stop the fit midway (seconds); the panels always show the store's truth.
        self._run_job(
            "Quick retrain: refitting the head…", job, lambda _: None, self._after_quick, queue=True
        )

    def _after_quick(self, completed: bool) -> None:
        self._load_current()
        if completed:
            self.refresh_analysis()

    # --- Model → Evaluate / Review -------------------------------------------------------------
    def evaluate(self) -> None:
        project = self._project_with_model()
        if project is None:
            return
        self.docks["Evaluation"].show()
        self.docks["Evaluation"].raise_()
        self._run_job(
            "Evaluating…",
            lambda: iter([score_version(project, project.current_model_id(), self.predictions)]),
            self.evaluation_view.show_score,
            queue=True,
        )

    def review(self) -> None:
        project = self._project_with_model()
        if project is None:
            return
        self.docks["Review"].show()
        self.docks["Review"].raise_()
        self._run_job(
            "Looking for label mistakes…",
            lambda: iter([gather_review(project, project.current_model_id(), self.predictions)]),
            self.review_panel.set_data,
            queue=True,
        )

    def refresh_analysis(self) -> None:
        """After a new version: its scores, its review queue and its churn, in the background."""
        project = self.window.session.project
        model_id = project.current_model_id() if project else None
        if project is None or model_id is None:
            return

        def job() -> Iterator[Any]:
            try:
                yield score_version(project, model_id, self.predictions)
            except EvaluationError as exc:
                yield f"No evaluation: {exc}."
            yield gather_review(project, model_id, self.predictions)

        self._run_job("Scoring the new version…", job, self._show_analysis)

    def _show_analysis(self, item: object) -> None:
        if isinstance(item, str):
            self.evaluation_view.clear(item)
        elif isinstance(item, VersionScore):
            self.evaluation_view.show_score(item)
        elif isinstance(item, ReviewData):
            self.review_panel.set_data(item)

    # --- versions ------------------------------------------------------------------------------
    def switch_version(self, model_id: int) -> None:
        project = self.window.session.project
        if project is None or project.read_only:
            self.window.show_error("Open a project for writing to switch versions.")
            return
        if self.window.status.busy():
            self.window.show_error("Wait for the current job to finish (or cancel it).")
            return
        try:
            project.set_current_model(model_id)
        except ProjectError as exc:
            self.window.show_error(str(exc))
            return
        if self.offer.model_id == model_id:
            self.offer.dismiss()
        self._load_current()
        if project.unpredicted_image_ids(model_id):
            self.window.classifier.classify_unpredicted()
        when_idle(self.window, self.refresh_analysis)

    def refresh_models(self) -> None:
        project = self.window.session.project
        if project is None:
            self.models_panel.set_versions([], None)
            return
        self.models_panel.set_versions(project.models(), project.current_model_id())

    def _load_current(self) -> None:
        self.window.classifier.restore_for_project()
        self.window.reload_tiles()
        self.refresh_models()

    # --- grid ----------------------------------------------------------------------------------
    def show_ids(self, title: str, ids: list[int]) -> None:
        """Filter the grid to exactly these images; the filter bar's choices leave it again."""
        self.window.proxy.set_filter(IdsFilter(image_ids=frozenset(ids), title=title))
        self.window.statusBar().showMessage(
            f"Showing {title} ({len(ids):,}); the ✕ on the filter chip shows the others.", 15_000
        )

    def select_image(self, image_id: int) -> None:
        row = self.window.proxy.row_of(image_id)
        if row is not None:
            self.window.view.select_row(row)
            self.window.show_current()

    def _show_cell(self, true: str, predicted: str, ids: list[int]) -> None:
        self.show_ids(f"labelled {true}, predicted {predicted}", ids)

    # --- keeping up with the session ------------------------------------------------------------
    def _on_project_opened(self) -> None:
        self.predictions.clear()
        self.refresh_models()
        self.evaluation_view.clear()
        self.review_panel.set_data(None)
        when_idle(self.window, self._rebuild_review)

    def _rebuild_review(self) -> None:
        """After opening a project: its queue again, without a click (answers are in the file)."""
        project = self.window.session.project
        model_id = project.current_model_id() if project else None
        if project is None or model_id is None or self.review_panel.data is not None:
            return  # nothing to review, or a review the user asked for got there first
        if not project.counts().predicted:
            return
        self._run_job(
            "Rebuilding the review queue…",
            lambda: iter([gather_review(project, model_id, self.predictions)]),
            self.review_panel.set_data,
        )

    def _sync_review_with_history(self) -> None:
        project = self.window.session.project
        if project is None or not self.review_panel.decisions:
            return
        applied = project.history()[: project.history_index()]
        self.review_panel.sync_with_history({action.id for action in applied})

    # --- helpers -------------------------------------------------------------------------------
    def _project_with_model(self) -> Project | None:
        project = self.window.session.project
        if project is None:
            self.window.show_error("No project is open: use File → New or File → Open.")
            return None
        if project.current_model_id() is None:
            self.window.show_error("There is no model yet: train one (Model → Train…) or open one.")
            return None
        return project

    def _writable_project_with_model(self) -> Project | None:
        project = self._project_with_model()
        if project is not None and project.read_only:
            self.window.show_error("This project is open read-only, so no version can be added.")
            return None
        return project

    def _run_job(
        self,
        text: str,
        make: Callable[[], Iterator[Any]],
        on_item: Callable[[Any], None],
        on_done: Callable[[bool], None] | None = None,
        queue: bool = False,
    ) -> bool:
        """Start a background job; one the user asked for (``queue``) waits for a running one.

        Opening a project or finishing a version starts jobs the user did not ask for (the
        review rebuild, the scores); a click in those seconds should not meet "wait".
        """
        window = self.window
        if window.status.busy() and queue:
            window.statusBar().showMessage(f"{text.rstrip('…')}: starts when the current job ends")
            when_idle(window, lambda: self._run_job(text, make, on_item, on_done))
            return False
        if window.status.busy():
            window.show_error("Wait for the current job to finish (or cancel it).")
            return False

        def done(completed: bool) -> None:
            window.status.finish("" if completed else f"{text.rstrip('…')}: stopped")
            if on_done is not None:
                on_done(completed)

        worker = window.workers.run(make, on_item, done, window.show_error)
        window.status.start(text, worker.cancel)
        return True
