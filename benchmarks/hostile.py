"""Hostile input (issue 15), case by case: what was tried, whether it held, its time and memory.

Each case is a function returning one row; ``CASES`` lists them, so a new case is one function and
one line. Model checks run in a fresh child process each, and "peak MB" is how far the check
raised that process's peak resident memory above what its imports already took. The baseline row
is what the check did before issue 15: ``onnx.load`` of the whole file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnx
import psutil
from PIL import Image

from tests.hostile_onnx import endless_loop

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MODEL = ROOT / "resources" / "sample" / "model.onnx"
GB = 1 << 30

Row = dict[str, object]

_CHECK_CHILD = """
import json, sys, time
from desktop.core.model_file import ModelFileError, check_model_file
import onnx
def peak():  # VmHWM, not ru_maxrss: that one starts at the parent's size when forked from it
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
before = peak()
start = time.perf_counter()
try:
    if sys.argv[2] == "whole":
        onnx.load(sys.argv[1])
    else:
        check_model_file(sys.argv[1])
    verdict = "accepted"
except ModelFileError as exc:
    verdict = "refused: " + str(exc)
except Exception as exc:
    verdict = f"{type(exc).__name__}: {exc}"
seconds = time.perf_counter() - start
print(json.dumps({"verdict": verdict, "seconds": seconds, "peak": peak() - before}))
"""


def row(case: str, tried: str, held: bool | None, seconds: float, peak_mb: float | str = ""):
    """One line of the table; ``held`` None marks a baseline or control, not a case."""
    shown = "—" if held is None else ("yes" if held else "NO")
    return {"case": case, "tried": tried, "held": shown, "seconds": seconds, "peak MB": peak_mb}


def check_in_child(path: Path, how: str = "check") -> dict[str, object]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _CHECK_CHILD, str(path), how],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0 or not done.stdout.strip():
        return {"verdict": f"child failed: {done.stderr[-300:]}", "seconds": 0.0, "peak": 0}
    return json.loads(done.stdout.splitlines()[-1])


def model_case(case: str, path: Path, refused_with: str) -> Row:
    result = check_in_child(path)
    held = str(result["verdict"]).startswith("refused") and refused_with in result["verdict"]
    if not refused_with:
        held = result["verdict"] == "accepted"
    return row(
        case,
        f"check_model_file: {str(result['verdict'])[:90]}",
        held if refused_with else None,
        float(result["seconds"]),
        int(result["peak"]) / (1 << 20),
    )


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as stream:
        stream.truncate(size)
    return path


def zeros_2gb(scratch: Path) -> Row:
    return model_case("2 GB zero-filled .onnx", sparse(scratch / "zeros.onnx", 2 * GB), "larger")


def zeros_2gb_baseline(scratch: Path) -> Row:
    result = check_in_child(sparse(scratch / "zeros.onnx", 2 * GB), "whole")
    return row(
        "baseline: the 2 GB file read whole",
        f"onnx.load, as the check did before: {str(result['verdict'])[:60]}",
        None,
        float(result["seconds"]),
        int(result["peak"]) / (1 << 20),
    )


def sparse_30gb(scratch: Path) -> Row:
    return model_case("30 GB sparse .onnx", sparse(scratch / "huge.onnx", 30 * GB), "larger")


def loop_model(scratch: Path) -> Row:
    model = onnx.load(SAMPLE_MODEL)
    endless_loop(model)
    path = scratch / "loop.onnx"
    path.write_bytes(model.SerializeToString())
    return model_case("Loop of 10^12 trips", path, "(Loop)")


def padded_to_the_cap(scratch: Path) -> Row:
    """The worst a file under the size cap can cost: a valid model padded with a huge doc string,
    so it passes the envelope and is read, parsed and checked in full."""
    from desktop.core.model_bounds import MAX_MODEL_BYTES

    model = onnx.load(SAMPLE_MODEL)
    model.doc_string = "x" * (MAX_MODEL_BYTES - SAMPLE_MODEL.stat().st_size - 1024)
    path = scratch / "padded.onnx"
    path.write_bytes(model.SerializeToString())
    result = check_in_child(path)
    seconds, peak = float(result["seconds"]), int(result["peak"]) / (1 << 20)
    return row(
        f"valid model padded to {path.stat().st_size >> 20} MB (the cap)",
        f"check_model_file: {str(result['verdict'])[:60]}; within 1 s and 200 MB?",
        seconds <= 1 and peak <= 200,
        seconds,
        peak,
    )


def real_model(scratch: Path) -> Row:
    return model_case("control: the sample model (small_cnn)", SAMPLE_MODEL, "")


def _tampered_project(scratch: Path, *statements: str) -> Path:
    from desktop.core.store import Project

    path = scratch / f"tampered-{time.monotonic_ns()}.pigeonhole"
    image = scratch / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    with Project.open(path) as project:
        project.import_labels([(image, "cat")], create_classes=True)
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def _refused_open(case: str, tried: str, scratch: Path, *statements: str) -> Row:
    from desktop.core.project_check import UntrustedProject
    from desktop.core.store import Project

    path = _tampered_project(scratch, *statements)
    before = path.read_bytes()
    start = time.perf_counter()
    try:
        Project.open(path).close()
        held = False
    except UntrustedProject:
        held = True
    seconds = time.perf_counter() - start
    return row(case, tried, held and path.read_bytes() == before, seconds)


def trigger_project(scratch: Path) -> Row:
    return _refused_open(
        "project with a TRIGGER",
        "AFTER INSERT ON labels deletes the others; open refused, file unchanged?",
        scratch,
        "CREATE TRIGGER t AFTER INSERT ON labels BEGIN DELETE FROM labels; END",
    )


def view_project(scratch: Path) -> Row:
    return _refused_open(
        "VIEW in place of labels",
        "open refused (not an empty project), file unchanged?",
        scratch,
        "DROP TABLE labels",
        "CREATE VIEW labels AS SELECT 1 AS image_id",
    )


def odd_meta(scratch: Path) -> Row:
    return _refused_open(
        "odd meta value",
        "history_cursor = 'abc': clear message instead of ValueError?",
        scratch,
        "UPDATE meta SET value = 'abc' WHERE key = 'history_cursor'",
    )


def clean_copy(scratch: Path) -> Row:
    from desktop.core.clean_copy import make_clean_copy
    from desktop.core.store import Project

    path = _tampered_project(
        scratch, "CREATE TRIGGER t AFTER INSERT ON labels BEGIN DELETE FROM labels; END"
    )
    before = path.read_bytes()
    start = time.perf_counter()
    copy = make_clean_copy(path)
    seconds = time.perf_counter() - start
    with Project.open(copy.path) as project:
        kept = project.counts().labelled == 1
    return row(
        "clean copy of the TRIGGER project",
        "labels kept in the copy, original unchanged?",
        kept and path.read_bytes() == before,
        seconds,
    )


def many_classes(scratch: Path) -> Row:
    from desktop.core.store import Project

    with Project.open(scratch / "classes.pigeonhole") as project:
        project.add_class("earlier work")
        start = time.perf_counter()
        project.add_classes([f"class {i}" for i in range(1200)])
        seconds = time.perf_counter() - start
        held = len(project.history()) == 2
    return row("model with 1,200 classes", "added as ONE undo action?", held, seconds)


def long_class_name(scratch: Path) -> Row:
    from desktop.core.errors import InvalidAction
    from desktop.core.store import Project

    with Project.open(scratch / "long.pigeonhole") as project:
        start = time.perf_counter()
        with contextlib.suppress(InvalidAction):  # the refusal is the point
            project.add_classes(["fine", "ok", "x" * 101])
        seconds = time.perf_counter() - start
        held = project.classes() == []
    return row("101-character class name third", "nothing added before the refusal?", held, seconds)


_KILL_CHILD = """
import sys
from desktop.core.classify import ClassifyOptions, classify_images
from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
session = open_session(check_model_file(sys.argv[1]), "cpu")
items = ((i, sys.argv[2]) for i in range(10**9))
for batch in classify_images(session, items, ClassifyOptions(workers=2)):
    print("running", flush=True)
"""


def killed_classify(scratch: Path) -> Row:
    image = scratch / "photo.png"
    Image.new("RGB", (256, 256)).save(image)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, str(SAMPLE_MODEL), str(image)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    child.stdout.readline()
    left = psutil.Process(child.pid).children(recursive=True)
    child.send_signal(signal.SIGKILL)
    child.wait()
    start = time.perf_counter()
    _, alive = psutil.wait_procs(left, timeout=30)
    seconds = time.perf_counter() - start
    for process in alive:
        process.kill()
    return row(
        "classify SIGKILLed",
        f"{len(left)} child processes gone within 30 s? (seconds: until the last exited)",
        not alive,
        seconds,
    )


def fifo_data(scratch: Path) -> Row:
    fifo = scratch / "data.csv"
    os.mkfifo(fifo)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "trainer", "train", str(fifo), "--out", str(scratch / "run")],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | {"PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""},
        )
        held = done.returncode == 2 and "not a regular file" in done.stderr
    except subprocess.TimeoutExpired:
        held = False
    return row(
        "trainer DATA is a FIFO",
        "exit 2 with one line, no hang?",
        held,
        time.perf_counter() - start,
    )


CASES: list[Callable[[Path], Row]] = [
    trigger_project,
    view_project,
    odd_meta,
    clean_copy,
    real_model,
    zeros_2gb_baseline,
    zeros_2gb,
    sparse_30gb,
    padded_to_the_cap,
    loop_model,
    many_classes,
    long_class_name,
    killed_classify,
    fifo_data,
]
"""Issue 15 items 3, 5 and 7; each case gets a fresh scratch folder."""


def run_cases(cases: list[Callable[[Path], Row]] = CASES) -> list[Row]:
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="pigeonhole-hostile-") as scratch:
            rows.append(case(Path(scratch)))
        print(rows[-1], file=sys.stderr)
    return rows
