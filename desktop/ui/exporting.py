"""Getting results out: a CSV of labels and predictions, or the images copied into class folders.

Both are done by ``desktop.core``; this module asks where, runs the folder copy in the background
(it can be thousands of files) and shows what was written and what was skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.core.csv_io import export_csv
from desktop.core.errors import ProjectError
from desktop.core.folders_export import export_class_folders
from desktop.core.records import ExportSummary
from desktop.ui.dialogs import Dialogs
from desktop.ui.jobs import Jobs
from desktop.ui.session import Session


class _Progress(QObject):
    """Carries an export's progress callback from the worker thread to the status bar."""

    changed = Signal(int, int)


class BackgroundExport:
    """What every File → Export that copies or writes many files shares: a job off the GUI
    thread with progress and Cancel, and a summary of what was written when it ends."""

    def __init__(self, session: Session, jobs: Jobs, dialogs: Dialogs) -> None:
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.last_summary: ExportSummary | None = None
        self._progress = _Progress()
        self._progress.changed.connect(lambda done, total: jobs.progress(done, total))

    def _start(
        self,
        what: str,
        job: Callable[[threading.Event], ExportSummary],
        describe: Callable[[ExportSummary], str],
    ) -> None:
        """Run ``job(cancel)`` in the background; ``describe`` words its summary for the user."""
        if not self.jobs.free():
            return
        if self.session.project is None:
            self.dialogs.show_error("No project is open: use File → New or File → Open.")
            return
        self.last_summary = None

        def run(cancel: threading.Event) -> Iterator[ExportSummary]:
            yield job(cancel)

        self.jobs.run(what, run, self._on_summary, lambda _done: self._on_done(describe))

    def _on_summary(self, summary: ExportSummary) -> None:
        self.last_summary = summary

    def _on_done(self, describe: Callable[[ExportSummary], str]) -> None:
        summary = self.last_summary
        stopped = summary is None or summary.cancelled
        self.jobs.finish("Export stopped" if stopped else "Export finished")
        if summary is not None:
            self.dialogs.inform("Exported", describe(summary))

    def _suggested(self, name: str) -> str:
        path = self.session.path
        return str(path.with_name(name)) if path else name


class Exporter(BackgroundExport):
    def choose_csv(self) -> None:
        suggested = self._suggested("predictions.csv")
        path = self.dialogs.choose_save_file("Export CSV", "CSV files (*.csv)", suggested)
        if path is not None:
            self.to_csv(path if path.suffix else path.with_suffix(".csv"))

    def to_csv(self, path: Path) -> ExportSummary | None:
        try:
            summary = export_csv(self.session.require(), path)
        except (ProjectError, OSError) as exc:
            self.dialogs.show_error(f"The CSV was not written: {exc}")
            return None
        self.last_summary = summary
        self.dialogs.inform(
            "Exported", f"{summary.n_written:,} rows written to {summary.destination}."
        )
        return summary

    def choose_folders(self) -> None:
        folder = self.dialogs.choose_folder(
            "Export as class folders (copies; nothing is overwritten)"
        )
        if folder is not None:
            self.to_folders(folder)

    def to_folders(self, destination: Path) -> None:
        self._start(
            "Copying into class folders…",
            lambda cancel: export_class_folders(
                self.session.require(),
                destination,
                cancel=cancel,
                progress=self._progress.changed.emit,
            ),
            describe_export,
        )


def describe_export(summary: ExportSummary) -> str:
    lines = [f"{summary.n_written:,} images copied into {summary.destination}."]
    if summary.cancelled:
        lines.append("Cancelled: the files copied so far are kept.")
    lines += [f"  {name}: {n:,}" for name, n in sorted(summary.per_class.items())]
    if summary.n_renamed:
        lines.append(f"{summary.n_renamed} got a suffix because the name was taken.")
    if summary.skipped:
        lines.append(
            f"{len(summary.skipped)} skipped "
            f"(first: {summary.skipped[0].what}: {summary.skipped[0].reason})."
        )
    return "\n".join(lines)
