"""Training on several GPUs or machines with ``tf.distribute``, kept apart from the recipe.

``mirrored`` copies the model onto every GPU of this machine (or every logical CPU device, when
some were configured, which is how the tests and benchmarks exercise it without GPUs);
``multi-worker`` reads the cluster from ``TF_CONFIG`` as TensorFlow documents it. The recipe runs
unchanged inside ``strategy_scope``: Keras builds, compiles and fits under the strategy it finds
there. ``--batch-size`` is per replica; the global batch is that times the number of replicas,
as in TensorFlow's distributed-training guide. Only the chief writes the run folder: the other
workers train in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from trainer.errors import TrainerError
from trainer.progress import Progress

if TYPE_CHECKING:
    from trainer.data import TrainingData
    from trainer.options import TrainOptions

DISTRIBUTE_CHOICES = ("none", "mirrored", "multi-worker")


@dataclass(frozen=True)
class Replicas:
    """How many copies of the model train in step, and whether this process writes the run."""

    count: int = 1
    chief: bool = True


@contextmanager
def strategy_scope(kind: str) -> Iterator[Replicas]:
    """Enter the strategy named ``kind`` for everything the recipe builds, compiles and fits."""
    if kind not in DISTRIBUTE_CHOICES:
        raise TrainerError(f"unknown --distribute '{kind}'; choose {', '.join(DISTRIBUTE_CHOICES)}")
    if kind == "none":
        yield Replicas()
        return
    strategy = _strategy(kind)
    with strategy.scope():
        yield Replicas(strategy.num_replicas_in_sync, chief=is_chief(os.environ.get("TF_CONFIG")))


def _strategy(kind: str) -> Any:  # a tf.distribute.Strategy; TensorFlow is imported late
    import tensorflow as tf

    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=mirrored_devices(tf))
    check_environment(kind)
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_environment(kind: str) -> None:
    """Refuse ``multi-worker`` without a usable TF_CONFIG before any data is read."""
    if kind != "multi-worker":
        return
    config = _tf_config(os.environ.get("TF_CONFIG"))
    if not config.get("cluster") or not isinstance(config.get("task"), dict):
        raise TrainerError(
            "--distribute multi-worker needs TF_CONFIG with a cluster and this worker's task "
            '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}})'
        )


def mirrored_devices(tf: ModuleType) -> list[str]:
    """Every GPU; without GPUs, every logical CPU device (one unless more were configured)."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def is_chief(tf_config: str | None) -> bool:
    """The chief is task "chief", or worker 0 when the cluster names no chief (TF's rule)."""
    config = _tf_config(tf_config)
    task = config.get("task") or {}
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind == "chief":
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return kind == "worker" and index == 0 and not has_chief


def _tf_config(text: str | None) -> dict:
    if not text:
        return {}
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise TrainerError(f"TF_CONFIG is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise TrainerError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return config


def run_distributed(
    recipe: Callable[..., dict[str, Any]],
    data: TrainingData,
    out: Path,
    options: TrainOptions,
    progress: Progress,
    scan_seconds: float,
) -> dict[str, Any]:
    """Run ``recipe`` (``train_and_export``) under ``options.distribute``; return its report.

    The global batch is ``--batch-size`` times the replicas; only the chief writes ``out``.
    """
    with strategy_scope(options.distribute) as replicas:
        scaled = replace(options, batch_size=options.batch_size * replicas.count)
        if replicas.chief:
            return recipe(data, out, scaled, progress, scan_seconds)
        scratch = Path(tempfile.mkdtemp(prefix="pigeonhole-worker-"))
        try:
            return recipe(data, scratch / "run", scaled, Progress(), scan_seconds)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def even_batch(batch: int, examples: int) -> int:
    """``batch``, or less when a split smaller than one batch would not divide over the replicas.

    Keras 3 builds a distributed model from its first batch averaged across replicas, which fails
    when that batch is the whole (small) split and its replicas get different numbers of images.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1 or examples >= batch:
        return batch
    return max(replicas, examples - examples % replicas)
