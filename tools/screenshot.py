"""Take docs/screenshot.png: the window on a generated project with labels and predictions.

    python tools/screenshot.py [--out docs/screenshot.png]

Runs itself under Xvfb (Debian package ``xvfb``) when there is no display, so it works on a
headless build machine. The project is made in a temp folder from the bundled sample
(resources/sample: images and model), a few images are labelled by hand (one of them wrongly, so
the "label ≠ prediction" look shows), two broken files show warning tiles, and the model
classifies everything. Nothing under resources/ is modified.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"


def rerun_under_xvfb() -> None:
    """Re-exec under xvfb-run when there is no display (and the caller chose no platform)."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") or os.environ.get("_PH_XVFB"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit(
            "No display and no xvfb-run: apt-get install xvfb, or set QT_QPA_PLATFORM=offscreen."
        )
    env = {**os.environ, "_PH_XVFB": "1"}
    args = [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
    sys.exit(subprocess.run(args, env=env, check=False).returncode)


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """A small copy of the sample (3 images per class) plus two broken files."""
    images = folder / "photos"
    for class_dir in sorted((SAMPLE / "images").iterdir()):
        if class_dir.is_dir():
            for path in sorted(class_dir.iterdir())[:3]:
                target = images / class_dir.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    (images / "scan-0001.jpg").write_bytes(b"")
    (images / "notes.png").write_text("not an image")
    return images, SAMPLE / "model.onnx"


def settle(app, window, seconds: float = 120) -> None:
    """Let background jobs and thumbnails finish."""
    deadline = time.monotonic() + seconds
    quiet = 0
    while time.monotonic() < deadline and quiet < 20:
        app.processEvents()
        busy = not window.jobs.is_idle() or window.thumbnails.pending_count()
        quiet = 0 if busy else quiet + 1
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--heat-map", action="store_true", help="with View → Heat Map on")
    args = parser.parse_args()
    rerun_under_xvfb()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    app = QApplication([sys.argv[0]])
    work = Path(tempfile.mkdtemp(prefix="pigeonhole-shot-"))
    try:
        images, model = make_inputs(work)
        settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, thumbnail_cache=work / "thumbs")
        window.ask = lambda title, question: title != "Import class folders"
        window.inform = lambda title, text: None
        window.project_files.open_path(work / "Wardrobe.pigeonhole")
        window.resize(1500, 900)
        window.show()
        window.ingest.add_paths([images])
        settle(app, window)
        if not window.classifier.open_model(model):
            return 1
        window.classifier.classify_all()
        settle(app, window)
        label_a_few(window)
        window.filter_bar.set_thumb_size(128)
        window.view.select_row(4)
        window.show_current()
        settle(app, window)
        if args.heat_map:
            window.actions["Heat Map"].trigger()
            settle(app, window)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.out))
        print(f"wrote {args.out}")
        window.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def label_a_few(window) -> None:
    """Label six images by their folder, and one wrongly, as a user part-way through would."""
    by_name = {c.name: c.id for c in window.session.classes()}
    tiles = [t for t in window.grid.tiles() if not t.unreadable]
    for tile in tiles[:6]:
        window.session.label([tile.image_id], by_name[Path(tile.path).parent.name])
    wrong = next(t for t in tiles[6:] if t.prediction and t.prediction != "bag")
    window.session.label([wrong.image_id], by_name["bag"])


if __name__ == "__main__":
    sys.exit(main())
