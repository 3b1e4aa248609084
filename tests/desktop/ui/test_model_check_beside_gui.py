"""Checking and loading a model runs beside the GUI thread: the window keeps painting meanwhile."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer

from tests.desktop.core.test_hostile_models import slow_model


def test_the_window_keeps_running_while_a_model_loads(window, tmp_path: Path) -> None:
    path = slow_model(tmp_path / "slow.onnx", chain=5)  # ONNX Runtime needs ~1 s to load it
    ticks: list[int] = []
    timer = QTimer(window)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    window.answers = [False]  # do not add its classes; it opens anyway
    assert window.classifier.open_model(path)
    timer.stop()
    assert len(ticks) >= 5, "the GUI thread was blocked while the model loaded"
    assert window.classifier.model is not None


def test_a_refused_model_is_reported_from_the_check_thread(window, tmp_path: Path) -> None:
    path = tmp_path / "zeros.onnx"
    with path.open("wb") as stream:
        stream.truncate(2 << 30)
    assert not window.classifier.open_model(path)
    assert window.errors[-1].startswith("zeros.onnx was not opened: zeros.onnx is 2,048 MB")
