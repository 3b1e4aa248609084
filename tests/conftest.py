"""Session fixtures shared by every test package: a tiny labelled dataset and a model trained on it.

The model is trained by running ``python -m trainer train`` in a child process, exactly as the
desktop app does, so the test process itself never imports TensorFlow (desktop tests check that).
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import subprocess
import sys
from pathlib import Path

import pytest

from tests.imagegen import write_dataset

TINY_IMAGE_SIZE = 32
TINY_EPOCHS = 8
TINY_PER_CLASS = 20


def run_trainer(*args: str | os.PathLike[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m trainer ARGS`` in a child process; stdout and stderr captured as text."""
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "-m", "trainer", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three class folders (circle, square, triangle) of 20 small PNG/JPEG images each."""
    root = tmp_path_factory.mktemp("tiny_dataset")
    write_dataset(root, per_class=TINY_PER_CLASS, side=TINY_IMAGE_SIZE)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The finished child process that trained the tiny model (its JSON progress is on stdout)."""
    run_dir = tmp_path_factory.mktemp("tiny_run") / "run"
    result = run_trainer(
        "train", tiny_dataset_dir, "--out", run_dir, "--backbone", "small_cnn",
        "--image-size", TINY_IMAGE_SIZE, "--epochs", TINY_EPOCHS, "--batch-size", 16,
        "--flips", "off", "--progress", "json",
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"training the tiny model failed:\n{result.stderr[-4000:]}")
    return result, run_dir


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_run) -> Path:
    """A run folder trained on ``tiny_dataset_dir`` with small_cnn at 32 px: treat as read-only."""
    return tiny_run[1]


@pytest.fixture(scope="session")
def tiny_model_path(tiny_run_dir: Path) -> Path:
    """The tiny run's model.onnx (3 classes, 32 px input): treat as read-only."""
    return tiny_run_dir / "model.onnx"
