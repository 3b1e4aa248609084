"""The window after a training, all docks open, at 1366×768 and 1920×1080: PNGs in docs/.

    xvfb-run -s "-screen 0 1920x1080x24" python docs/screenshots.py [--out docs] [--epochs 3]

What a new user does in the first hour, scripted: 797 real digit scans (scikit-learn's bundled
set, class folders "0".."9") dropped on a new project, the folders taken as labels, Model → Train…
(small_cnn, a few epochs), the new version taken, Evaluate and Review opened. Then the window is
resized to each screen size and grabbed; its minimum size is printed, since it must stay below
the smallest screen. Questions are answered "yes"; nothing is written outside a temp folder
except the PNGs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks.quality_data import digits, write_class_folders  # noqa: E402
from desktop.app import application  # noqa: E402
from desktop.core.training_run import TrainSettings  # noqa: E402
from desktop.ui.main_window import MainWindow  # noqa: E402

SIZES = ((1366, 768), (1920, 1080))


def wait(app: QApplication, until, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")
        app.processEvents()
        time.sleep(0.02)


def idle(window: MainWindow) -> bool:
    return window.jobs.is_idle()


def second_training(app: QApplication, window: MainWindow, out: Path) -> None:
    """A second run behind the closed dialog: its status bar line, then the offer bar."""
    dialog, loop = window.loop.dialog, window.loop
    window.resize(*SIZES[0])
    if not dialog.start_training():
        raise SystemExit("the second training did not start")
    dialog.hide()
    wait(app, lambda: "epoch" in loop.training_status.label.text(), 1200, "an epoch")
    window.grab().save(str(out / "screenshot-training-1366x768.png"))
    wait(app, lambda: loop.offer.isVisible() or not dialog.is_running(), 1200, "the offer")
    for _ in range(10):
        app.processEvents()
        time.sleep(0.05)
    window.grab().save(str(out / "screenshot-offer-1366x768.png"))
    print(f"offer: {loop.offer.label.text()}")
    loop.offer.use_button.click()
    wait(app, lambda: idle(window), 600, "reclassifying with the new version")
    loop.evaluate()
    wait(app, lambda: idle(window), 300, "evaluation")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--second", action="store_true", help="train again: shots of the status bar and the offer"
    )
    args = parser.parse_args()
    app = application()
    work = Path(tempfile.mkdtemp(prefix="pigeonhole-shots-"))
    pool, _test = digits()
    images = write_class_folders(pool, work / "digit scans")
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_folder", str(work / "runs"))
    window = MainWindow(settings, thumbnail_cache=work / "thumbs")
    window.ask = lambda title, question: True
    window.inform = lambda title, text: print(f"[{title}] {text}")
    window.show_error = lambda message: print(f"[error] {message}")
    window.project_files.open_path(work / "digits.pigeonhole")
    window.resize(*SIZES[0])
    window.show()
    window.ingest.add_paths([images])
    wait(app, lambda: idle(window) and window.session.require().counts().labelled, 300, "import")

    dialog = window.loop.dialog
    dialog.set_options(
        TrainSettings(backbone="small_cnn", epochs=args.epochs, image_size=32, time_budget=5)
    )
    trained: list[int] = []
    dialog.trained.connect(trained.append)
    dialog.failed.connect(lambda message: print(f"[training failed] {message}"))
    window.loop.train()
    if not dialog.start_training():
        return 1
    dialog.hide()  # training goes on behind a closed dialog, shown in the status bar
    window.view.select_row(40)
    wait(app, lambda: bool(trained), 1200, "training")
    offer = getattr(window.loop, "offer", None)
    if offer is not None and offer.isVisible():
        offer.use_button.click()  # take the new version, as a user would
    wait(app, lambda: idle(window), 600, "classification and analysis")
    for dock in window.docks:
        dock.show()
    window.loop.evaluate()
    wait(app, lambda: idle(window), 300, "evaluation")
    window.loop_docks["Evaluation"].raise_()

    if args.second:
        second_training(app, window, args.out)
    hint = window.minimumSizeHint()
    print(f"window minimum size after training and Evaluation: {hint.width()}×{hint.height()}")
    args.out.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        window.resize(width, height)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.05)
        got = window.size()
        path = args.out / f"screenshot-{width}x{height}.png"
        window.grab().save(str(path))
        print(f"{path}: window {got.width()}×{got.height()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
