"""A real main window on a real project file in a temp folder, with its questions answered.

Dialogs are the only seam: ``ask`` answers from ``window.answers`` (default yes), errors and
summaries are collected in ``window.errors`` / ``window.infos`` instead of message boxes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from desktop.ui.main_window import MainWindow
from tests.imagegen import write_dataset

BROKEN = {"empty.jpg": b"", "notes.png": b"this is not a png", "cut.jpg": None}


def write_broken(folder: Path) -> list[Path]:
    """Three files that look like images by name and are not."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in BROKEN.items():
        path = folder / name
        if data is None:  # a JPEG cut off after its header
            Image.new("RGB", (64, 64), "red").save(path, quality=90)
            path.write_bytes(path.read_bytes()[:200])
        else:
            path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.fixture
def shapes_dir(tmp_path: Path) -> Path:
    """circle/, square/, triangle/ with 3 images each, plus 3 broken files at the top."""
    root = tmp_path / "shapes"
    write_dataset(root, per_class=3, side=32)
    write_broken(root)
    return root


def make_window(qtbot, folder: Path) -> MainWindow:
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("classify/workers", 0)  # decode in the worker thread: kind to 2 cores
    window = MainWindow(settings, thumbnail_cache=folder / "thumbs")
    qtbot.addWidget(window)
    window.answers = []
    window.errors = []
    window.infos = []
    window.ask = lambda title, question: window.answers.pop(0) if window.answers else True
    window.show_error = window.errors.append
    window.inform = lambda title, text: window.infos.append(text)
    return window


@pytest.fixture
def new_window(qtbot):
    """Make another window (e.g. to reopen a project as after a restart)."""

    def make(folder: Path) -> MainWindow:
        folder.mkdir(parents=True, exist_ok=True)
        return make_window(qtbot, folder)

    return make


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    window = make_window(qtbot, tmp_path)
    assert window.project_files.open_path(tmp_path / "test.pigeonhole")
    window.resize(1000, 700)
    window.show()
    yield window
    window.shutdown()


@pytest.fixture
def wait_idle(qtbot):
    """Wait until the window's background job (scan, classify, export) has finished."""

    def wait(window: MainWindow, timeout: int = 60_000) -> None:
        qtbot.waitUntil(lambda: window.jobs.is_idle(), timeout=timeout)

    return wait


@pytest.fixture
def classified(window, tiny_dataset_dir, tiny_model_path, wait_idle):
    """The tiny dataset added (not labelled) and classified by the tiny model."""
    window.answers = [False]  # do not import the class folders: let the model predict
    window.ingest.add_paths([tiny_dataset_dir])
    wait_idle(window)
    assert window.classifier.open_model(tiny_model_path)
    window.classifier.classify_all()
    wait_idle(window, timeout=120_000)
    return window
