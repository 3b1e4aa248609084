"""File → New / Open / Save As / Recent: which project file the window works on.

The list of recent projects and the last one opened live in QSettings (UI state); the projects
themselves are SQLite files that hold everything the user made.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from desktop.core.clean_copy import make_clean_copy
from desktop.core.errors import ProjectError, ProjectLocked
from desktop.core.paths import PROJECT_SUFFIX, default_project_path, with_project_suffix
from desktop.core.project_check import UntrustedProject
from desktop.ui.dialogs import Dialogs
from desktop.ui.jobs import Jobs
from desktop.ui.session import Session

MAX_RECENT = 8
FILTER = f"Pigeonhole projects (*{PROJECT_SUFFIX});;All files (*)"


class ProjectFiles:
    def __init__(self, settings: QSettings, session: Session, jobs: Jobs, dialogs: Dialogs) -> None:
        self.settings = settings
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs

    # --- recent projects -----------------------------------------------------------------------
    def recent(self) -> list[Path]:
        value = self.settings.value("projects/recent", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        return [Path(p) for p in value or []]

    def _remember(self, path: Path) -> None:
        paths = [path, *(p for p in self.recent() if p != path)][:MAX_RECENT]
        self.settings.setValue("projects/recent", [str(p) for p in paths])

    def startup_path(self) -> Path:
        """The last project that still exists, else the default one in the user's data folder."""
        for path in self.recent():
            if path.is_file():
                return path
        return default_project_path()

    # --- commands ------------------------------------------------------------------------------
    def new(self) -> None:
        path = self.dialogs.choose_save_file("New project", FILTER, "Untitled" + PROJECT_SUFFIX)
        if path is None:
            return
        path = with_project_suffix(path)
        if path.exists():
            self.dialogs.show_error(f"{path.name} already exists; open it, or choose another name.")
            return
        self.open_path(path)

    def choose_and_open(self) -> None:
        path = self.dialogs.choose_open_file("Open project", FILTER)
        if path is not None:
            self.open_path(path)

    def open_path(self, path: Path) -> bool:
        """Open (or create) a project; when another window writes it, offer read-only."""
        if not self.jobs.free(" first"):
            return False
        try:
            self.session.open(path)
        except ProjectLocked as exc:
            question = f"{exc}\n\nOpen it read-only?"
            if not self.dialogs.ask("Project in use", question):
                return False
            return self._open_read_only(path)
        except UntrustedProject as exc:
            return self._offer_clean_copy(exc)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        self._remember(Path(path).expanduser().absolute())
        return True

    def _offer_clean_copy(self, refused: UntrustedProject) -> bool:
        """A file from someone else we do not trust: offer its data in a fresh file instead."""
        question = f"{refused}\n\nMake a clean copy with the data beside it, and open that?"
        if not self.dialogs.ask("Project not opened", question):
            return False
        try:
            copy = make_clean_copy(refused.path)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        self.dialogs.inform("Clean copy made", copy.summary())
        return self.open_path(copy.path)

    def _open_read_only(self, path: Path) -> bool:
        try:
            self.session.open(path, read_only=True)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        return True

    def save_as(self) -> None:
        project = self.session.project
        if project is None:
            return
        path = self.dialogs.choose_save_file("Save project as", FILTER, str(project.path))
        if path is not None:
            self.save_copy_and_switch(with_project_suffix(path))

    def save_copy_and_switch(self, path: Path) -> bool:
        """Save As: write a consistent copy, then go on working in the copy."""
        try:
            copy = self.session.require().copy_to(path)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return False
        return self.open_path(copy)
