"""File → Import Cluster Results: a big batch classified on a cluster, reviewed in the window.

The rows are read and stored off the GUI thread (``desktop.core.cluster_results``), and the grid
is reloaded once at the end, so the window stays responsive for results of any size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from desktop.core.cluster_results import ResultsSummary, import_results, results_source
from desktop.ui.dialogs import Dialogs
from desktop.ui.jobs import Jobs
from desktop.ui.session import Session

FILTERS = "Cluster results (*.csv *.parquet);;All files (*)"


class ClusterImport:
    def __init__(self, session: Session, jobs: Jobs, dialogs: Dialogs) -> None:
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.last_summary: ResultsSummary | None = None

    def choose(self) -> None:
        path = self.dialogs.choose_open_file(
            "Import cluster results (a CSV, or any part-*.parquet of a results folder)", FILTERS
        )
        if path is not None:
            self.start(path)

    def start(self, chosen: Path) -> None:
        if self.session.project is None:
            self.dialogs.show_error("Open a project first.")
            return
        if not self.jobs.free():
            return
        source = results_source(chosen)
        self.last_summary = None
        self.jobs.run(
            f"Importing results from {source.name}…",
            lambda cancel: self._job(source, cancel),
            self._on_summary,
            self._on_done,
        )

    def _job(self, source: Path, cancel: threading.Event) -> Iterator[ResultsSummary]:
        yield import_results(self.session.require(), source, cancel=cancel)

    def _on_summary(self, summary: ResultsSummary) -> None:
        self.last_summary = summary

    def _on_done(self, _completed: bool) -> None:
        summary = self.last_summary
        self.jobs.finish("Results imported" if summary else "Import stopped")
        self.session.reload()
        if summary is not None:
            self.dialogs.inform("Cluster results imported", describe(summary))


def describe(summary: ResultsSummary) -> str:
    """The summary dialog's text: what was stored and what was left out, and why."""
    lines = [f"{summary.n_imported:,} predictions stored from {summary.n_rows:,} rows."]
    if summary.n_not_in_project:
        lines.append(f"{summary.n_not_in_project:,} rows are for images not in this project.")
    if summary.n_errors:
        lines.append(f"{summary.n_errors:,} images could not be read on the cluster.")
    if summary.skipped:
        first = summary.skipped[0]
        lines.append(f"{len(summary.skipped):,} rows skipped, e.g. {first.what}: {first.reason}.")
    return "\n".join(lines)
