"""Pigeonhole's trainer: labelled images in, a verified ONNX model and its report out.

``import trainer`` stays light (no TensorFlow) so the desktop app can import ``trainer.contract``
and start training as a child process. ``train`` checks the options and the data first and only
then imports TensorFlow, so bad input fails in a moment with a message that says what to fix.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from trainer.errors import TrainerError

__version__ = "0.1.0"
__all__ = ["TrainerError", "__version__", "train"]


def train(
    data: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any
) -> dict[str, Any]:
    """Train on DATA (class folders or a path,label CSV), fill RUN_DIR ``out``, return the report.

    Options are the fields of ``trainer.options.TrainOptions`` (backbone, image_size, epochs,
    fine_tune_epochs, batch_size, seed, ...) plus ``progress``, a ``trainer.progress.Progress``.
    Raises TrainerError for bad input or a model that fails its export check.
    """
    from trainer.data import load_training_data
    from trainer.options import TrainOptions
    from trainer.plan import MIN_SIZE, batch_size_for
    from trainer.progress import Progress
    from trainer.split import GROUPS_FILE, write_groups_csv

    progress = options.pop("progress", None) or Progress()
    settings = TrainOptions.from_kwargs(options)
    out = Path(out)
    _check_out_dir(out)
    progress.stage("scanning")
    started = time.perf_counter()
    # Readability does not depend on the size; the plan picks the size once the data is known.
    dataset = load_training_data(Path(data), settings.image_size or MIN_SIZE)
    scan_seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_groups_csv(out / GROUPS_FILE, dataset.groups)
    settings = batch_size_for(settings, len(dataset.part("train")))

    from trainer.distribute import run_distributed
    from trainer.recipe import train_and_export  # TensorFlow is imported here, not before.

    return run_distributed(train_and_export, dataset, out, settings, progress, scan_seconds)


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise TrainerError(f"--out {out} is a file; give a folder for the run (it is created)")
