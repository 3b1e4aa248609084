"""Resident memory while classifying 1,000 and 10,000 images, headless and in the window (issue 6).

Each run is a fresh process whose resident set, plus its decoding workers', is sampled every
20 ms until it exits: ``python -m desktop classify`` on the folder, and the real window (offscreen)
that scans the folder into a new project, opens the model and classifies everything, storing the
predictions and embeddings in SQLite as a user's session does. The folders are hard links to the
1 MP photos of ``benchmarks/classify_folder.py`` (distinct names, no extra disk), so every image
is decoded and classified; memory that stays flat from 1,000 to 10,000 shows the bounded queues.

    python -m benchmarks.classify_memory                 # 1,000 and 10,000 images
    python -m benchmarks.classify_memory --counts 200    # a quick look; --no-write keeps the file
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.classify_folder import (
    CACHE,
    SIZES,
    ensure_default_model,
    ensure_photos,
    measured,
)
from benchmarks.common import write_table
from desktop.core.classify import cpu_count

SECTION = "Memory while classifying 10,000 images (issue 6)"
DISTINCT = 600
LIMIT_MB = 1024
STALL_PREFIX = "longest event-loop stall ms: "


def linked_folder(sources: Sequence[Path], folder: Path, count: int) -> Path:
    """``count`` names for the ``sources`` in turn: hard links, so only the names cost space."""
    if folder.is_dir() and sum(1 for _ in folder.iterdir()) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        target = folder / f"img_{i:05d}.jpg"
        if not target.exists():
            os.link(sources[i % len(sources)], target)
    return folder


def headless(folder: Path, model: Path) -> tuple[float, int, str]:
    out = Path(tempfile.mkdtemp()) / "predictions.csv"
    command = [sys.executable, "-m", "desktop", "classify", str(folder), "--model", str(model)]
    return measured([*command, "--out", str(out)])


def in_window(folder: Path, model: Path) -> tuple[float, int, str]:
    command = [sys.executable, "-m", "benchmarks.classify_memory", "--window-child"]
    return measured([*command, str(folder), str(model)])


def window_child(folder: Path, model: Path) -> int:
    """In the child: scan ``folder`` into a new project, open ``model``, classify all, exit."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from benchmarks.grid import Heartbeat, make_window, wait_until

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="pigeonhole-memory-"))
    window = make_window(work, work / "thumbs")
    window.project_files.open_path(work / "memory.pigeonhole")
    window.show()
    window.ingest.add_paths([folder])
    wait_until(app, lambda: window.jobs.is_idle())
    if not window.classifier.open_model(model):
        raise SystemExit(f"the window refused {model}: {window.errors}")
    beat = Heartbeat()
    beat.start()
    window.classifier.classify_all()
    wait_until(app, lambda: window.classifier.last_run is not None)
    beat.stop()
    predicted, failed, completed = window.classifier.last_run
    window.shutdown()
    print(f"window: {predicted} predicted, {failed} failed, completed={completed}")
    print(f"{STALL_PREFIX}{beat.worst}")
    return 0 if completed and failed == 0 else 1


def rows_for(count: int, model: Path) -> list[dict[str, object]]:
    sources = ensure_photos(CACHE / f"photos_1152x864_{DISTINCT}", SIZES["1 MP"], DISTINCT)
    folder = linked_folder(sources, CACHE / f"linked_1152x864_{count}", count)
    for source in sources:
        source.read_bytes()  # warm page cache: memory and speed of our work, not the disk's
    rows = []
    for where, run in (("`python -m desktop classify`", headless), ("the window", in_window)):
        seconds, peak, out = run(folder, model)
        mb = peak / 2**20
        stall = next(
            (f"{line.removeprefix(STALL_PREFIX)} ms" for line in out.splitlines()
             if line.startswith(STALL_PREFIX)),
            "",
        )  # fmt: skip
        rows.append(
            {
                "images": f"{count:,}",
                "classified by": where,
                "peak RSS MB (process + workers)": round(mb),
                "target": f"< {LIMIT_MB}",
                "met": "yes" if mb < LIMIT_MB else "NO",
                "img/s incl. start-up": count / seconds,
                "longest GUI stall while classifying": stall,
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--model", type=Path, help="default: the default backbone, trained once")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    parser.add_argument("--window-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.window_child:
        return window_child(*args.window_child)
    model = args.model or ensure_default_model()
    rows = [row for count in args.counts for row in rows_for(count, model)]
    notes = (
        f"1 MP generated photos ({DISTINCT} distinct, hard-linked under new names), the default "
        f"model (EfficientNet-Lite0, 224 px), {cpu_count()} decoding workers, CPU. The window "
        "run includes the scan into a new project, the thumbnails of the first screen and the "
        "predictions with their 1280-float embeddings written to SQLite. The GUI stall is the "
        "longest gap of a 5 ms QTimer beyond its interval from Classify All to the last batch."
    )
    if not args.no_write:
        print(f"wrote {write_table(SECTION, rows, notes=notes)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
