"""``--distribute``: MirroredStrategy over two logical CPU devices trains the tiny dataset, the
chief rule follows TF_CONFIG, and multi-worker without a cluster is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import TINY_EPOCHS, TINY_IMAGE_SIZE, run_trainer
from trainer.distribute import is_chief

ROOT = Path(__file__).resolve().parents[2]
TWO_CPU_DEVICES = """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from trainer.__main__ import main
    sys.exit(main(sys.argv[1:]))
"""


def train_on_two_cpu_devices(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess:
    """``python -m trainer ARGS`` with the CPU split into two logical devices (two replicas)."""
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TWO_CPU_DEVICES), *map(str, args)],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_mirrored_trains_the_tiny_dataset_on_two_replicas(
    tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = train_on_two_cpu_devices(
        "train", tiny_dataset_dir, "--out", run, "--backbone", "small_cnn",
        "--image-size", TINY_IMAGE_SIZE, "--epochs", TINY_EPOCHS, "--batch-size", 8,
        "--distribute", "mirrored",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((run / "history.json").read_text())
    assert history["options"]["distribute"] == "mirrored"
    assert history["options"]["batch_size"] == 16  # 8 per replica, two replicas
    report = json.loads((run / "report.json").read_text())
    assert report["accuracy"] >= 0.6
    assert (run / "model.onnx").is_file()


def test_multi_worker_without_a_cluster_is_one_line_and_exit_code_2(
    tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    result = run_trainer(
        "train", tiny_dataset_dir, "--out", tmp_path / "run", "--distribute", "multi-worker"
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "TF_CONFIG" in lines[0], result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("config", "chief"),
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker"}}, False),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief"}}, True),
    ],
)
def test_only_the_chief_writes_the_run(config: dict | None, chief: bool) -> None:
    assert is_chief(json.dumps(config) if config else None) is chief
