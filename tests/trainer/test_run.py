"""A real training run (the session's tiny model): its files, its ONNX model, its report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from PIL import Image

from tests.conftest import TINY_IMAGE_SIZE
from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT, ModelInfo, decode_for_model
from trainer.data import load_training_data
from trainer.split import read_split_csv

CLASSES = ["circle", "square", "triangle"]
REPORT_FIELDS = {
    "accuracy", "macro_f1", "per_class", "confusion_matrix", "misclassified", "skipped",
    "split_sizes", "timings", "parity", "classes",
}  # fmt: skip


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def images(folder: Path, count: int) -> np.ndarray:
    paths = sorted(folder.rglob("*.png"))[:count]
    return np.stack([decode_for_model(p, TINY_IMAGE_SIZE) for p in paths]).astype(np.float32)


def test_run_folder_holds_every_file(tiny_run_dir: Path) -> None:
    names = {"model.onnx", "model.keras", "report.json", "history.json", "split.csv"}
    assert names <= {p.name for p in tiny_run_dir.iterdir()}
    assert not [p for p in tiny_run_dir.iterdir() if ".tmp" in p.name]


def test_onnx_model_runs_any_batch_with_named_outputs(
    tiny_model_path: Path, tiny_dataset_dir: Path
) -> None:
    sess = session(tiny_model_path)
    (image,) = sess.get_inputs()
    assert image.name == INPUT_NAME and image.type == "tensor(float)"
    assert image.shape[1:] == [TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3]
    assert isinstance(image.shape[0], str)  # dynamic batch
    for count in (1, 5):
        probs, embedding = sess.run(
            [PROBS_OUTPUT, EMBEDDING_OUTPUT], {INPUT_NAME: images(tiny_dataset_dir, count)}
        )
        assert probs.shape == (count, 3) and embedding.shape[0] == count
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_metadata_names_classes_size_and_a_replaceable_head(
    tiny_model_path: Path, tiny_dataset_dir: Path
) -> None:
    model = onnx.load(tiny_model_path)
    info = ModelInfo.from_props({p.key: p.value for p in model.metadata_props})
    assert info.classes == CLASSES
    assert (info.input_size, info.backbone) == (TINY_IMAGE_SIZE, "small_cnn")
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    weight, bias = inits[info.extra["head_weight"]], inits[info.extra["head_bias"]]
    probs, embedding = session(tiny_model_path).run(
        [PROBS_OUTPUT, EMBEDDING_OUTPUT], {INPUT_NAME: images(tiny_dataset_dir, 6)}
    )
    logits = embedding @ weight + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), atol=1e-5)


def test_report_has_every_field_passes_parity_and_beats_chance(tiny_run_dir: Path) -> None:
    report = json.loads((tiny_run_dir / "report.json").read_text())
    assert set(report) >= REPORT_FIELDS
    assert report["classes"] == report["confusion_matrix"]["classes"] == CLASSES
    assert report["accuracy"] > 1 / 3 + 0.2 and report["macro_f1"] > 0.4
    assert set(report["per_class"]["circle"]) == {"precision", "recall", "f1", "support"}
    matrix = np.array(report["confusion_matrix"]["matrix"])
    assert matrix.sum() == report["split_sizes"]["test"]
    assert len(report["misclassified"]) == matrix.sum() - np.trace(matrix)
    assert sum(report["split_sizes"].values()) == 60
    assert report["parity"]["argmax_agree"] and report["parity"]["max_abs_diff"] < 1e-4
    assert report["parity"]["images"] == report["split_sizes"]["val"]
    assert {"train_seconds", "export_seconds", "evaluate_seconds"} <= set(report["timings"])


def test_split_csv_is_the_stable_split_of_data(tiny_run_dir: Path, tiny_dataset_dir: Path) -> None:
    rows = read_split_csv(tiny_run_dir / "split.csv")
    data = load_training_data(tiny_dataset_dir, TINY_IMAGE_SIZE)
    assert rows == sorted((s.rel, s.label, data.splits[s.rel]) for s in data.samples)


def test_json_progress_tells_the_whole_story(tiny_run) -> None:
    result, run_dir = tiny_run
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[-1] == "done" and "start" in kinds and "error" not in kinds
    start = events[kinds.index("start")]
    assert start["classes"] == CLASSES and start["image_size"] == TINY_IMAGE_SIZE
    epochs = [event for event in events if event["event"] == "epoch"]
    assert epochs and [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    for event in epochs:
        assert event["phase"] == "small_cnn" and event["epochs"] == start["epochs"]
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(event)
    assert events[-1]["run_dir"] == str(run_dir)
    assert events[-1]["report"] == json.loads((run_dir / "report.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["phases"]["small_cnn/scratch"]["loss"]) == len(epochs)


def test_report_says_how_the_model_was_made_and_how_well_calibrated(tiny_run_dir: Path) -> None:
    report = json.loads((tiny_run_dir / "report.json").read_text())
    recipe = report["recipe"]
    assert [c["backbone"] for c in recipe["plan"]["candidates"]] == ["small_cnn"]
    assert recipe["winner"] == "small_cnn" and "only candidate" in recipe["why"]
    assert recipe["flips"] == {
        "flips": False, "decided_by": "--flips off", "accuracy": None, "mirrored_accuracy": None,
    }  # fmt: skip
    assert report["options"]["image_size"] == TINY_IMAGE_SIZE
    calibration = report["calibration"]
    assert calibration["temperature"] == recipe["temperature"] > 0
    assert calibration["fitted_on"] == "val" and calibration["bins"] == 15
    assert 0 <= calibration["ece_after"] <= 1 and 0 <= calibration["ece_before"] <= 1
    assert sum(row["count"] for row in calibration["reliability"]) == report["split_sizes"]["test"]
    info = ModelInfo.from_props(
        {p.key: p.value for p in onnx.load(tiny_run_dir / "model.onnx").metadata_props}
    )
    assert info.extra["recipe"].startswith("small_cnn at 32 px")
    assert float(info.extra["temperature"]) == recipe["temperature"]


@pytest.mark.slow
def test_auto_recipe_races_two_candidates_and_keeps_the_better_on_validation(
    tmp_path: Path,
) -> None:
    """Greyscale photos are far from ImageNet's: small_cnn and EfficientNet both train."""
    import trainer

    rng = np.random.default_rng(0)
    for name, value in (("dark", 60), ("light", 190)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(value, 25, (72, 72)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "data" / name / f"{i}.png")

    report = trainer.train(
        tmp_path / "data", tmp_path / "run", epochs=1, fine_tune_epochs=1, batch_size=8
    )

    recipe = report["recipe"]
    tried = recipe["candidates"]
    assert [c["backbone"] for c in tried] == ["small_cnn", "efficientnet_lite0"]
    # 72 px rounds up to 96, within each backbone's largest size
    assert [c["image_size"] for c in tried] == [64, 96]
    best = max(tried, key=lambda c: (c["val_accuracy"], -c["val_loss"]))
    assert recipe["winner"] == best["backbone"] == report["backbone"]
    assert "best validation accuracy" in recipe["why"]
    assert recipe["flips"]["decided_by"] == "mirror test"
