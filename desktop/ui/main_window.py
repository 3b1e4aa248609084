"""The main window: puts the grid, docks, menus and status bar together and owns the dialogs seam.

The window itself only assembles parts and shows questions; the work lives in small controllers
(``labelling``, ``ingest``, ``classifying``, ``exporting``, ``moves``, ``loop``, …) and the data
in the ``Session``. Each controller is built from the pieces it uses (the session, ``Jobs``, the
grid, the window as its ``Dialogs``) and tells the others what happened by signals, which are
connected here, in ``_connect``. Every question to the user goes through one of the
``ask``/``get_text``/``choose_*`` methods, so a test can answer it by replacing that method on
the window instance.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop.ui import actions as window_actions
from desktop.ui import keep_place
from desktop.ui.classes_panel import ClassesPanel
from desktop.ui.classifying import Classifier
from desktop.ui.cluster_import import ClusterImport
from desktop.ui.dataset_exporting import DatasetExporter
from desktop.ui.exporting import Exporter
from desktop.ui.filter_bar import FilterBar
from desktop.ui.filter_chip import FilterChip
from desktop.ui.filter_proxy import Filter, FilterProxy, Show
from desktop.ui.fit_screen import scrolling
from desktop.ui.grid_model import GridModel
from desktop.ui.grid_parts import GridParts
from desktop.ui.grid_view import GridView
from desktop.ui.heat_map_overlay import HeatMapOverlay
from desktop.ui.ingest import Ingest
from desktop.ui.jobs import Jobs
from desktop.ui.labelling import Labelling
from desktop.ui.loop import Loop
from desktop.ui.moves import Moves
from desktop.ui.plain_text import input_dialog, message_box
from desktop.ui.preview_pane import PreviewPane
from desktop.ui.progress import StatusArea
from desktop.ui.project_files import ProjectFiles
from desktop.ui.sample import Sample
from desktop.ui.search_keys import undo_beside_search
from desktop.ui.session import Session
from desktop.ui.thumbnails import ThumbnailLoader
from desktop.ui.tile_delegate import TileDelegate

log = logging.getLogger(__name__)

DEFAULT_THUMB = 128


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: QSettings | None = None,
        thumbnail_cache: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pigeonhole")
        self.setObjectName("MainWindow")
        self.settings = settings or QSettings()
        self.session = Session(self)
        self.thumbnails = ThumbnailLoader(cache_dir=thumbnail_cache, parent=self)
        thumb = int(self.settings.value("view/thumb_size", DEFAULT_THUMB))
        self.grid = GridModel(self.thumbnails, thumb, self)
        self.proxy = FilterProxy(self.grid, self)
        self.view = GridView()
        self.view.setModel(self.proxy)
        self.delegate = TileDelegate(thumb, self.view)
        self.view.setItemDelegate(self.delegate)
        self.grid_parts = GridParts(self.grid, self.proxy, self.view)
        self.filter_bar = FilterBar()
        self.filter_bar.set_thumb_size(thumb)
        self.filter_chip = FilterChip()
        self.status = StatusArea(self.statusBar(), self)
        self.jobs = Jobs(self.status, self, self)
        self._build_central()
        self.classes_panel = ClassesPanel(self.session, self, self)
        self.preview = PreviewPane(self.grid, self.thumbnails)
        self.docks = [
            self._add_dock("Classes", self.classes_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            self._add_dock("Preview", self.preview, Qt.DockWidgetArea.RightDockWidgetArea),
        ]
        self.labelling = Labelling(self.session, self.grid_parts, self, self)
        self.ingest = Ingest(self.session, self.jobs, self, self.grid, self)
        self.classifier = Classifier(
            self.session, self.jobs, self, self.grid_parts, self.settings, self
        )
        self.exporter = Exporter(self.session, self.jobs, self)
        self.dataset_exporter = DatasetExporter(self.session, self.jobs, self)
        self.heat_map = HeatMapOverlay(
            self.preview, self.grid, self.classifier, self.settings, self
        )
        self.cluster_import = ClusterImport(self.session, self.jobs, self)
        self.project_files = ProjectFiles(self.settings, self.session, self.jobs, self)
        self.sample = Sample(
            self.session,
            self.project_files,
            self.ingest,
            self.classifier,
            self.jobs,
            self,
            self.settings,
        )
        self.moves = Moves(self.session, self.jobs, self, self.grid_parts, self.filter_bar)
        self.actions = window_actions.build(self)
        self._connect()
        self.loop = Loop(
            self.session, self.jobs, self, self.classifier, self.grid_parts, self.settings, self
        )
        self.loop_docks = self._add_loop(self.loop)
        self.heat_map.attach_review(self.loop.review_panel)
        self.set_thumb_size(thumb)
        self._restore_window_state()  # once, now that every dock exists

    # --- assembly ------------------------------------------------------------------------------
    def _build_central(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.filter_chip)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)

    def _add_dock(
        self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str = ""
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name or f"dock_{title.lower()}")
        dock.setWidget(scrolling(widget))  # a dock's content scrolls, never widens the window
        self.addDockWidget(area, dock)
        return dock

    def _add_loop(self, loop: Loop) -> dict[str, QDockWidget]:
        """The loop's panels as tabbed docks on the right, its work in a Model menu."""
        docks: dict[str, QDockWidget] = {}
        for title, widget in loop.panels.items():
            area = Qt.DockWidgetArea.RightDockWidgetArea
            dock = self._add_dock(title, widget, area, f"dock_loop_{title.lower()}")
            dock.toggleViewAction().setText(f"{title} Panel")  # not a second "Review" in the menu
            docks[title] = dock
        self.docks += docks.values()
        tabbed = list(docks.values())
        for left, right in itertools.pairwise(tabbed):
            self.tabifyDockWidget(left, right)
        tabbed[0].raise_()
        toggles = [dock.toggleViewAction() for dock in tabbed]
        window_actions.add_model_menu(self, loop.menu_entries(), toggles)
        self.statusBar().addPermanentWidget(loop.training_status)
        self.centralWidget().layout().insertWidget(0, loop.offer)
        loop.panelWanted.connect(lambda title: (docks[title].show(), docks[title].raise_()))
        return docks

    def _connect(self) -> None:
        self.filter_bar.filterChanged.connect(self.apply_filter)
        self.filter_bar.filterChanged.connect(self._explain_unreadable_filter)
        self.filter_bar.sortChanged.connect(self.proxy.set_sort)
        self.filter_bar.thumbSizeChanged.connect(self.set_thumb_size)
        self.proxy.countChanged.connect(self.filter_bar.set_count)
        self.proxy.filterSet.connect(lambda f: self.filter_chip.follow(f, self.proxy.shown()))
        self.filter_chip.removed.connect(lambda: self.apply_filter(self.filter_bar.current()))
        self.view.pathsDropped.connect(self.ingest.add_paths)
        self.labelling.classifySelectionRequested.connect(self.classifier.classify_selection)
        self.ingest.projectDropped.connect(self.project_files.open_path)
        self.ingest.scanned.connect(self._after_scan)
        self.classifier.providerChanged.connect(self.status.set_provider)
        self.classifier.classified.connect(lambda _completed: self.show_current())
        self.view.visibleCapacityChanged.connect(lambda n: self.thumbnails.set_memory_items(4 * n))
        self.view.selectionModel().currentChanged.connect(lambda *_: self.show_current())
        self.session.projectOpened.connect(self._on_project_opened)
        self.session.everythingChanged.connect(self.reload_tiles)
        self.session.classesChanged.connect(self._on_classes_changed)
        self.session.labelsChanged.connect(self.refresh_tiles)
        self.session.history.failed.connect(lambda message: self.show_error(message))
        self.session.historyStepped.connect(lambda text: self.statusBar().showMessage(text, 8_000))
        self.proxy.countChanged.connect(self.view.set_empty_text_for)
        undo_beside_search(self.filter_bar.search)

    # --- keeping the views in step with the session -----------------------------------------
    def _on_project_opened(self) -> None:
        path = self.session.path
        title = f"{path.stem} — Pigeonhole" if path else "Pigeonhole"
        if self.session.project is not None and self.session.project.read_only:
            title += " (read-only)"
        self.setWindowTitle(title)
        self._on_classes_changed()
        self.reload_tiles()
        self.classifier.restore_for_project()

    def _after_scan(self, completed: bool) -> None:
        self.show_current()
        if completed:  # with a model loaded, what was added gets its predictions too
            self.jobs.when_idle(self.classifier.classify_added)

    def _on_classes_changed(self) -> None:
        classes = self.session.classes()
        self.grid.set_class_colours({c.name: c.colour for c in classes})
        self.filter_bar.set_classes([c.name for c in classes])

    def reload_tiles(self) -> None:
        """All tiles again (new version, undo): the selection and scroll stay where they were."""
        current = self.current_image_id()
        selected = self.view.selected_ids()
        place = keep_place.remember(self.view, self.proxy)
        self.grid.set_tiles(self.session.tiles())
        self.labelling.reselect(selected, current)
        keep_place.restore(self.view, self.proxy, place)
        self.show_current()

    def refresh_tiles(self, image_ids: Sequence[int]) -> None:
        self.grid.update_tiles(self.session.tiles(image_ids))
        self.classes_panel.refresh()
        self.show_current()

    def current_image_id(self) -> int | None:
        return self.grid_parts.current_image_id()

    def show_current(self) -> None:
        image_id = self.current_image_id()
        tile = self.grid.tile_by_id(image_id) if image_id is not None else None
        top_k = self.session.top_k(image_id) if tile is not None else []
        self.preview.show_tile(tile, top_k)

    def apply_filter(self, new: Filter) -> None:
        """Show what the filter bar asks for; the Duplicates filter needs the groups first."""
        if new.show is Show.DUPLICATES and new.image_ids is None:
            new = dataclasses.replace(new, image_ids=self.moves.duplicate_ids())
        self.proxy.set_filter(new)

    def _explain_unreadable_filter(self, new: Filter) -> None:
        """Files are only known to be unreadable once decoded: say so while some are not yet."""
        if new.show is not Show.UNREADABLE:
            return
        unchecked = sum(t.prediction is None and not t.unreadable for t in self.grid.tiles())
        if unchecked:
            self.statusBar().showMessage(
                f"Files are checked when their thumbnail is made or they are classified; "
                f"{unchecked:,} are not classified yet (Classify → Classify Not Yet Predicted "
                "checks them all).",
                20_000,
            )

    def set_thumb_size(self, size: int) -> None:
        self.delegate.thumb_size = size
        self.grid.set_thumb_size(size, self.devicePixelRatioF())
        self.view.set_tile_size(self.delegate.tile_size(self.view.font()))
        self.settings.setValue("view/thumb_size", size)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.DevicePixelRatioChange:  # moved to a screen of other DPI
            self.set_thumb_size(self.delegate.thumb_size)
            self.show_current()
        return super().event(event)

    # --- the dialogs seam: tests replace these on the instance ------------------------------
    # Texts here quote file, class and model names: the boxes show them as plain text.
    def ask(self, title: str, question: str) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        box = message_box(self, QMessageBox.Icon.Question, title, question, buttons)
        return box.exec() == QMessageBox.StandardButton.Yes

    def inform(self, title: str, text: str) -> None:
        message_box(self, QMessageBox.Icon.Information, title, text).exec()

    def note(self, text: str, msecs: int = 0) -> None:
        self.statusBar().showMessage(text, msecs)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 15_000)
        message_box(self, QMessageBox.Icon.Warning, "Pigeonhole", message).exec()

    def get_text(self, title: str, prompt: str, default: str = "") -> str | None:
        dialog = input_dialog(self, title, prompt)
        dialog.setTextValue(default)
        return dialog.textValue() if dialog.exec() else None

    def choose_item(self, title: str, prompt: str, items: list[str]) -> str | None:
        dialog = input_dialog(self, title, prompt)
        dialog.setComboBoxItems(items)
        dialog.setComboBoxEditable(False)
        return dialog.textValue() if dialog.exec() else None

    def choose_colour(self, initial: str) -> str | None:
        colour = QColorDialog.getColor(QColor(initial), self, "Class colour")
        return colour.name() if colour.isValid() else None

    def choose_open_file(self, title: str, filters: str) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self, title, "", filters)
        return Path(name) if name else None

    def choose_save_file(self, title: str, filters: str, suggested: str = "") -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self, title, suggested, filters)
        return Path(name) if name else None

    def choose_folder(self, title: str) -> Path | None:
        name = QFileDialog.getExistingDirectory(self, title)
        return Path(name) if name else None

    # --- window state ------------------------------------------------------------------------
    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop background work and close the project; safe to call twice."""
        self.jobs.stop_all()
        self.loop.shutdown()
        self.heat_map.shutdown()
        self.thumbnails.shutdown()
        self.session.close()
