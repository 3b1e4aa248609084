"""Hostile input, case by case: each case tries one attack through the real code path and says
whether it held (issue 15). ``HOSTILE_CASES`` is a plain list so more cases merge by appending.

A case is (name, what was tried, a function that builds the attack in a scratch folder, runs it
and returns True when it held). ``run_case`` times it and takes the peak of Python allocations.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_FILE = "<img src=&#47;tmp&#47;secret.png>.png"
HOSTILE_CLASS = '<a href="https://evil.example"><b>x</b></a>'
FORMULA_CLASSES = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)", "-1;+2:3"]


@dataclass(frozen=True)
class HostileCase:
    name: str
    tried: str
    attempt: Callable[[Path], bool]


def warm_up() -> None:
    """Import what the cases use, so their figures are the attack's and not Python's imports."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import onnx  # noqa: F401
    from PySide6.QtWidgets import QApplication

    import desktop.cli_classify
    import desktop.ui.main_window  # noqa: F401
    import tests.test_bad_images_everywhere  # noqa: F401

    QApplication.instance() or QApplication([])


def run_case(case: HostileCase) -> dict[str, object]:
    """One case in a fresh scratch folder: held?, seconds, peak MB of Python allocations."""
    with tempfile.TemporaryDirectory(prefix="pigeonhole-hostile-") as scratch:
        tracemalloc.start()
        started = time.perf_counter()
        try:
            held: object = "yes" if case.attempt(Path(scratch)) else "NO"
        except Exception as exc:  # a crash is a result here: the case did not hold
            held = f"NO ({type(exc).__name__}: {exc})"
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {"case": case.name, "tried": case.tried, "held": held,
            "seconds": round(seconds, 3), "peak MB": round(peak, 1)}  # fmt: skip


def _image(path: Path, side: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (side, side), "green").save(
        path, format="PNG" if path.suffix != ".bmp" else "BMP"
    )
    return path


# ----------------------------------------------------------------- 1. rich text
def _window(scratch: Path):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("classify/workers", 0)
    window = MainWindow(settings, thumbnail_cache=scratch / "thumbs")
    window.ask = lambda title, question: True
    window.inform = lambda title, text: None
    window.project_files.open_path(scratch / "p.pigeonhole")
    return app, window


def rich_text_file_name(scratch: Path) -> bool:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import Qt as GuiQt
    from PySide6.QtGui import QTextDocument

    app, window = _window(scratch)
    try:
        path = _image(scratch / "imgs" / HOSTILE_FILE)
        window.ingest.add_paths([path.parent])
        deadline = time.monotonic() + 60
        while not window.jobs.is_idle():
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.01)
        window.view.select_row(0)
        window.show_current()
        title = window.preview.title
        tip = window.grid.data(window.grid.index(0, 0), Qt.ItemDataRole.ToolTipRole)
        document = QTextDocument()
        document.setHtml(tip) if GuiQt.mightBeRichText(tip) else document.setPlainText(tip)
        return (
            title.textFormat() == Qt.TextFormat.PlainText
            and title.text() == HOSTILE_FILE
            and document.toPlainText() == str(path)
        )
    finally:
        window.shutdown()
        app.processEvents()


def rich_text_message_box(scratch: Path) -> bool:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.ui.main_window import MainWindow

    app, window = _window(scratch)
    seen: list[object] = []

    def grab() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, grab)
            return
        seen.append(box.textFormat())
        box.done(0)

    try:
        QTimer.singleShot(20, grab)
        MainWindow.show_error(window, f"There is already a class called {HOSTILE_CLASS}.")
        return seen == [Qt.TextFormat.PlainText]
    finally:
        window.shutdown()
        app.processEvents()


# ----------------------------------------------------------------- 2. spreadsheet formulas
def formulas_export_csv(scratch: Path) -> bool:
    from desktop.core.csv_io import export_csv, import_label_csv, parse_topk
    from desktop.core.records import PredictionRow
    from desktop.core.store import Project
    from trainer.contract import ModelInfo

    pics = [_image(scratch / "pics" / f"{i}.png") for i in range(len(FORMULA_CLASSES))]
    with Project.open(scratch / "a.pigeonhole") as project:
        ids = project.add_images(pics)
        for image_id, name in zip(ids, FORMULA_CLASSES, strict=True):
            project.add_class(name)
            project.set_labels([image_id], project.class_by_name(name).id)
        model_id = project.add_model("/m.onnx", ModelInfo(FORMULA_CLASSES, 32, "t", "t"), {})
        project.set_predictions(
            model_id, [PredictionRow.from_probs(i, [0.6, 0.3, 0.1]) for i in ids]
        )
        export_csv(project, scratch / "out.csv")
        before = dict(project.labelled_images())
    with (scratch / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    safe = not [cell for row in rows[1:] for cell in row if cell.startswith(FORMULA_STARTS)]
    topk_ok = all(parse_topk(row[4])[0][0] == FORMULA_CLASSES[0] for row in rows[1:])
    with Project.open(scratch / "b.pigeonhole") as target:
        import_label_csv(target, scratch / "out.csv", create_classes=True)
        after = dict(target.labelled_images())
    return safe and topk_ok and before == after


def formulas_headless_classify(scratch: Path) -> bool:
    import onnx

    from desktop.cli_classify import main
    from tests.test_bad_images_everywhere import position_sensitive_model

    model_path = position_sensitive_model(scratch / "model.onnx", 32)
    model = onnx.load(model_path)
    n = len(
        json.loads(next(p.value for p in model.metadata_props if p.key == "pigeonhole.classes"))
    )
    names = (FORMULA_CLASSES * n)[:n]
    names = [f"{name}{i}" for i, name in enumerate(names)]
    for prop in model.metadata_props:
        if prop.key == "pigeonhole.classes":
            prop.value = json.dumps(names)
    onnx.save(model, model_path)
    for i in range(3):
        _image(scratch / "pics" / f"{i}.png", 40 + i)
    out = scratch / "p.csv"
    argv = [str(scratch / "pics"), "--model", str(model_path), "--out", str(out)]
    if main([*argv, "--workers", "0", "--provider", "cpu"]) != 0:
        return False
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return bool(rows) and not [c for row in rows for c in row if c.startswith(FORMULA_STARTS)]


# ----------------------------------------------------------------- 4. shared label CSV, export
def csv_outside_files(scratch: Path) -> bool:
    from desktop.core.csv_io import import_label_csv
    from desktop.core.store import Project

    secret = scratch / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    _image(scratch / "private" / "photo.png")
    share = scratch / "share" / "labels"
    _image(share / "pics" / "a.png")
    table = share / "labels.csv"
    table.write_text(f"path,label\npics/a.png,cat\n{secret},cat\n../../private/photo.png,cat\n")
    with Project.open(scratch / "p.pigeonhole") as project:
        project.add_class("cat")
        summary = import_label_csv(project, table)
        paths = [path for path, _ in project.labelled_images()]
    return paths == [str(share / "pics" / "a.png")] and len(summary.outside) == 2


def export_bad_sources(scratch: Path) -> bool:
    from desktop.core.folders_export import export_class_folders
    from desktop.core.store import Project

    pics = [_image(scratch / "pics" / f"{i}.png") for i in range(3)]
    with Project.open(scratch / "p.pigeonhole") as project:
        project.add_class("cat")
        ids = project.add_images([*pics, "/dev/zero"])
        project.set_labels(ids, project.class_by_name("cat").id)
        pics[0].unlink()
        os.mkfifo(pics[0])
        pics[1].write_text("not an image")
        result: dict[str, object] = {}
        worker = threading.Thread(
            target=lambda: result.update(s=export_class_folders(project, scratch / "out")),
            daemon=True,
        )
        with _file_size_limit(256 * 2**20):  # should /dev/zero be copied, it stops there
            worker.start()
            worker.join(30)  # an opened pipe hangs
        if worker.is_alive():
            return False
    summary = result["s"]
    return summary.n_written == 1 and len(summary.skipped) == 3


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail (EFBIG) instead of filling the disk, for this block."""
    import resource

    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


KILLED_EXPORT = """
import shutil, sys, time
from desktop.core.folders_export import export_class_folders
from desktop.core.store import Project

def slow_copy(src, dst, length=0):
    while chunk := src.read(128 * 1024):
        dst.write(chunk); dst.flush(); print("partial", flush=True); time.sleep(0.05)

shutil.copyfileobj = slow_copy
with Project.open(sys.argv[1]) as project:
    export_class_folders(project, sys.argv[2], progress=lambda d, t: print(d, flush=True))
"""


def export_killed(scratch: Path) -> bool:
    from desktop.core.folders_export import export_class_folders
    from desktop.core.store import Project

    sources = [_image(scratch / "pics" / f"big{i}.bmp", 600) for i in range(6)]
    db = scratch / "p.pigeonhole"
    with Project.open(db) as project:
        project.add_class("cat")
        project.set_labels(project.add_images(sources), project.class_by_name("cat").id)
    out = scratch / "out"
    child = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(db), str(out)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        while child.stdout.readline().strip() != "2":
            if child.poll() is not None:
                return False
        child.stdout.readline()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    originals = {p.name: p.read_bytes() for p in sources}
    real = [p for p in (out / "cat").iterdir() if not p.name.startswith(".")]
    complete = all(p.read_bytes() == originals[p.name] for p in real)
    with Project.open(db) as project:
        export_class_folders(project, out)
    no_leftovers = not [p for p in (out / "cat").iterdir() if p.name.startswith(".")]
    return complete and no_leftovers


# ----------------------------------------------------------------- 8. class names, destination
def class_name_twins(scratch: Path) -> bool:
    from desktop.core.errors import InvalidAction
    from desktop.core.store import Project

    refused = 0
    with Project.open(scratch / "p.pigeonhole") as project:
        for first, twin in [("caf\u00e9", "cafe\u0301"), ("Été", "été")]:
            project.add_class(first)
            try:
                project.add_class(twin)
            except InvalidAction:
                refused += 1
    return refused == 2


def symlinked_destination(scratch: Path) -> bool:
    from desktop.core.errors import ExportError
    from desktop.core.folders_export import export_class_folders
    from desktop.core.store import Project

    private = scratch / "home" / ".ssh"
    private.mkdir(parents=True)
    out = scratch / "shared"
    out.mkdir()
    (out / "cat").symlink_to(private, target_is_directory=True)
    with Project.open(scratch / "p.pigeonhole") as project:
        project.add_class("cat")
        ids = project.add_images([_image(scratch / "pics" / "a.png")])
        project.set_labels(ids, project.class_by_name("cat").id)
        try:
            export_class_folders(project, out)
            refused = False
        except ExportError:
            refused = True
    return refused and not list(private.iterdir())


HOSTILE_CASES: list[HostileCase] = [
    HostileCase("1 rich text: file name", f"preview title and tooltip of a file named "
                f"`{HOSTILE_FILE}`", rich_text_file_name),
    HostileCase("1 rich text: class name", "a class named with `<a>`/`<b>` tags in a message box",
                rich_text_message_box),
    HostileCase("2 formulas: Export CSV", "classes `=HYPERLINK(..)`, `@SUM(..)`, `-1;+2:3`; "
                "export, then import back", formulas_export_csv),
    HostileCase("2 formulas: headless classify", "a model whose class names start with `=` `@` `-`",
                formulas_headless_classify),
    HostileCase("4 shared CSV pulls files in", "rows `~/.ssh/id_rsa`-like and `../../private/..`",
                csv_outside_files),
    HostileCase("4 export of bad sources", "stored paths that are a FIFO, /dev/zero, a non-image",
                export_bad_sources),
    HostileCase("6 export SIGKILLed midway", "kill the export child inside a copy, export again",
                export_killed),
    HostileCase("8 class-name twins", "`café` NFC vs NFD, `Été` vs `été`", class_name_twins),
    HostileCase("8 symlink in destination", "destination/cat -> ~/.ssh planted before export",
                symlinked_destination),
]  # fmt: skip
