"""Hostile model files are refused before they cost time or memory: huge files, zero-filled files,
graphs that loop; a model's classes join the project as one undoable action, all or none."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop.core.classify import ClassifyOptions, classify_images
from desktop.core.errors import InvalidAction
from desktop.core.inference import open_session
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.store import Project
from tests.hostile_onnx import endless_loop
from trainer.contract import PROBS_OUTPUT, ModelInfo

MB = 1 << 20


def refused_within(path: Path, limit_bytes: int) -> str:
    """The refusal's message, checking Python allocated less than ``limit_bytes`` to reach it."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as caught:
            check_model_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"checking {path.name} allocated {peak / MB:.0f} MB"
    return str(caught.value)


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes that takes no disk space (as `truncate -s` makes)."""
    with path.open("wb") as stream:
        stream.truncate(size)
    return path


@pytest.mark.parametrize("size", [100 * MB, 30 << 30], ids=["100MB", "30GB"])
def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path, size: int) -> None:
    path = sparse_file(tmp_path / "huge.onnx", size)
    message = refused_within(path, 1 * MB)
    assert message.startswith("huge.onnx is ") and "larger than any model" in message


def test_zeros_under_the_size_cap_are_refused_without_reading_them(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "zeros.onnx", 40 * MB)
    message = refused_within(path, 1 * MB)
    assert message == "zeros.onnx is not an ONNX model (the file is damaged or of another kind)"


def test_a_graph_with_an_endless_loop_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    model = onnx.load(tiny_model_path)
    endless_loop(model)
    onnx.checker.check_model(model)  # valid ONNX: only our own rules can refuse it
    path = tmp_path / "loop.onnx"
    path.write_bytes(model.SerializeToString())
    message = refused_within(path, 20 * MB)
    assert message == (
        "loop.onnx uses operators Pigeonhole models never contain (Loop); only models exported "
        "by `python -m trainer export` can be opened"
    )


def test_a_custom_domain_operator_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    model = onnx.load(tiny_model_path)
    relu = next(node for node in model.graph.node if node.op_type == "Relu")
    relu.domain = "com.example"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = tmp_path / "custom.onnx"
    path.write_bytes(model.SerializeToString())
    assert "(com.example.Relu)" in refused_within(path, 20 * MB)


def test_the_trainers_model_stays_accepted(tiny_model_path: Path) -> None:
    assert check_model_file(tiny_model_path).classes == ["circle", "square", "triangle"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        opened.add_class("earlier work")
        yield opened


def test_many_classes_are_one_undoable_action(project: Project) -> None:
    names = [f"class {i}" for i in range(1200)]
    action = project.add_classes(names, "Add the classes of model.onnx")
    assert [c.name for c in project.classes()] == ["earlier work", *names]
    assert [a.text for a in project.history()] == [
        "Add class earlier work",
        "Add the classes of model.onnx",
    ]
    assert action.text == "Add the classes of model.onnx"
    project.undo()
    assert [c.name for c in project.classes()] == ["earlier work"]
    project.undo()  # the user's own earlier action is still there to undo
    assert project.classes() == []


@pytest.mark.parametrize(
    "bad", ["x" * 101, "tab\tin name", "", "earlier work"], ids=["long", "control", "empty", "dup"]
)
def test_one_bad_class_name_adds_none_of_them(project: Project, bad: str) -> None:
    with pytest.raises(InvalidAction):
        project.add_classes(["fine", "also fine", bad])
    assert [c.name for c in project.classes()] == ["earlier work"]
    assert len(project.history()) == 1


def with_classes(source: Path, target: Path, names: list[str]) -> Path:
    """The tiny model with its head resized (zero weights) to ``names``."""
    model = onnx.load(source)
    props = {p.key: p.value for p in model.metadata_props}
    props["pigeonhole.classes"] = json.dumps(names)
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    for key in ("pigeonhole.head_weight", "pigeonhole.head_bias"):
        init = next(i for i in model.graph.initializer if i.name == props[key])
        array = numpy_helper.to_array(init)
        shape = (*array.shape[:-1], len(names))
        init.CopyFrom(numpy_helper.from_array(np.zeros(shape, array.dtype), init.name))
    probs = next(o for o in model.graph.output if o.name == PROBS_OUTPUT)
    probs.type.tensor_type.shape.dim[1].dim_value = len(names)
    target.write_bytes(model.SerializeToString())
    return target


def slow_model(path: Path, size: int = 16, width: int = 3072, chain: int = 20) -> Path:
    """Only operators we export, but a batch of 4,096 takes ~1.5 TFLOP: a minute on one core.

    (Few wide MatMuls rather than many: ONNX Runtime needs ~0.2 s per node to create a session.)
    """
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((width, width)) / width).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("GlobalAveragePool", ["nchw"], ["pooled"]),
        helper.make_node("Squeeze", ["pooled", "hw"], ["rgb"]),
        helper.make_node("MatMul", ["rgb", "w_in"], ["x0"]),
    ]
    nodes += [helper.make_node("MatMul", [f"x{i}", "w"], [f"x{i + 1}"]) for i in range(chain)]
    nodes += [
        helper.make_node("Identity", [f"x{chain}"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "w_out"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", width]),
        ],
        [
            numpy_helper.from_array(np.array([2, 3], np.int64), "hw"),
            numpy_helper.from_array(np.ones((3, width), np.float32), "w_in"),
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.ones((width, 2), np.float32), "w_out"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, ModelInfo(["a", "b"], size, "small_cnn", "0.1.0").to_props())
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.slow  # ~20 s: a session of a slow graph, 4,096 decodes
def test_cancel_stops_a_long_batch_at_once(tmp_path: Path) -> None:
    session = open_session(check_model_file(slow_model(tmp_path / "slow.onnx")), "cpu", threads=1)
    image = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), "navy").save(image)
    cancel, all_read = threading.Event(), threading.Event()

    def items():
        for i in range(4096):
            if i == 4095:
                all_read.set()  # the last chunk is decoded next, then the one batch runs
            yield i, image

    batches: list[object] = []
    options = ClassifyOptions(batch_size=4096, workers=0)
    run = threading.Thread(
        target=lambda: batches.extend(classify_images(session, items(), options, cancel=cancel))
    )
    run.start()
    assert all_read.wait(60)
    time.sleep(1.0)
    cancel.set()
    run.join(timeout=20)  # the batch alone would take a minute or more
    assert not run.is_alive(), "the batch went on after Cancel"
    assert batches == []  # stopped, not failed: no error escaped the run
