"""Moved, missing and duplicated images in the window: Locate Folder…, Keep One, Duplicates.

The work is ``desktop.core.relink``, ``desktop.core.duplicates`` and
``desktop.core.near_duplicates``; this controller asks the user where a folder went, runs the
hashing on a worker (it reads every file) and the near-copy search on another (it compares every
cached embedding with every other), and shows the groups of copies, exact and near, in a small
dialog whose rows show a group in the grid.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from desktop.core.cancel import Interrupted
from desktop.core.duplicates import DuplicateGroup
from desktop.core.errors import ProjectError
from desktop.core.relink import (
    FilesChecked,
    FolderRelinked,
    KeyProgress,
    check_files,
    old_folder_for,
    relink_folder,
)
from desktop.core.store import Project
from desktop.ui.dialogs import Dialogs
from desktop.ui.filter_bar import FilterBar
from desktop.ui.filter_proxy import Filter, Show
from desktop.ui.grid_parts import GridParts
from desktop.ui.jobs import Jobs
from desktop.ui.session import Session


class Moves:
    def __init__(
        self,
        session: Session,
        jobs: Jobs,
        dialogs: Dialogs,
        grid: GridParts,
        filter_bar: FilterBar,
    ) -> None:
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.grid = grid
        self.filter_bar = filter_bar
        self.last_check: FilesChecked | None = None
        self.last_relink: FolderRelinked | None = None
        self.dialog: DuplicatesDialog | None = None
        self._near: tuple[Project | None, list[list[int]]] = (None, [])
        """Groups of near copies from the last search, and the project they belong to."""

    # --- finding moved and missing files ------------------------------------------------------
    def check_files(self) -> None:
        """Flag missing files, key new ones and find moved ones again, in the background."""
        if not self._can_write():
            return
        self.jobs.run(
            "Checking files…",
            lambda cancel: check_files(self.session.require(), cancel),
            self.on_check_item,
            lambda completed: self.jobs.finish(self.check_message(completed)),
        )

    def on_check_item(self, item: KeyProgress | FilesChecked) -> None:
        self.last_check = follow_check(item, self.jobs, self.session) or self.last_check

    def check_message(self, completed: bool) -> str:
        found = self.last_check.message if self.last_check else ""
        total = f"{self.grid.model.rowCount():,} images in the project"
        return ", ".join(filter(None, [total, found])) + ("" if completed else " (cancelled)")

    # --- Locate Folder… -----------------------------------------------------------------------
    def locate_folder(self) -> None:
        """Ask where the current missing image's folder is now, and relink the whole folder."""
        if not self._can_write():
            return
        image_id = self.grid.current_image_id()
        tile = self.grid.model.tile_by_id(image_id) if image_id is not None else None
        if tile is None or tile.status != "missing":
            self.dialogs.show_error(
                "Select a missing image first (Show → Missing), then use Locate Folder… to say "
                "where its folder is now."
            )
            return
        new_folder = self.dialogs.choose_folder(f"Where is the folder of {tile.name} now?")
        if new_folder is not None:
            self.relink(tile.path, new_folder)

    def relink(self, missing_path: str, new_folder: Path) -> None:
        old_folder = old_folder_for(missing_path, new_folder)

        def job(cancel: threading.Event) -> Iterator[FolderRelinked]:
            yield relink_folder(self.session.require(), old_folder, new_folder, cancel)

        self.jobs.run("Locating moved images…", job, self._on_relinked, self._on_relink_done)

    def _on_relinked(self, summary: FolderRelinked) -> None:
        self.last_relink = summary
        self.session.reload()

    def _on_relink_done(self, completed: bool) -> None:
        summary = self.last_relink
        self.jobs.finish(summary.message.splitlines()[0] if summary else "Cancelled")
        if summary is not None:
            self.dialogs.inform("Locate Folder", summary.message)

    # --- duplicates -----------------------------------------------------------------------------
    @property
    def near(self) -> list[list[int]]:
        """Groups of near copies from the last search in the open project: what the view, the
        Duplicates filter and Keep This Copy use (the manifest asks the project, which
        remembers the same groups)."""
        project, groups = self._near
        return groups if project is self.session.project else []

    def groups(self) -> list[DuplicateGroup]:
        project = self.session.project
        return [] if project is None else project.duplicate_groups(self.near)

    def duplicate_ids(self) -> frozenset[int]:
        return frozenset(i for group in self.groups() for i in group.image_ids)

    def keep_one(self) -> None:
        """Keep the current image; mark its other copies "duplicate" (undoable, files kept)."""
        image_id = self.grid.current_image_id()
        if image_id is None:
            self.dialogs.show_error("Select the copy to keep first.")
            return
        if not self._can_write():
            return
        try:
            action = self.session.require().keep_one(image_id, self.near)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return
        self.session.record(action)
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.fill(self.groups())

    def show_duplicates(self) -> DuplicatesDialog:
        """Show the groups of exact copies at once, then look for near copies behind it."""
        if self.dialog is None:
            self.dialog = DuplicatesDialog(self.grid.view.window())
            self.dialog.groupChosen = self.show_group
        self.dialog.fill(self.groups(), self.find_near_copies())
        self.dialog.show()
        return self.dialog

    def find_near_copies(self) -> str:
        """Start the search for near copies in the cached embeddings; returns what to tell the
        user about it meanwhile."""
        project = self.session.project
        if project is None or project.current_model_id() is None:
            self._near = (project, [])
            return "Near copies are found from a model's embeddings: classify the images first."
        if self.jobs.busy():
            return "Near copies: wait for the current job to finish, then reopen this view."

        def job(cancel: threading.Event) -> Iterator[list[list[int]]]:
            try:
                yield search(project, cancel)
            except Interrupted:
                return

        self.jobs.run(
            "Looking for near copies…",
            job,
            lambda groups: self._on_near(project, groups),
            self._on_near_done,
        )
        return "Looking for near copies…"

    def _on_near(self, project: Project, groups: list[list[int]]) -> None:
        """Take the new groups; refill the view, and the Duplicates filter if it shows all."""
        shown_all = self.grid.proxy.current_filter.image_ids == self.duplicate_ids()
        self._near = (project, groups)
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.fill(self.groups())
        current = self.grid.proxy.current_filter
        if current.show is Show.DUPLICATES and shown_all:
            self.grid.proxy.set_filter(replace(current, image_ids=self.duplicate_ids()))

    def _on_near_done(self, completed: bool) -> None:
        groups = sum(g.near for g in self.groups())
        self.jobs.finish(
            f"{groups:,} groups of near copies" if completed else "Near-copy search cancelled"
        )

    def show_group(self, group: DuplicateGroup) -> None:
        self.filter_bar.set_show(Show.DUPLICATES)
        self.grid.proxy.set_filter(
            Filter(show=Show.DUPLICATES, image_ids=frozenset(group.image_ids))
        )
        self.grid.select(group.image_ids[0])

    def _can_write(self) -> bool:
        project = self.session.project
        if project is None or project.read_only:
            self.dialogs.show_error("This needs a project open for writing.")
            return False
        return self.jobs.free(", then retry")


def follow_check(
    item: KeyProgress | FilesChecked, jobs: Jobs, session: Session
) -> FilesChecked | None:
    """Progress while hashing; at the end, reload the views if files moved or went missing.

    Returns the end's summary (None while hashing), for the message after the job."""
    if isinstance(item, KeyProgress):
        jobs.progress(item.done, item.total, "Checking file contents…")
        return None
    if item.status_changed:
        session.reload()
    return item


def search(project: Project, cancel: threading.Event) -> list[list[int]]:
    """The project's near-copy groups (remembered by the project until its embeddings change)."""
    return project.near_duplicates(cancel=cancel)


class DuplicatesDialog(QDialog):
    """One row per group of copies: how many, exact or near, their labels, and whether the labels
    disagree."""

    COLUMNS = ("Copies", "Kind", "Labels", "Note")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Duplicates")
        self.groupChosen = lambda group: None
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.itemActivated.connect(self._chosen)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree)
        self.resize(560, 360)
        self._groups: list[DuplicateGroup] = []

    def fill(self, groups: list[DuplicateGroup], near_note: str = "") -> None:
        """Show ``groups``; ``near_note`` says how the search for near copies stands."""
        self._groups = groups
        self.tree.clear()
        for group in groups:
            cells = [str(len(group.image_ids)), kind(group), describe_labels(group), note(group)]
            self.tree.addTopLevelItem(QTreeWidgetItem(cells))
        near = sum(g.near for g in groups)
        disagreeing = sum(g.disagree for g in groups)
        self.summary.setText(
            f"{len(groups) - near:,} groups of exact copies and {near:,} of near copies "
            f"(resized, recompressed, cropped), {disagreeing:,} with labels that disagree. "
            "Double-click a group to show it; Edit → Keep This Copy (Ctrl+K) keeps the selected "
            "image and marks the others duplicate (no file is deleted)."
            + (f"\n{near_note}" if near_note else "")
        )

    def rows(self) -> list[tuple[str, str, str]]:
        """What the table shows, row by row (for tests and screen readers alike)."""
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [tuple(item.text(c) for c in range(len(self.COLUMNS))) for item in items]

    def _chosen(self, item: QTreeWidgetItem, _column: int) -> None:
        self.groupChosen(self._groups[self.tree.indexOfTopLevelItem(item)])


def describe_labels(group: DuplicateGroup) -> str:
    names = sorted({label for label in group.labels if label is not None})
    unlabelled = sum(label is None for label in group.labels)
    parts = names + ([f"{unlabelled} unlabelled"] if unlabelled else [])
    return ", ".join(parts)


def kind(group: DuplicateGroup) -> str:
    return "near" if group.near else "exact"


def note(group: DuplicateGroup) -> str:
    if group.disagree:
        return "⚠ labels disagree"
    if group.resolved:
        return "one kept"
    return ""
