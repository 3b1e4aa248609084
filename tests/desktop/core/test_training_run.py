"""Train from the app without a window: manifest, command, progress lines, ETA, registration.

Progress lines are written by the trainer's own JsonLinesProgress, so the parser is tested
against what the trainer really prints.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.core.store import Project
from desktop.core.training_run import (
    TrainingRun,
    TrainingRunError,
    TrainSettings,
    estimate_eta,
    new_run_dir,
    parse_progress_line,
    prepare_run,
    register_run,
    trainer_command,
)
from tests.desktop.core.head_models import build_head_model
from trainer.data import list_labelled_files
from trainer.progress import JsonLinesProgress

REPORT = {"accuracy": 0.75, "macro_f1": 0.7}


def trainer_lines(*, finish: str = "done", epochs: int = 3, run_dir: str = "run") -> list[str]:
    """What `python -m trainer train --progress json` prints for a short run."""
    out = io.StringIO()
    progress = JsonLinesProgress(out)
    progress.stage("scanning")
    progress.start(backbone="small_cnn", classes=["a", "b"], epochs=epochs, fine_tune_epochs=2)
    progress.stage("training")
    for epoch in range(1, epochs + 1):
        progress.epoch(
            epoch=epoch, epochs=epochs, phase="head", loss=1.0 / epoch, accuracy=0.5 + epoch / 10,
            val_loss=float("nan") if epoch == 1 else 1.2 / epoch, val_accuracy=0.5, seconds=10.0,
        )  # fmt: skip
    if finish == "done":
        progress.done(run_dir, REPORT)
    elif finish == "error":
        progress.error("class 'b' has fewer than 2 readable images: add some")
    return ["2026-01-01 W tensorflow noise\n", *out.getvalue().splitlines(keepends=True)]


def test_command_from_source_and_when_frozen(tmp_path: Path) -> None:
    settings = TrainSettings(backbone="small_cnn", epochs=3, fine_tune_epochs=0, image_size=32)
    source = trainer_command(tmp_path / "m.csv", tmp_path / "run", settings, frozen=False)
    assert source[:4] == [sys.executable, "-m", "trainer", "train"]
    assert source[4:7] == [str(tmp_path / "m.csv"), "--out", str(tmp_path / "run")]
    assert source[-2:] == ["--progress", "json"]
    assert "--image-size" in source and "--batch-size" not in source
    frozen = trainer_command(
        tmp_path / "m.csv", tmp_path / "run", settings, frozen=True, executable="/opt/P/pigeonhole"
    )
    assert frozen[:2] == ["/opt/P/pigeonhole", "train"]
    assert frozen[2:] == source[4:]


def test_progress_lines_are_parsed_and_noise_ignored() -> None:
    assert parse_progress_line("Epoch 1/3 ━━━━━ loss 0.3") is None
    assert parse_progress_line("{not json") is None
    assert parse_progress_line('{"no": "event"}') is None
    event = parse_progress_line(b'{"event": "epoch", "epoch": 2, "loss": 0.5}\n')
    assert event is not None and event.kind == "epoch" and event.fields == {"epoch": 2, "loss": 0.5}


def test_a_finished_run_has_curves_and_report(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path)
    for line in trainer_lines():
        run.feed(line)
    assert run.status == "done"
    assert run.stage == "training"
    assert run.report == REPORT
    curves = run.curves()
    assert curves["loss"] == pytest.approx([1.0, 0.5, 1.0 / 3])
    assert curves["val_loss"][0] is None  # NaN came through as null
    assert run.planned_epochs() == 5


def test_eta_counts_the_fine_tune_phase_still_to_come(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path)
    for line in trainer_lines(finish="none", epochs=4)[:5]:  # noise, stage, start, stage, epoch 1
        run.feed(line)
    # 3 head epochs and 2 fine-tune epochs left at 10 s each, 4 s of the next already spent.
    assert run.eta_seconds(since_last_epoch=4.0) == pytest.approx(46.0)
    fine = [{"epoch": 1, "epochs": 2, "phase": "head", "seconds": 10.0},
            {"epoch": 1, "epochs": 3, "phase": "fine_tune", "seconds": 40.0}]  # fmt: skip
    assert estimate_eta(fine, planned=5) == pytest.approx(2 * 25.0)  # head stopped early
    assert estimate_eta([], planned=5) is None


def test_errors_and_crashes_are_failures_with_a_message(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path)
    for line in trainer_lines(finish="error"):
        run.feed(line)
    run.finished(2)
    assert run.status == "failed"
    assert "fewer than 2 readable images" in run.error

    crashed = TrainingRun(tmp_path)
    for line in trainer_lines(finish="none"):
        crashed.feed(line)
    crashed.finished(-9, "Traceback...\nMemoryError: out of memory\n")
    assert crashed.status == "failed"
    assert crashed.error == "the trainer exited with code -9: MemoryError: out of memory"


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        yield opened


def finished_run(run_dir: Path, finish: str = "done") -> TrainingRun:
    build_head_model(run_dir / "model.onnx", ["a", "b"])
    (run_dir / "report.json").write_text(json.dumps(REPORT))
    run = TrainingRun(run_dir)
    for line in trainer_lines(finish=finish, run_dir=str(run_dir)):
        run.feed(line)
    return run


def test_a_done_run_becomes_a_version(project: Project, tmp_path: Path) -> None:
    run_dir = new_run_dir(tmp_path / "runs")
    run = finished_run(run_dir)
    model_id = register_run(project, run, n_labels=40)
    record = project.model(model_id)
    assert Path(record.path) == run_dir / "model.onnx"
    assert record.classes == ["a", "b"]
    assert record.metrics["accuracy"] == 0.75 and record.metrics["macro_f1"] == 0.7
    assert record.n_labels == 40
    assert project.current_model_id() == model_id


def test_cancelled_failed_or_modelless_runs_register_nothing(
    project: Project, tmp_path: Path
) -> None:
    cancelled = finished_run(new_run_dir(tmp_path / "runs"), finish="none")
    cancelled.cancel()
    failed = finished_run(new_run_dir(tmp_path / "runs"), finish="error")
    no_model = finished_run(new_run_dir(tmp_path / "runs"))
    (no_model.run_dir / "model.onnx").unlink()
    for run in (cancelled, failed, no_model):
        assert register_run(project, run, n_labels=10) is None
    assert project.models() == []


def test_prepared_run_has_a_manifest_the_trainer_reads(project: Project, tmp_path: Path) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    pairs = []
    for i, label in enumerate(["cat", "cat", "dog", "dog"]):
        path = images / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(path)
        pairs.append((path, label))
    project.import_labels(pairs, create_classes=True)

    prepared = prepare_run(project, TrainSettings(backbone="small_cnn"), tmp_path / "runs")

    assert prepared.n_labels == 4
    assert prepared.manifest.parent == prepared.run_dir
    assert prepared.command[-2:] == ["--progress", "json"]
    _, samples, classes, _ = list_labelled_files(prepared.manifest)
    assert classes == ["cat", "dog"]
    # Absolute paths outside the run folder: the split key is the image's own path.
    assert sorted(s.rel for s in samples) == sorted(p.as_posix() for p, _ in pairs)


def test_training_one_class_is_refused_before_anything_is_written(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "1.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    project.import_labels([(path, "cat")], create_classes=True)
    with pytest.raises(TrainingRunError, match="at least two classes"):
        prepare_run(project, TrainSettings(), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_run_folders_are_unique(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, now=0.0)
    second = new_run_dir(tmp_path, now=0.0)
    assert first != second and first.is_dir() and second.is_dir()


def test_the_real_trainers_output_registers_its_run(project: Project, tiny_run) -> None:
    """The session fixture ran `python -m trainer train --progress json` as a child process."""
    result, run_dir = tiny_run
    run = TrainingRun(run_dir)
    for line in result.stdout.splitlines():
        run.feed(line)
    run.finished(result.returncode)
    assert run.status == "done"
    assert run.curves()["loss"] and all(v is not None for v in run.curves()["loss"])
    model_id = register_run(project, run, n_labels=60)
    assert project.model(model_id).metrics["accuracy"] == run.report["accuracy"]


@pytest.mark.slow
def test_cancel_stops_the_child_and_registers_nothing(
    project: Project, tmp_path: Path, tiny_dataset_dir: Path
) -> None:
    project.import_labels(
        [(path, path.parent.name) for path in sorted(tiny_dataset_dir.glob("*/*.*"))],
        create_classes=True,
    )
    settings = TrainSettings(backbone="small_cnn", epochs=200, image_size=32, batch_size=16)
    prepared = prepare_run(project, settings, tmp_path / "runs")
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    child = subprocess.Popen(
        prepared.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    run = TrainingRun(prepared.run_dir, settings)
    try:
        for line in child.stdout:
            event = run.feed(line)
            if event is not None and event.kind == "epoch":
                break
        assert run.status == "running" and run.eta_seconds() is not None
        run.cancel()
        child.kill()
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert run.status == "cancelled"
    assert register_run(project, run, prepared.n_labels) is None
    assert project.models() == []
