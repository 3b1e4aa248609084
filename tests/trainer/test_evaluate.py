"""Evaluating an exported model with ONNX Runtime alone, on any labelled data."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from tests.conftest import run_trainer
from tests.imagegen import write_dataset
from trainer.errors import TrainerError
from trainer.evaluate import evaluate_data


def test_cli_evaluate_writes_the_same_report_format(
    tiny_model_path: Path, tiny_dataset_dir: Path, tiny_run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval" / "report.json"
    result = run_trainer("evaluate", tiny_model_path, tiny_dataset_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    trained = json.loads((tiny_run_dir / "report.json").read_text())
    about_training = ("backbone", "image_size", "trainer_version", "recipe", "options")
    assert {key for key in trained if key not in about_training} <= set(report)
    assert report["calibration"]["temperature"] == trained["calibration"]["temperature"]
    assert report["split_sizes"]["evaluated"] == 60
    assert report["accuracy"] > 1 / 3 + 0.2


def test_test_split_evaluation_matches_the_training_report(
    tiny_model_path: Path, tiny_dataset_dir: Path, tiny_run_dir: Path
) -> None:
    report = evaluate_data(tiny_model_path, tiny_dataset_dir, split="test")
    trained = json.loads((tiny_run_dir / "report.json").read_text())
    assert report["confusion_matrix"] == trained["confusion_matrix"]
    assert report["misclassified"] == trained["misclassified"]


def test_unknown_class_in_data_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", per_class=2, side=16, classes=["circle", "dog"])
    with pytest.raises(TrainerError, match="classes the model does not know: dog"):
        evaluate_data(tiny_model_path, tmp_path / "data")


def test_a_file_that_is_not_a_model_exits_2(tiny_dataset_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    out = tmp_path / "report.json"
    result = run_trainer("evaluate", fake, tiny_dataset_dir, "--out", out)
    assert result.returncode == 2
    assert "ONNX Runtime cannot load" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_model_without_metadata_is_refused(
    tiny_model_path: Path, tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    model = onnx.load(tiny_model_path)
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, bare)
    with pytest.raises(TrainerError, match="no Pigeonhole class names"):
        evaluate_data(bare, tiny_dataset_dir)
