"""Export from a run folder: re-export works, a failed parity check writes nothing, and the
training pipeline feeds the model exactly the contract's pixels.

These need TensorFlow, so they run in child processes: the test process stays TensorFlow-free.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_IMAGE_SIZE, run_trainer


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    import os

    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | env,
        check=False,
    )


def test_export_run_dir_rewrites_model_and_report(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = shutil.copytree(tiny_run_dir, tmp_path / "run")
    (run / "model.onnx").unlink()
    result = run_trainer("export", run, "--progress", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["event"] == "done"
    report = json.loads((run / "report.json").read_text())
    assert report["parity"]["passed"] and (run / "model.onnx").stat().st_size > 0


def test_failed_parity_check_writes_nothing(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = shutil.copytree(tiny_run_dir, tmp_path / "run")
    before = (run / "model.onnx").read_bytes()
    code = f"""
import keras, numpy as np, trainer
from pathlib import Path

import pytest
from trainer.contract import ModelInfo
from trainer.export import export_onnx
run = Path({str(run)!r})
model = keras.saving.load_model(run / "model.keras")
images = np.zeros((2, {TINY_IMAGE_SIZE}, {TINY_IMAGE_SIZE}, 3), np.float32)
info = ModelInfo(["circle", "square", "triangle"], {TINY_IMAGE_SIZE}, "small_cnn", "0")
try:
    export_onnx(model, info, images, run, tolerance=-1.0)
except trainer.TrainerError as exc:
    print("refused:", exc)
"""
    result = run_python(code)
    assert "refused: the ONNX export disagrees with Keras" in result.stdout, result.stderr
    assert "model.onnx was not written" in result.stdout
    assert (run / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in tiny_run_dir.iterdir())


def test_training_pipeline_pixels_are_the_contract_pixels(tiny_dataset_dir: Path) -> None:
    code = f"""
import numpy as np
from pathlib import Path

import pytest
from trainer.contract import decode_for_model
from trainer.data import load_training_data, tf_dataset
data = load_training_data(Path({str(tiny_dataset_dir)!r}), {TINY_IMAGE_SIZE})
samples = data.samples[:10]
batches = list(tf_dataset(samples, data.classes, {TINY_IMAGE_SIZE}, 4).as_numpy_iterator())
images = np.concatenate([b[0] for b in batches]); labels = np.concatenate([b[1] for b in batches])
expected = np.stack([decode_for_model(s.path, {TINY_IMAGE_SIZE}) for s in samples])
assert images.dtype == np.float32 and np.array_equal(images, expected.astype(np.float32))
assert labels.tolist() == [data.classes.index(s.label) for s in samples]
print("identical")
"""
    result = run_python(code)
    assert result.stdout.strip() == "identical", result.stderr[-3000:]


def test_cached_and_streamed_pipelines_give_the_same_images_reshuffled(
    tiny_dataset_dir: Path,
) -> None:
    """Small sets keep their decoded uint8 pixels; larger ones shuffle paths and decode each
    epoch. Both must give every image once per epoch, in a new order each epoch."""
    code = f"""
import numpy as np
from pathlib import Path

import pytest
import trainer.data as td
data = td.load_training_data(Path({str(tiny_dataset_dir)!r}), {TINY_IMAGE_SIZE})
samples = data.samples[:24]

def epochs(limit):
    td.CACHE_LIMIT_BYTES = limit
    ds = td.tf_dataset(samples, data.classes, {TINY_IMAGE_SIZE}, 4, shuffle_seed=1)
    out = []
    for _ in range(2):
        images = np.concatenate([b[0] for b in ds.as_numpy_iterator()])
        out.append(sorted(map(bytes, images.astype(np.uint8).reshape(len(images), -1))))
        out.append([float(i.sum()) for i in images])
    return out

cached, streamed = epochs(1 << 30), epochs(0)
assert cached[0] == cached[2] == streamed[0] == streamed[2]  # the same images every epoch
assert cached[1] != cached[3] and streamed[1] != streamed[3]  # in a new order each epoch
print("same images, reshuffled")
"""
    result = run_python(code)
    assert result.stdout.strip() == "same images, reshuffled", result.stderr[-3000:]


ALLOWED_OPERATORS_CODE = """
import json
from trainer.export import convert
from trainer.models import build_classifier, export_view
classifier = build_classifier("efficientnet_lite0", 96, 4, pretrained=False)
proto = convert(export_view(classifier.model), 96)
print(json.dumps(sorted({(node.domain, node.op_type) for node in proto.graph.node})))
"""


@pytest.mark.slow
def test_efficientnet_export_uses_only_operators_the_app_accepts() -> None:
    """The desktop app refuses operators outside its allow-list; the tiny model covers
    small_cnn, this covers the other backbone (conversion only: no training needed)."""
    from desktop.core.model_bounds import EXPORTED_OPERATORS

    result = run_python(ALLOWED_OPERATORS_CODE)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found and all(domain == "" for domain, _ in found)
    assert {op for _, op in found} <= EXPORTED_OPERATORS
