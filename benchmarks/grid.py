"""How fast the window shows thumbnails and takes in a folder of 100,000 images (issue 6).

Offscreen Qt, the real MainWindow, real files:
1. a folder of 12 MP JPEGs already in a project: time from opening the project until the first 50
   tiles have their thumbnails, with an empty thumbnail cache (cold) and again in a fresh window
   (empty memory cache) that finds them in the disk cache;
2. a folder of 100,000 small JPEGs (hard links to one file, so it costs no disk) dropped on the
   window: time until the first tiles are in the grid, and the longest the event loop went without
   running a 5 ms heartbeat QTimer while the scan streamed in;
3. the store at 100,000 images: a full reload, a one-image label change and its undo.

Run from the repository root: ``python -m benchmarks.grid`` (``--quick``: 10,000 files, no file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from benchmarks.classify_folder import CACHE, SIZES, ensure_photos
from benchmarks.common import load_average, write_table
from desktop.core.store import Project
from desktop.ui.filter_proxy import Filter, Show
from desktop.ui.main_window import MainWindow
from desktop.ui.thumbnails import ThumbKey, make_thumbnail

SECTION = "Grid, thumbnails and scanning (issue 6)"
FIRST = 50


class Heartbeat:
    """A 5 ms QTimer; the longest gap between two ticks is the longest the GUI was blocked."""

    def __init__(self, interval_ms: int = 5) -> None:
        self.interval_ms = interval_ms
        self.clock = QElapsedTimer()
        self.last = 0
        self.worst = 0
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.last = 0
        self.worst = 0
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.worst = max(self.worst, now - self.last - self.interval_ms)
        self.last = now


def make_window(folder: Path, cache: Path) -> MainWindow:
    """A window whose questions are answered 'no' and whose settings stay in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, thumbnail_cache=cache)
    window.ask = lambda *args: False
    window.inform = lambda *args: None
    window.errors = []
    window.show_error = window.errors.append
    for dock in window.docks:
        dock.hide()
    window.resize(1500, 1250)  # 10 x 7 tiles of 128 px
    return window


def wait_until(app: QApplication, done: Callable[[], bool], timeout_s: float = 600) -> None:
    deadline = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.001)


def first_thumbnails(app: QApplication, project: Path, cache: Path, work: Path) -> float:
    """Seconds from opening the project until the first FIRST tiles show their thumbnails."""
    window = make_window(work, cache)
    ready: set[ThumbKey] = set()
    window.thumbnails.ready.connect(ready.add)
    window.show()
    app.processEvents()
    start = time.perf_counter()
    window.project_files.open_path(project)

    def shown() -> bool:
        grid = window.grid
        if grid.rowCount() < FIRST:
            return False
        keys = {ThumbKey(grid.tile(row).path, grid.thumb_pixels) for row in range(FIRST)}
        return keys <= ready

    wait_until(app, shown)
    app.processEvents()  # the paint that puts them on screen
    seconds = time.perf_counter() - start
    visible = sum(
        window.view.viewport().rect().intersects(window.view.visualRect(window.proxy.index(r, 0)))
        for r in range(FIRST)
    )
    if visible < FIRST:
        print(f"warning: only {visible} of the first {FIRST} tiles fit the window", file=sys.stderr)
    window.shutdown()
    window.deleteLater()
    return seconds


def thumbnail_rows(app: QApplication, work: Path, count: int) -> list[dict[str, object]]:
    """Cold and cached first screens, for camera JPEGs (with a preview) and for JPEGs without."""
    rows: list[dict[str, object]] = []
    for preview in (True, False):
        kind = "camera JPEGs (EXIF preview)" if preview else "JPEGs without a preview"
        name = f"{'camera' if preview else 'photos'}_4000x3000_{count}"
        photos = ensure_photos(CACHE / name, SIZES["12 MP"], count, preview=preview)
        for photo in photos:
            photo.read_bytes()  # same page-cache state for every run: our work, not the disk
        project = work / f"{name}.pigeonhole"
        with Project.open(project) as opened:
            opened.add_images(photos)
        cache = work / f"{name}-thumbs"
        cold = first_thumbnails(app, project, cache, work / f"{name}-cold")
        cached = first_thumbnails(app, project, cache, work / f"{name}-cached")
        cpu_ms = decode_cpu_ms(photos[:10], work / f"{name}-cpu")
        bound = FIRST * cpu_ms / 1000 / 2
        rows += [
            {"measure": f"first {FIRST} thumbnails of 12 MP {kind}, cold",
             "result": f"{cold:.3f} s", "target": "< 0.7 s", "met": _yes(cold < 0.7)},
            {"measure": f"first {FIRST} thumbnails of 12 MP {kind}, from the disk cache",
             "result": f"{cached:.3f} s", "target": "< 0.3 s", "met": _yes(cached < 0.3)},
            {"measure": f"CPU time to make one thumbnail of 12 MP {kind} (one thread)",
             "result": f"{cpu_ms:.1f} ms", "target": "", "met": ""},
            {"measure": f"so {FIRST} cold ones on 2 idle cores take at least",
             "result": f"{bound:.2f} s", "target": "< 0.7 s", "met": _yes(bound < 0.7)},
        ]  # fmt: skip
    return rows


def decode_cpu_ms(photos: list[Path], cache: Path) -> float:
    """CPU milliseconds per cold thumbnail: what the machine's load cannot inflate."""
    start = time.thread_time()
    for photo in photos:
        make_thumbnail(ThumbKey(str(photo), 128), cache)
    return (time.thread_time() - start) / len(photos) * 1000


def make_big_folder(folder: Path, count: int) -> Path:
    """``count`` names for a few small JPEGs: hard links, so 100,000 files cost no disk space
    (one source per 10,000 links stays under the file system's limit on links per file)."""
    folder.mkdir(parents=True)
    for i in range(count):
        source = folder.parent / f"source_{i // 10_000}.jpg"
        if i % 10_000 == 0:
            colour = (90 + 15 * (i // 10_000) % 160, 140, 200)
            Image.new("RGB", (64, 48), colour).save(source, quality=85)
        os.link(source, folder / f"img_{i:06d}.jpg")
    return folder


def scan_rows(app: QApplication, work: Path, count: int) -> tuple[list[dict[str, object]], Path]:
    folder = make_big_folder(work / "many", count)
    window = make_window(work / "scan", work / "scan-thumbs")
    project = work / "many.pigeonhole"
    window.project_files.open_path(project)
    window.show()
    app.processEvents()
    beat = Heartbeat()
    first: list[float] = []
    window.grid.rowsInserted.connect(lambda *_: first or first.append(time.perf_counter()))
    beat.start()
    start = time.perf_counter()
    window.ingest.add_paths([folder])
    wait_until(app, lambda: bool(first))
    app.processEvents()  # painted
    first_s = time.perf_counter() - start
    wait_until(app, lambda: window.jobs.is_idle())
    total_s = time.perf_counter() - start
    beat.stop()
    rows_in_grid = window.grid.rowCount()
    window.shutdown()
    window.deleteLater()
    if rows_in_grid != count or window.errors:
        raise RuntimeError(f"scan found {rows_in_grid} of {count} files; errors: {window.errors}")
    return [
        {"measure": f"{count:,} files dropped: first tiles in the grid",
         "result": f"{first_s:.3f} s", "target": "< 1 s", "met": _yes(first_s < 1.0)},
        {"measure": "longest event-loop stall while scanning", "result": f"{beat.worst} ms",
         "target": "<= 100 ms", "met": _yes(beat.worst <= 100)},
        {"measure": f"whole scan, {count:,} files added and shown", "result": f"{total_s:.1f} s "
         f"({count / total_s:,.0f} files/s)", "target": "", "met": ""},
    ], project  # fmt: skip


def store_rows(app: QApplication, work: Path, project: Path) -> list[dict[str, object]]:
    """The interactive paths at 100,000 images, timed on the GUI thread as a user meets them."""
    window = make_window(work / "store", work / "store-thumbs")
    start = time.perf_counter()
    window.project_files.open_path(project)
    opened_s = time.perf_counter() - start
    window.show()
    app.processEvents()
    session = window.session
    session.add_class("cat")
    cat = session.class_by_shortcut(1).id
    image_id = window.proxy.image_id(0)
    start = time.perf_counter()
    session.label([image_id], cat)
    label_s = time.perf_counter() - start
    start = time.perf_counter()
    window.actions["Undo"].trigger()
    undo_s = time.perf_counter() - start
    start = time.perf_counter()
    window.reload_tiles()
    reload_s = time.perf_counter() - start
    start = time.perf_counter()
    window.filter_bar.set_show(Show.UNLABELLED)
    show_s = time.perf_counter() - start
    start = time.perf_counter()
    window.proxy.set_filter(Filter(Show.UNLABELLED, path_contains="img_0000"))
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    rows = session.project.image_rows()
    rows_s = time.perf_counter() - start
    n = len(rows)
    window.shutdown()
    window.deleteLater()
    return [
        {"measure": f"open a project of {n:,} images (all tiles loaded)",
         "result": f"{opened_s:.3f} s", "target": "", "met": ""},
        {"measure": "`Project.image_rows()` for all images", "result": f"{rows_s:.3f} s",
         "target": "", "met": ""},
        {"measure": "label one image (store, grid row, class counts)",
         "result": f"{label_s * 1000:.0f} ms", "target": "", "met": ""},
        {"measure": "undo that label", "result": f"{undo_s * 1000:.0f} ms", "target": "",
         "met": ""},
        {"measure": "reload every tile (after a class change)", "result": f"{reload_s:.3f} s",
         "target": "", "met": ""},
        {"measure": "switch the Show filter to Unlabelled (all shown)",
         "result": f"{show_s:.3f} s", "target": "", "met": ""},
        {"measure": "search a name (100 of them shown)", "result": f"{search_s:.3f} s",
         "target": "", "met": ""},
    ]  # fmt: skip


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the big folder")
    parser.add_argument("--photos", type=int, default=60, help="12 MP photos (at least 50)")
    parser.add_argument("--quick", action="store_true", help="10,000 files, no BENCHMARKS.md")
    args = parser.parse_args(argv)
    files = 10_000 if args.quick else args.files
    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="pigeonhole-grid-"))
    try:
        rows = thumbnail_rows(app, work, max(FIRST, args.photos))
        scanned, project = scan_rows(app, work, files)
        rows += scanned + store_rows(app, work, project)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        print(f"{row['measure']:<60} {row['result']:>22} {row['target']:>10} {row['met']}")
    load = load_average()
    print(f"load average (1, 5, 15 min): {load}")
    if not args.quick:
        write_table(SECTION, rows, notes=NOTES + f"\nLoad average at the end of this run: {load}.")
    return 0


NOTES = """
Thumbnails: 128 px tiles in a 1500 x 1250 offscreen window (10 x 7 tiles); the photos are
generated 12 MP JPEGs (`benchmarks/classify_folder.py`'s `photo_like`, ~3.7 MB each) read once
beforehand, so the OS page cache is warm in every run and the figures are our decoding and
caching, not the disk. "Camera JPEGs" carry the 160 x 120 EXIF preview that cameras (DCF) and
phones embed; the tile uses it when it fills the tile with the photo's shape. Without a preview,
cold thumbnails are CPU-bound: draft mode skips most of the IDCT but the whole entropy-coded data
must still be decoded, so 50 of them need at least the bound shown even on two idle cores. The
clock runs from opening the project to the paint after the 50th thumbnail arrives.
Scanning: 100,000 hard links to ten 64 x 48 JPEGs in one folder, dropped on the window; the stall
is the longest gap of a 5 ms QTimer beyond its interval. A stack sampler shows the GUI thread in
`TileDelegate.paint` (Python, ~1 ms per tile on a loaded machine, ~70 tiles per repaint) waiting
for the GIL that the scan worker holds; scan batches are therefore shown at most every 250 ms.
The two worst stalls (~110 ms) were Python's full garbage collections walking every tile; tiles
are now frozen out of them (`gc.freeze` after each insert, desktop/ui/grid_model.py).
The machine is shared with other jobs (see the load average), so figures vary between runs.
"""


if __name__ == "__main__":
    raise SystemExit(main())
