"""The command line as the desktop app uses it: a child process, exit codes, one-line errors,
JSON progress, and a package whose import stays free of TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_trainer
from tests.imagegen import write_dataset


def test_import_trainer_does_not_import_tensorflow() -> None:
    code = (
        "import sys, trainer, trainer.contract, trainer.data, trainer.split, trainer.progress\n"
        "try:\n"
        "    trainer.train('/nonexistent/data', '/nonexistent/out')\n"
        "except trainer.TrainerError:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    manifest = tmp_path / "labels.csv"
    manifest.write_text("file,class\na.png,cat\n", encoding="utf-8")
    result = run_trainer("train", manifest, "--out", tmp_path / "run")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        "error: labels.csv lacks column(s) path, label: its first row must name the columns "
        "path,label (it has: file, class)"
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_json_progress_reports_the_error_as_an_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(data, per_class=3, side=16, classes=["circle", "square"])
    write_dataset(data, per_class=1, side=16, classes=["triangle"])
    result = run_trainer("train", data, "--out", tmp_path / "run", "--progress", "json")
    assert result.returncode == 2
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["event"] == "error"
    assert "class 'triangle' has 1 readable image(s)" in events[-1]["message"]
    assert "Traceback" not in result.stderr


def test_export_of_a_folder_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    result = run_trainer("export", tmp_path)
    assert result.returncode == 2
    assert "has no history.json: give a folder made by `trainer train`" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_backbone_is_refused_by_argparse(tmp_path: Path) -> None:
    result = run_trainer("train", tmp_path, "--out", tmp_path / "run", "--backbone", "resnet")
    assert result.returncode == 2
    assert "invalid choice: 'resnet'" in result.stderr


def test_patience_is_passed_through_and_checked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(data, per_class=3, side=16)
    result = run_trainer("train", data, "--out", tmp_path / "run", "--patience", "0")
    assert result.returncode == 2
    assert "error: --patience must be at least 1" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_fifo_named_like_a_csv_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO blocks until someone writes to it: the trainer must not even try."""
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    try:
        result = run_trainer("train", fifo, "--out", tmp_path / "run", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the trainer hung opening a FIFO named data.csv")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        f"error: {fifo} is not a regular file (a pipe or device?): give a folder of class "
        "folders or a CSV manifest (path,label)"
    ]
    assert not (tmp_path / "run").exists()
