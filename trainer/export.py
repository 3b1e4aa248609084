"""Keras model -> model.onnx with Pigeonhole metadata, written only after a parity check.

tf2onnx converts the three-output view of the model (``probs``, ``embedding``, ``feature_map``).
Before the file is written, ONNX Runtime and Keras run the same real validation images: the
predicted classes must agree and the probabilities differ by less than PARITY_TOLERANCE, or nothing
is written (the embedding's and feature map's largest differences are reported beside them). The
file appears under a temporary name first and is renamed, so no half-written model.onnx exists.
``export_run`` then evaluates the written model on the test split and writes report.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx
from onnx import helper, numpy_helper

import trainer
from trainer.calibration import calibration_summary
from trainer.contract import (
    EMBEDDING_OUTPUT,
    FEATURE_MAP_OUTPUT,
    INPUT_NAME,
    PROBS_OUTPUT,
    ModelInfo,
)
from trainer.data import Sample, keep_readable, read_images
from trainer.errors import TrainerError
from trainer.evaluate import (
    classification_report,
    open_session,
    predict,
    predict_samples,
    write_json,
)
from trainer.files import replacing
from trainer.models import HEAD_LAYER, export_view
from trainer.progress import Progress
from trainer.split import (
    GROUPS_FILE,
    SPLIT_FILE,
    SPLITS,
    merged_groups,
    read_groups_csv,
    read_split_csv,
)

ONNX_FILE, KERAS_FILE, REPORT_FILE = "model.onnx", "model.keras", "report.json"
HISTORY_FILE = "history.json"
OPSET = 17
PARITY_TOLERANCE = 1e-4
PARITY_IMAGES = 256
"""At most this many validation images are run through both runtimes."""
HEAD_WEIGHT_KEY, HEAD_BIAS_KEY = "head_weight", "head_bias"


@dataclass(frozen=True)
class Parity:
    """How closely ONNX Runtime reproduces Keras on real validation images."""

    images: int
    max_abs_diff: float
    argmax_agree: bool
    embedding_max_abs_diff: float
    tolerance: float
    feature_map_max_abs_diff: float = 0.0

    @property
    def passed(self) -> bool:
        return self.argmax_agree and self.max_abs_diff < self.tolerance


def export_run(
    run_dir: Path, model: keras.Model | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """(Re-)export RUN_DIR's model, evaluate it on the test split, write report.json, return it."""
    progress = progress or Progress()
    record = _read_history(run_dir)
    if model is None:
        model = _load_keras(run_dir / KERAS_FILE)
    classes, options = record["classes"], record["options"]
    size = int(options["image_size"])
    parts, gone = _split_samples(run_dir, Path(record["data_root"]), size)

    progress.stage("exporting")
    started = time.perf_counter()
    info = ModelInfo(
        classes, size, options["backbone"], trainer.__version__, extra=recipe_props(record)
    )
    parity = export_onnx(model, info, read_images(parts["val"][:PARITY_IMAGES], size), run_dir)
    export_seconds = time.perf_counter() - started

    progress.stage("evaluating")
    started = time.perf_counter()
    evaluated_on = "test" if parts["test"] else "val"
    samples = parts[evaluated_on]
    session = open_session(run_dir / ONNX_FILE)
    probs = predict_samples(session, samples, size)
    report = classification_report(classes, samples, probs)
    recipe = record.get("recipe", {})
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[s.label] for s in samples], dtype=np.int64)
    report.update(
        recipe=recipe,
        options=options,
        calibration=calibration_summary(
            probs,
            labels,
            float(recipe.get("temperature", 1.0)),
            fitted_on=str(recipe.get("calibrated_on", "nothing (an older run)")),
            fitted_n=len(parts["val"]),
        )
        | {"evaluated_on": evaluated_on},
        classes=classes,
        backbone=options["backbone"],
        image_size=size,
        evaluated_on=evaluated_on,
        skipped=record["skipped"] + [item.as_dict() for item in gone],
        split_sizes={name: len(parts[name]) for name in SPLITS},
        duplicate_groups=merged_groups(read_groups_csv(run_dir / GROUPS_FILE)),
        timings=record["timings"]
        | {
            "export_seconds": round(export_seconds, 3),
            "evaluate_seconds": round(time.perf_counter() - started, 3),
        },
        parity=asdict(parity) | {"passed": parity.passed},
        trainer_version=trainer.__version__,
    )
    write_json(run_dir / REPORT_FILE, report)
    progress.done(str(run_dir), report)
    return report


def recipe_props(record: dict[str, Any]) -> dict[str, str]:
    """What made this model, for the app's Models dock: the recipe in one line, and T."""
    recipe = record.get("recipe") or {}
    options = record["options"]
    flips = (recipe.get("flips") or {}).get("flips")
    summary = (
        f"{options['backbone']} at {options['image_size']} px"
        + (f", {recipe['why']}" if recipe.get("why") else "")
        + ("" if flips is None else f"; flips {'on' if flips else 'off'}")
    )
    return {"recipe": summary, "temperature": str(recipe.get("temperature", 1.0))}


def export_onnx(
    model: keras.Model,
    info: ModelInfo,
    val_images: np.ndarray,
    run_dir: Path,
    tolerance: float = PARITY_TOLERANCE,
) -> Parity:
    """Convert, check parity on ``val_images``, then write RUN_DIR/model.onnx; else raise."""
    if len(val_images) == 0:
        raise TrainerError("no readable validation images to check the exported model against")
    view = export_view(model)
    proto = convert(view, info.input_size)
    weight_name, bias_name = head_initializers(proto, model.get_layer(HEAD_LAYER))
    extra = {HEAD_WEIGHT_KEY: weight_name, HEAD_BIAS_KEY: bias_name}
    props = ModelInfo(**{**asdict(info), "extra": info.extra | extra}).to_props()
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    parity = check_parity(view, data, val_images, tolerance)
    if not parity.passed:
        raise TrainerError(
            f"the ONNX export disagrees with Keras on {parity.images} validation images "
            f"(max |diff| {parity.max_abs_diff:.2e}, tolerance {tolerance:.0e}, same classes: "
            f"{parity.argmax_agree}); model.onnx was not written. Please report this"
        )
    with replacing(run_dir / ONNX_FILE) as tmp:
        tmp.write_bytes(data)
    return parity


def convert(view: keras.Model, image_size: int) -> onnx.ModelProto:
    """tf2onnx's conversion with input ``image`` [batch, S, S, 3] and outputs probs, embedding
    and feature_map [batch, h, w, D]."""
    spec = (tf.TensorSpec((None, image_size, image_size, 3), tf.float32, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(view, input_signature=spec, opset=OPSET)
    outputs = [output.name for output in proto.graph.output]
    if outputs[:2] != [PROBS_OUTPUT, EMBEDDING_OUTPUT] or proto.graph.input[0].name != INPUT_NAME:
        raise TrainerError(f"tf2onnx named the model's outputs {outputs}; please report this")
    if len(outputs) != 3:
        raise TrainerError(f"tf2onnx gave the model outputs {outputs}; please report this")
    _name_feature_map(proto)
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def _name_feature_map(proto: onnx.ModelProto) -> None:
    """tf2onnx names the third output after the layer that made it (``block2_pool``, the
    backbone's name); an Identity gives it the contract's name and leaves the graph as it was."""
    output = proto.graph.output[2]
    if output.name == FEATURE_MAP_OUTPUT:
        return
    proto.graph.node.append(
        helper.make_node("Identity", [output.name], [FEATURE_MAP_OUTPUT], name="feature_map_out")
    )
    output.name = FEATURE_MAP_OUTPUT


def head_initializers(proto: onnx.ModelProto, head: keras.layers.Dense) -> tuple[str, str]:
    """Names of the head's weight and bias initializers: probs = Softmax(embedding @ W + b).

    tf2onnx drops an all-zero bias; then we add one, so the app can always replace both.
    """
    nodes = {output: node for node in proto.graph.node for output in node.output}
    inits = {init.name: init for init in proto.graph.initializer}
    softmax = nodes[PROBS_OUTPUT]
    below = nodes.get(softmax.input[0])
    if below is not None and below.op_type == "MatMul":
        below = _add_zero_bias(proto, below, softmax, head.units)
        inits = {init.name: init for init in proto.graph.initializer}
    matmul = nodes.get(below.input[0]) if below is not None and below.op_type == "Add" else None
    if softmax.op_type != "Softmax" or matmul is None or matmul.op_type != "MatMul":
        raise TrainerError("the exported head is not Softmax(MatMul + Add); please report this")
    if matmul.input[0] != EMBEDDING_OUTPUT:
        raise TrainerError("the exported head does not read the embedding; please report this")
    weight_name = matmul.input[1]
    bias_name = next(name for name in below.input if name in inits)
    weight = numpy_helper.to_array(inits[weight_name])
    bias = numpy_helper.to_array(inits[bias_name])
    if not np.array_equal(weight, head.kernel.numpy()) or not np.array_equal(
        bias.reshape(-1), head.bias.numpy()
    ):
        raise TrainerError("the exported head's weights differ from Keras'; please report this")
    return weight_name, bias_name


def _add_zero_bias(
    proto: onnx.ModelProto, matmul: onnx.NodeProto, softmax: onnx.NodeProto, units: int
) -> onnx.NodeProto:
    """Insert ``+ 0`` between the head's MatMul and the Softmax; return the new Add node."""
    bias = numpy_helper.from_array(np.zeros(units, np.float32), name="pigeonhole/head_bias")
    proto.graph.initializer.append(bias)
    summed = matmul.output[0] + "/with_bias"
    add = helper.make_node("Add", [matmul.output[0], bias.name], [summed], name="head_bias_add")
    softmax.input[0] = summed
    position = list(proto.graph.node).index(softmax)
    proto.graph.node.insert(position, add)
    return add


def check_parity(
    view: keras.Model, onnx_bytes: bytes, images: np.ndarray, tolerance: float
) -> Parity:
    """Run the same images through Keras and ONNX Runtime and compare the outputs."""
    keras_probs, keras_embedding, keras_features = view.predict(images, batch_size=32, verbose=0)
    session = open_session(onnx_bytes)
    onnx_probs, onnx_embedding = predict(session, images)
    onnx_features = np.concatenate(
        [
            session.run([FEATURE_MAP_OUTPUT], {INPUT_NAME: images[start : start + 32]})[0]
            for start in range(0, len(images), 32)
        ]
    )
    return Parity(
        images=len(images),
        max_abs_diff=float(np.max(np.abs(keras_probs - onnx_probs))),
        argmax_agree=bool(np.array_equal(keras_probs.argmax(1), onnx_probs.argmax(1))),
        embedding_max_abs_diff=float(np.max(np.abs(keras_embedding - onnx_embedding))),
        tolerance=tolerance,
        feature_map_max_abs_diff=float(np.max(np.abs(keras_features - onnx_features))),
    )


def _read_history(run_dir: Path) -> dict[str, Any]:
    path = run_dir / HISTORY_FILE
    if not path.is_file():
        raise TrainerError(
            f"{run_dir} has no {HISTORY_FILE}: give a folder made by `trainer train`"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainerError(f"{path} is damaged ({exc}); train again") from exc


def _load_keras(path: Path) -> keras.Model:
    if not path.is_file():
        raise TrainerError(
            f"{path.parent} has no {KERAS_FILE}: give a folder made by `trainer train`"
        )
    return keras.saving.load_model(path, compile=False)


def _split_samples(
    run_dir: Path, data_root: Path, size: int
) -> tuple[dict[str, list[Sample]], list[Any]]:
    """The run's samples per split from split.csv, minus files no longer readable."""
    path = run_dir / SPLIT_FILE
    if not path.is_file():
        raise TrainerError(f"{run_dir} has no {SPLIT_FILE}: give a folder made by `trainer train`")
    rows = read_split_csv(path)
    samples = [Sample(data_root / rel, rel, label) for rel, label, _ in rows]
    readable, gone = keep_readable(samples, size)
    which = {rel: split for rel, _, split in rows}
    parts = {name: [s for s in readable if which[s.rel] == name] for name in SPLITS}
    return parts, gone
