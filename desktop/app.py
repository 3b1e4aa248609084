"""Starting the window: the QApplication, settings names, and which project to open first.

Nothing to configure: the first start opens a new project in the user's data folder
(platformdirs), later starts reopen the last project; paths on the command line are added to it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop.core.paths import APP_NAME, PROJECT_SUFFIX
from desktop.platform_check import check_before_qt
from desktop.resources import MissingResource, icon_path


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pigeonhole",
        description="Sort images into your own classes. Other modes: `pigeonhole classify --help`.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help=f"folders or images to add (a *{PROJECT_SUFFIX} file opens that project)",
    )
    parser.add_argument("--project", type=Path, help="the project file to open or create")
    return parser.parse_args(list(argv))


def application(argv: Sequence[str] = ()) -> QApplication:
    """The one QApplication, named so QSettings lands in the right place."""
    QCoreApplication.setOrganizationName(APP_NAME)
    QCoreApplication.setApplicationName(APP_NAME)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    # An incomplete install still starts without its icon; `pigeonhole --self-test` says why.
    with contextlib.suppress(MissingResource):
        app.setWindowIcon(QIcon(str(icon_path(256))))
    return app  # type: ignore[return-value]


def open_window(paths: Sequence[Path] = (), project: Path | None = None):
    """Make the window, open the right project and start adding ``paths`` in the background."""
    from desktop.ui.main_window import MainWindow

    window = MainWindow()
    projects = [p for p in paths if p.suffix.lower() == PROJECT_SUFFIX]
    target = project or (projects[0] if projects else window.project_files.startup_path())
    window.project_files.open_path(target)
    rest = [p for p in paths if p not in projects]
    if rest:
        window.ingest.add_paths(rest)
    return window


def run_gui(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    from desktop.ui.single_instance import hand_over, serve

    if hand_over(args.paths, args.project):
        print("Pigeonhole is already open: the paths were handed to its window.")
        return 0
    problem = check_before_qt()
    if problem is not None:  # Qt would abort naming the wrong package
        print(problem, file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = application()
    window = open_window(args.paths, args.project)
    window.instance_server = serve(window)  # later `pigeonhole FOLDER` calls come here
    window.show()
    if not args.paths:
        QTimer.singleShot(0, window.sample.offer_on_first_run)  # a question, once it is shown
    return app.exec()
