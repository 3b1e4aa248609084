"""Getting images and labels in: dropped or chosen folders, files, pasted paths and label CSVs.

Folders are scanned on a worker thread and each batch is added to the project (committed) and
shown in the grid as it arrives. After the scan, a dropped folder whose subfolders look like
classes is offered as labels; the summary says how many images, classes and skipped files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication

from desktop.core.csv_io import import_label_csv
from desktop.core.errors import ProjectError
from desktop.core.paths import PROJECT_SUFFIX
from desktop.core.records import ImportSummary, Skipped
from desktop.core.relink import FilesChecked, KeyProgress, check_files
from desktop.core.scanner import detect_class_folders, scan
from desktop.ui.dialogs import Dialogs
from desktop.ui.grid_model import GridModel, Tile
from desktop.ui.grid_view import paths_from_mime
from desktop.ui.jobs import Jobs
from desktop.ui.moves import follow_check
from desktop.ui.session import Session, tile_from_row

log = logging.getLogger(__name__)

FIRST_BATCH = 100
"""The first scan batch is small so the first screenful shows at once; later ones are larger."""
FLUSH_MS = 250
"""Later batches are gathered and shown together at most this often."""
INSERT_CHUNK = 1000
"""Rows inserted into the grid per turn of the event loop. Each inserted row costs GUI-thread
Python (the filter proxy asks about every row), and while the scan thread wants the GIL every
few milliseconds of that is a chance to lose it for a whole time slice of the scan thread, which
on a loaded machine is far longer: 5,000 rows at once froze the window for up to a second
(benchmarks/identity.py). Small chunks with the event loop turning in between keep it drawing."""


@dataclass(frozen=True)
class Added:
    """One scan batch, already committed to the project."""

    tiles: list[Tile]
    skipped: list[Skipped]
    files_found: int


@dataclass(frozen=True)
class ClassFolders:
    folder: Path
    classes: dict[str, list[Path]]


class Ingest(QObject):
    projectDropped = Signal(Path)
    """A project file was dropped or pasted among the paths: open it (before the rest)."""
    scanned = Signal(bool)
    """A scan ended and its summary and class-folder offers are done (True: not cancelled)."""

    def __init__(
        self,
        session: Session,
        jobs: Jobs,
        dialogs: Dialogs,
        grid: GridModel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = jobs
        self.dialogs = dialogs
        self.grid = grid
        self.skipped: list[Skipped] = []
        self.offers: list[ClassFolders] = []
        self.last_check: FilesChecked | None = None
        self._arrived: list[Tile] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        grid.thumbnailFailed.connect(self.flag_unreadable)

    # --- entry points ------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = self.dialogs.choose_folder("Add a folder of images")
        if folder is not None:
            self.add_paths([folder])

    def paste(self) -> None:
        paths = paths_from_mime(QGuiApplication.clipboard().mimeData())
        if not paths:
            self.dialogs.show_error("The clipboard holds no file or folder paths to add.")
            return
        self.add_paths(paths)

    def add_paths(self, paths: Sequence[Path]) -> None:
        """Add dropped or given paths: label CSVs are imported, everything else is scanned."""
        paths = [Path(p) for p in paths]
        missing = [p for p in paths if not p.exists()]
        if missing:
            names = ", ".join(str(p) for p in missing[:3])
            self.dialogs.show_error(f"Not found, so not added: {names}")
        present = [p for p in paths if p.exists()]
        projects = [p for p in present if p.suffix.lower() == PROJECT_SUFFIX]
        if projects:
            self.projectDropped.emit(projects[0])
        csvs = [p for p in present if p.suffix.lower() == ".csv" and p.is_file()]
        for csv_path in csvs:
            self.import_csv(csv_path)
        rest = [p for p in present if p not in csvs and p not in projects]
        if rest:
            self.scan_in_background(rest)

    def scan_in_background(self, paths: list[Path]) -> None:
        if self.session.project is None:
            self.dialogs.show_error(
                "No project is open: File → New Project… or Open Project… first."
            )
            return
        if self.session.project.read_only:
            self.dialogs.show_error(
                "This project is open read-only (another window writes it), so images cannot be "
                "added here: add them in that window, or File → New Project… for a separate one."
            )
            return
        if not self.jobs.free(", then add again"):
            return
        self.skipped = []
        self.offers = []
        self.last_check = None
        self.jobs.run(
            "Adding images…",
            lambda cancel: self._scan_job(paths, cancel),
            self._on_item,
            self._on_done,
        )

    def _scan_job(
        self, paths: list[Path], cancel: threading.Event
    ) -> Iterator[Added | ClassFolders | KeyProgress | FilesChecked]:
        """Runs on the worker thread: commit each batch, then read its rows back from the store,
        so files the project already knew arrive with their labels, predictions and status.
        Once every tile is shown, the files are hashed and moved images found again."""
        project = self.session.require()
        names = {c.id: c.name for c in project.classes()}
        for batch in scan(paths, cancel=cancel, first_batch=FIRST_BATCH):
            tiles: list[Tile] = []
            if batch.files:
                ids = project.add_images(batch.files)
                tiles = [tile_from_row(row, names) for row in project.image_rows(ids=ids)]
            yield Added(tiles, batch.skipped, batch.files_found)
        if not cancel.is_set():
            yield from check_files(project, cancel)
        for folder in paths:
            if folder.is_dir() and not cancel.is_set():
                classes = detect_class_folders(folder, cancel)
                if classes:
                    yield ClassFolders(folder, classes)

    def _on_item(self, item: Added | ClassFolders) -> None:
        if isinstance(item, KeyProgress | FilesChecked):
            self._flush()
            self.last_check = follow_check(item, self.jobs, self.session) or self.last_check
        elif isinstance(item, Added):
            self._arrived.extend(item.tiles)
            if self.grid.rowCount() == 0:
                self._flush()  # the first screenful at once
            elif not self._flush_timer.isActive():
                self._flush_timer.start(FLUSH_MS)
            self.skipped.extend(item.skipped)
            self.jobs.progress(0, None, f"Adding images… {item.files_found:,} found")
        else:
            self.offers.append(item)

    def _flush(self) -> None:
        """Show what arrived since the last flush: every insert makes the view lay out and
        repaint, so a few per second keep a 100,000-file scan from stuttering; more than
        ``INSERT_CHUNK`` rows go in over several turns of the event loop."""
        self._flush_timer.stop()
        tiles = self._arrived[:INSERT_CHUNK]
        self._arrived = self._arrived[INSERT_CHUNK:]
        self.grid.update_tiles(tiles)  # known files: status may have changed
        self.grid.append_tiles(tiles)  # new files: one insert
        if self._arrived:
            self._flush_timer.start(0)

    def _on_done(self, completed: bool) -> None:
        if self._arrived:  # the last rows go in by chunks too, then the summary
            self._flush()
            QTimer.singleShot(0, lambda: self._on_done(completed))
            return
        shown = self.grid.rowCount()
        note = "" if completed else " (cancelled)"
        extra = f", {len(self.skipped)} skipped" if self.skipped else ""
        checked = self.last_check
        found = f", {checked.message}" if checked is not None and checked.message else ""
        self.jobs.finish(f"{shown:,} images in the project{extra}{found}{note}")
        for offer in self.offers:
            self.offer_class_folders(offer)
        self.scanned.emit(completed)

    # --- labels from folders and CSVs --------------------------------------------------------
    def offer_class_folders(self, offer: ClassFolders) -> ImportSummary | None:
        n_images = sum(len(v) for v in offer.classes.values())
        names = sorted(offer.classes)
        shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        question = (
            f"{offer.folder.name} has {len(names)} subfolders that look like classes "
            f"({shown}) holding {n_images:,} images.\n\nLabel those images with their folder names?"
        )
        if not self.dialogs.ask("Import class folders", question):
            return None
        pairs = [(path, name) for name, paths in offer.classes.items() for path in paths]
        return self._import(
            lambda project: project.import_labels(
                pairs,
                create_classes=True,
                text=f"Import labels from the folders of {offer.folder.name}",
            ),
            f"Folders of {offer.folder.name}",
        )

    def choose_csv(self) -> None:
        path = self.dialogs.choose_open_file(
            "Import labels from CSV", "CSV files (*.csv);;All files (*)"
        )
        if path is not None:
            self.import_csv(path)

    def import_csv(self, path: Path) -> ImportSummary | None:
        project = self.session.project
        if project is None:
            self.dialogs.show_error("Open a project first.")
            return None
        try:
            preview = import_label_csv(project, path, dry_run=True)
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return None
        create = False
        if preview.unknown_classes:
            names = ", ".join(preview.unknown_classes[:8])
            create = self.dialogs.ask(
                "New classes",
                f"{path.name} uses {len(preview.unknown_classes)} class(es) this project does not "
                f"have: {names}.\n\nCreate them? (No skips those rows.)",
            )
        outside = bool(preview.outside) and self.dialogs.ask(
            "Files outside the CSV's folder", describe_outside(path, preview.outside)
        )
        return self._import(
            lambda p: import_label_csv(p, path, create_classes=create, allow_outside=outside),
            path.name,
        )

    def _import(self, run, source: str) -> ImportSummary | None:
        try:
            summary = run(self.session.require())
        except ProjectError as exc:
            self.dialogs.show_error(str(exc))
            return None
        self.session.record(summary.action)
        self.dialogs.inform("Labels imported", describe_import(source, summary))
        return summary

    # --- files that turn out unreadable -------------------------------------------------------
    def flag_unreadable(self, image_id: int, reason: str) -> None:
        """Remember in the project why a file cannot be shown, so its tile keeps the reason."""
        project = self.session.project
        tile = self.grid.tile_by_id(image_id)
        if project is None or project.read_only or (tile is not None and tile.status == "missing"):
            return  # a missing file cannot be decoded; it stays "missing", not "unreadable"
        try:
            project.mark_unreadable(image_id, reason)
        except ProjectError:
            log.exception("could not flag image %s as unreadable", image_id)
            return
        if tile is not None:
            record = project.image(image_id)  # a file found missing meanwhile stays "missing"
            tile.status, tile.error = record.status, record.error
            self.grid.update_tiles([tile])


OUTSIDE_LISTED = 12
"""How many of the files outside a CSV's folder the question names one by one."""


def describe_outside(csv_path: Path, outside: Sequence[str]) -> str:
    """The question before a CSV adds files from elsewhere: a shared CSV may name private ones."""
    listed = [f"  {path}" for path in outside[:OUTSIDE_LISTED]]
    if len(outside) > OUTSIDE_LISTED:
        listed.append(f"  … and {len(outside) - OUTSIDE_LISTED:,} more")
    return "\n".join(
        [
            f"{csv_path.name} names {len(outside):,} file(s) outside its own folder "
            f"({csv_path.parent}) that are not in this project:",
            *listed,
            "",
            "Add them to the project? (No leaves them out; the other rows are imported.)",
        ]
    )


def describe_import(source: str, summary: ImportSummary) -> str:
    """The summary dialog's text: what changed and what was skipped, grouped by reason."""
    classes = {name for name in summary.unknown_classes}
    added = (
        f" ({summary.n_images_added:,} of them new to the project)"
        if summary.n_images_added
        else ""
    )
    lines = [f"{source}: {summary.n_labelled:,} images labelled{added}."]
    if summary.n_rows != summary.n_labelled:
        lines.append(f"{summary.n_rows:,} entries read.")
    if summary.n_classes_created:
        lines.append(f"{summary.n_classes_created} classes created.")
    if summary.n_duplicates:
        lines.append(f"{summary.n_duplicates} paths were listed twice (the last label wins).")
    if classes and not summary.n_classes_created:
        lines.append(f"Rows with unknown classes skipped: {', '.join(sorted(classes))}.")
    if summary.outside:
        lines.append(f"{len(summary.outside):,} files outside the CSV's folder were left out.")
    if summary.n_skipped:
        lines.append(f"{summary.n_skipped} skipped:")
        lines += [f"  {n} × {reason}" for reason, n in summary.skipped_by_reason().items()]
    return "\n".join(lines)
