"""The loop's menus and docks, and every refusal: a clear message and nothing else changes.

No model is trained here: a trainer error and a cancelled run are real child processes that end
before TensorFlow has done any work.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.core.training_run import TrainingRun, TrainSettings
from desktop.ui.curves import CurvesWidget, history_curves
from desktop.ui.loop import RUNS_SETTING, Loop
from desktop.ui.trainer_process import TrainerProcess
from desktop.ui.training_dialog import format_duration
from tests.imagegen import write_dataset


def loop_for(window) -> Loop:
    """The window's loop (the window builds it)."""
    return window.loop


@pytest.fixture
def loop(window, tmp_path: Path) -> Loop:
    window.settings.setValue(RUNS_SETTING, str(tmp_path / "runs"))
    loop = loop_for(window)
    yield loop
    loop.shutdown()


def models_in(window) -> int:
    with sqlite3.connect(window.session.path) as conn:
        return conn.execute("SELECT count(*) FROM models").fetchone()[0]


def run_folders(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "runs").rglob("*") if p.is_dir())


def run_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "runs").rglob("*") if p.is_file())


def label_folders(window, root: Path, wait_idle) -> None:
    """Add ``root`` and label each image with its folder's name, through the session."""
    window.answers = [False]  # do not import folder names: label through the session below
    window.ingest.add_paths([root])
    wait_idle(window)
    session = window.session
    for name in sorted({Path(t.path).parent.name for t in window.grid.tiles()}):
        session.add_class(name)
        record = session.project.class_by_name(name)
        ids = [t.image_id for t in window.grid.tiles() if Path(t.path).parent.name == name]
        session.label(ids, record.id)


def test_model_menu_and_docks_are_added(window, loop) -> None:
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles.index("Model") == titles.index("View") - 1
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    for name in ("Train", "Quick Retrain", "Evaluate", "Review"):
        assert window.actions[name] in model_menu.actions()
    assert {d.objectName() for d in window.docks} >= {
        "dock_loop_models",
        "dock_loop_evaluation",
        "dock_loop_review",
    }
    assert loop.models_panel.versions.rowCount() == 0
    assert "No model yet" in loop.models_panel.note.text()


@pytest.mark.parametrize("name", ["Quick Retrain", "Evaluate", "Review"])
def test_steps_that_need_a_model_say_so(window, loop, tmp_path, name) -> None:
    window.actions[name].trigger()
    assert window.errors == ["There is no model yet: train one (Model → Train…) or open one."]
    assert models_in(window) == 0
    assert not window.jobs.busy()
    assert run_folders(tmp_path) == []


def test_train_with_one_class_is_refused_and_leaves_no_run(
    window, loop, tmp_path, wait_idle
) -> None:
    write_dataset(tmp_path / "one", per_class=3, classes=("circle",))
    label_folders(window, tmp_path / "one", wait_idle)
    history = len(window.session.project.history())
    window.actions["Train"].trigger()
    assert loop.dialog.isVisible()
    assert not loop.dialog.start_training()
    assert window.errors == [
        "Cannot train yet: label images of at least two classes before training."
    ]
    assert loop.dialog.stage_label.text() == window.errors[-1]
    assert not loop.dialog.is_running() and loop.dialog.run is None
    assert run_folders(tmp_path) == []
    assert models_in(window) == 0
    assert len(window.session.project.history()) == history


def test_train_read_only_project_is_refused(window, loop, new_window, tmp_path) -> None:
    other = new_window(tmp_path / "second")
    other.session.open(tmp_path / "test.pigeonhole", read_only=True)
    other.settings.setValue(RUNS_SETTING, str(tmp_path / "runs"))
    other_loop = loop_for(other)
    assert not other_loop.dialog.start_training()
    assert other.errors == ["This project is open read-only, so no model can be added."]
    assert run_folders(tmp_path) == []
    other.shutdown()


def test_a_trainer_error_is_shown_with_its_message(qtbot, window, loop, tmp_path, wait_idle):
    write_dataset(tmp_path / "few", per_class=3, side=24)
    write_dataset(tmp_path / "few", per_class=1, side=24, classes=("star",))
    label_folders(window, tmp_path / "few", wait_idle)
    loop.dialog.set_options(TrainSettings(backbone="small_cnn", epochs=1))
    assert loop.dialog.start_training()
    qtbot.waitUntil(lambda: not loop.dialog.is_running(), timeout=120_000)
    assert loop.dialog.run.status == "failed"
    assert len(window.errors) == 1
    message = window.errors[0]
    assert message.startswith("Training failed: class 'star' has 1 readable image(s)")
    assert "each class needs at least" in message
    assert loop.dialog.train_button.isEnabled()
    assert models_in(window) == 0
    assert loop.models_panel.versions.rowCount() == 0


def test_cancel_kills_the_trainer_and_adds_no_version(qtbot, window, loop, tmp_path, wait_idle):
    write_dataset(tmp_path / "shapes", per_class=6, side=24)
    label_folders(window, tmp_path / "shapes", wait_idle)
    dialog = loop.dialog
    assert dialog.start_training()
    assert not dialog.train_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.run is not None, timeout=60_000)  # the manifest is written
    run_dir = dialog.run.run_dir
    qtbot.waitUntil(lambda: dialog.run.stage != "", timeout=60_000)  # the child is working
    assert not dialog.start_training()  # one run at a time
    assert window.errors == ["A training run is already going; wait for it or cancel it."]
    window.errors.clear()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert dialog.run.status == "cancelled"
    assert dialog.stage_label.text() == "Cancelled: no new version was added."
    assert not run_dir.exists()
    assert models_in(window) == 0
    assert window.errors == []
    assert loop.models_panel.versions.rowCount() == 0


def test_a_trainer_that_cannot_start_is_reported(qtbot, tmp_path) -> None:
    run = TrainingRun(tmp_path / "run")
    process = TrainerProcess(run, [str(tmp_path / "no-such-app"), "train"])
    with qtbot.waitSignal(process.ended, timeout=10_000):
        process.start()
    assert run.status == "failed"
    assert run.error.startswith(f"could not start the trainer ({tmp_path / 'no-such-app'})")
    assert not run.can_register()


def test_closing_the_window_stops_a_running_trainer(qtbot, window, loop, tmp_path, wait_idle):
    write_dataset(tmp_path / "shapes", per_class=6, side=24)
    label_folders(window, tmp_path / "shapes", wait_idle)
    assert loop.dialog.start_training()
    qtbot.waitUntil(lambda: loop.dialog.process is not None, timeout=60_000)
    window.close()
    assert not loop.dialog.is_running()
    assert loop.dialog.run.status == "cancelled"


def test_cancel_while_the_manifest_is_written_starts_nothing(
    qtbot, window, loop, tmp_path, wait_idle
) -> None:
    write_dataset(tmp_path / "shapes", per_class=6, side=24)
    label_folders(window, tmp_path / "shapes", wait_idle)
    dialog = loop.dialog
    assert dialog.start_training()
    assert dialog.is_running() and dialog.process is None  # still writing the list
    with qtbot.waitSignal(dialog.ended, timeout=60_000):
        dialog.cancel_training()
    assert not dialog.is_running() and dialog.process is None and dialog.run is None
    assert dialog.stage_label.text() == "Cancelled: no new version was added."
    assert dialog.train_button.isEnabled()
    assert run_files(tmp_path) == []  # the half-made run folder is removed
    assert models_in(window) == 0 and window.errors == []


def test_closing_the_window_while_the_manifest_is_written(window, loop, tmp_path, wait_idle):
    write_dataset(tmp_path / "shapes", per_class=6, side=24)
    label_folders(window, tmp_path / "shapes", wait_idle)
    assert loop.dialog.start_training()
    window.close()  # waits for the writing thread, then starts nothing
    assert not loop.dialog.is_running() and loop.dialog.process is None
    assert run_files(tmp_path) == []


def test_duration_and_curves_helpers(qtbot, tmp_path) -> None:
    assert [format_duration(s) for s in (4.4, 185, 3725)] == ["4 s", "3 min 05 s", "1 h 02 min"]
    history = tmp_path / "history.json"
    history.write_text(
        json.dumps(
            {
                "phases": {
                    "head": {"loss": [1.0, 0.5], "val_loss": [1.1, float("nan")]},
                    "fine_tune": {"loss": [0.4]},
                }
            }
        )
    )
    curves = history_curves(history)
    assert curves["loss"] == [1.0, 0.5, 0.4]
    assert curves["val_loss"] == [1.1, None, None]
    widget = CurvesWidget("Loss", ("loss", "val_loss"))
    qtbot.addWidget(widget)
    widget.set_series(curves)
    assert widget.points() == 3
    assert not widget.grab().isNull()  # paints without error
    history.write_text("[]")
    with pytest.raises(ValueError, match="no training phases"):
        history_curves(history)
