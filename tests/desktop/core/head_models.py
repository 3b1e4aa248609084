"""Small ONNX models built with onnx.helper that follow the trainer's contract.

Input ``image`` (N, S, S, 3) float32; outputs ``probs`` and ``embedding``; the head is
``Softmax(MatMul(embedding, W) + b)`` (or a Gemm with transB=1) and its initializer names are in
the metadata, as the trainer writes them. Fast to build, so unit tests need no TensorFlow run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT, ModelInfo

SIZE = 8
DIM = 6
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 210)}


def build_head_model(
    path: Path, classes: list[str], gemm: bool = False, head_names: bool = True
) -> Path:
    """A tiny Pigeonhole-contract model: mean colour -> linear embedding -> softmax head."""
    rng = np.random.default_rng(0)
    k = len(classes)
    projection = rng.normal(size=(3, DIM)).astype(np.float32) / 100.0
    weight = rng.normal(size=(DIM, k)).astype(np.float32)
    bias = np.zeros(k, np.float32)
    if gemm:
        head = [
            helper.make_node("Gemm", ["features", "head/W", "head/b"], ["logits"], transB=1),
        ]
        weight = weight.T.copy()
    else:
        head = [
            helper.make_node("MatMul", ["features", "head/W"], ["mm"]),
            helper.make_node("Add", ["mm", "head/b"], ["logits"]),
        ]
    nodes = [
        helper.make_node("ReduceMean", [INPUT_NAME], ["mean_rgb"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["mean_rgb", "projection"], ["features"]),
        helper.make_node("Identity", ["features"], [EMBEDDING_OUTPUT]),
        *head,
        helper.make_node("Softmax", ["logits"], [PROBS_OUTPUT], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", SIZE, SIZE, 3])],
        [
            helper.make_tensor_value_info(PROBS_OUTPUT, TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["N", DIM]),
        ],
        initializer=[
            numpy_helper.from_array(projection, "projection"),
            numpy_helper.from_array(weight, "head/W"),
            numpy_helper.from_array(bias, "head/b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    extra = {"head_weight": "head/W", "head_bias": "head/b"} if head_names else {}
    info = ModelInfo(classes, SIZE, backbone="test", trainer_version="test", extra=extra)
    for key, value in info.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save_model(model, path)
    return path


def colour_images(names: list[str], per_class: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Noisy solid-colour pixel batches and their class names."""
    rng = np.random.default_rng(seed)
    pixels, labels = [], []
    for name in names:
        base = np.array(COLOURS.get(name, (230, 220, 30)), np.float32)
        noise = rng.normal(0.0, 25.0, size=(per_class, SIZE, SIZE, 3))
        pixels.append(np.clip(base + noise, 0, 255))
        labels += [name] * per_class
    return np.concatenate(pixels).astype(np.float32), labels
