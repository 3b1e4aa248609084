"""How long Start Training holds the window, with the manifest written on a worker thread.

Offscreen Qt, the real MainWindow and TrainingDialog, a real project: ``--images`` labelled PNGs
(two classes) with 1,280-d embeddings stored as a model's predictions (random values: the near
duplicate search costs the same). Start Training writes the manifest, whose near-duplicate
groups are searched first (uncached, as after a new version). Measured: how long
``start_training()`` takes to return, and the longest event-loop turn until the trainer starts.
The baseline, in the same run on the same project: ``prepare_run`` called directly, which is what
Start Training did on the GUI thread before (the window was frozen for all of it).

    python -m benchmarks.start_training [--images 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from benchmarks.common import format_table, load_average, write_table
from desktop.core.records import PredictionRow
from desktop.core.store import Project
from desktop.core.training_run import TrainSettings, prepare_run
from desktop.ui.main_window import MainWindow

SECTION = "Start Training: the window while the manifest is written"
EMBEDDING = 1280


def make_project(work: Path, count: int) -> Path:
    """``count`` tiny labelled PNGs in two class folders, with stored random embeddings."""
    image = Image.new("L", (8, 8))
    files = []
    for index in range(count):
        folder = work / "images" / str(index % 2)
        folder.mkdir(parents=True, exist_ok=True)
        image.putpixel((index % 8, index // 8 % 8), index % 256)  # distinct files, distinct keys
        image.save(folder / f"{index:06d}.png")
        files.append(folder / f"{index:06d}.png")
    path = work / "project.pigeonhole"
    with Project.open(path) as project:
        ids = project.add_images(files)
        project.add_classes(["0", "1"])
        for name in ("0", "1"):
            members = [i for i, f in zip(ids, files, strict=True) if f.parent.name == name]
            project.set_labels(members, project.class_by_name(name).id)
        vectors = np.random.default_rng(0).standard_normal((count, EMBEDDING), dtype=np.float32)
        model = project.add_model(work / "model.onnx", {"classes": ["0", "1"]})
        rows = zip(ids, vectors, strict=True)
        project.set_predictions(
            model, [PredictionRow(i, 0, 0.9, [(0, 0.9)], v.tobytes()) for i, v in rows]
        )
    return path


def window_on(app: QApplication, work: Path, project: Path) -> MainWindow:
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_folder", str(work / "runs"))
    window = MainWindow(settings, thumbnail_cache=work / "thumbs")
    window.show_error = lambda message: print(f"[error] {message}", file=sys.stderr)
    window.project_files.open_path(project)
    while not window.jobs.is_idle():
        app.processEvents()
        time.sleep(0.01)
    return window


SETTINGS = TrainSettings(backbone="small_cnn", epochs=1, image_size=32)


def baseline_seconds(path: Path) -> float:
    """``prepare_run`` as Start Training called it on the GUI thread, on a fresh Project (so
    the near groups are searched, as after a new version)."""
    with Project.open(path) as project:
        started = time.perf_counter()
        prepare_run(project, SETTINGS, Path(tempfile.mkdtemp(prefix="pigeonhole-runs-")))
        return time.perf_counter() - started


def measure(app: QApplication, window: MainWindow) -> tuple[float, float, float]:
    """Seconds until start_training() returned, the longest event-loop turn until the trainer
    started, and the seconds until it started (the window's project is fresh too)."""
    dialog = window.loop.dialog
    dialog.set_options(SETTINGS)
    started = time.perf_counter()
    dialog.start_training()
    returned = time.perf_counter() - started
    longest, last = 0.0, time.perf_counter()
    while dialog.process is None and dialog.is_running():
        app.processEvents()
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    written = time.perf_counter() - started
    dialog.cancel_training()
    window.loop.shutdown()
    return returned, longest, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="pigeonhole-start-"))
    project = make_project(work, args.images)
    baseline = baseline_seconds(project)
    window = window_on(app, work, project)
    returned, longest, written = measure(app, window)
    window.close()
    count = args.images
    rows = [
        {"images": count, "what": "baseline: prepare_run on the GUI thread (before)",
         "window held, ms": round(baseline * 1000), "manifest written, s": round(baseline, 2)},
        {"images": count, "what": "Start Training now: start_training() returns",
         "window held, ms": round(returned * 1000), "manifest written, s": round(written, 2)},
        {"images": count, "what": "longest event-loop turn while the manifest is written",
         "window held, ms": round(longest * 1000), "manifest written, s": ""},
    ]  # fmt: skip
    notes = (
        __doc__.split("\n\n")[1].strip()
        + "\nThe background write is slower than the baseline because the measuring loop spins the"
        + "\nevent loop without pause beside it (both want the GIL)."
        + f"\n\nLoad average (1, 5, 15 min) at the end of the run: {load_average()}."
    )
    if not args.no_write:
        print(f"written to {write_table(SECTION, rows, notes=notes)}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
