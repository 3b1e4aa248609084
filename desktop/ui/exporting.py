"""Getting results out: a CSV of labels and predictions, or the images copied into class folders.

Both are done by ``desktop.core``; this module asks where, runs the folder copy in the background
(it can be thousands of files) and shows what was written and what was skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.core.csv_io import export_csv
from desktop.core.errors import ProjectError
from desktop.core.folders_export import export_class_folders
from desktop.core.records import ExportSummary

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


class _Progress(QObject):
    """Carries the copy's progress callback from the worker thread to the status bar."""

    changed = Signal(int, int)


class Exporter:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.last_summary: ExportSummary | None = None
        self._progress = _Progress()
        self._progress.changed.connect(lambda done, total: window.status.update(done, total))

    def choose_csv(self) -> None:
        suggested = self._suggested("predictions.csv")
        path = self.window.choose_save_file("Export CSV", "CSV files (*.csv)", suggested)
        if path is not None:
            self.to_csv(path if path.suffix else path.with_suffix(".csv"))

    def to_csv(self, path: Path) -> ExportSummary | None:
        try:
            summary = export_csv(self.window.session.require(), path)
        except (ProjectError, OSError) as exc:
            self.window.show_error(f"The CSV was not written: {exc}")
            return None
        self.last_summary = summary
        self.window.inform(
            "Exported", f"{summary.n_written:,} rows written to {summary.destination}."
        )
        return summary

    def choose_folders(self) -> None:
        folder = self.window.choose_folder(
            "Export as class folders (copies; nothing is overwritten)"
        )
        if folder is not None:
            self.to_folders(folder)

    def to_folders(self, destination: Path) -> None:
        window = self.window
        if window.status.busy():
            window.show_error("Wait for the current job to finish (or cancel it).")
            return
        cancel = threading.Event()
        self.last_summary = None
        worker = window.workers.run(
            lambda: self._job(destination, cancel),
            self._on_summary,
            self._on_done,
            window.show_error,
        )
        window.status.start("Copying into class folders…", lambda: (cancel.set(), worker.cancel()))

    def _job(self, destination: Path, cancel: threading.Event) -> Iterator[ExportSummary]:
        yield export_class_folders(
            self.window.session.require(),
            destination,
            cancel=cancel,
            progress=self._progress.changed.emit,
        )

    def _on_summary(self, summary: ExportSummary) -> None:
        self.last_summary = summary

    def _on_done(self, _completed: bool) -> None:
        summary = self.last_summary
        self.window.status.finish("Export finished" if summary else "Export stopped")
        if summary is not None:
            self.window.inform("Exported", describe_export(summary))

    def _suggested(self, name: str) -> str:
        path = self.window.session.path
        return str(path.with_name(name)) if path else name


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
