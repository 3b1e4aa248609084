"""Hostile model files are refused before they cost time or memory: huge files, zero-filled files,
graphs that loop; a model's classes join the project as one undoable action, all or none."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from desktop.core.errors import InvalidAction
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.store import Project
from trainer.contract import PROBS_OUTPUT

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


def endless_loop(model: onnx.ModelProto) -> None:
    """Route ``probs`` through a Loop of 10^12 trips whose body passes the tensor on."""
    softmax = next(node for node in model.graph.node if PROBS_OUTPUT in node.output)
    softmax.output[list(softmax.output).index(PROBS_OUTPUT)] = "probs_before_loop"
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["value_in"], ["value_out"]),
        ],
        "forever",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_out", TensorProto.FLOAT, None),
        ],
    )
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(10**12, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "keep_going"),
        ]
    )
    model.graph.node.append(
        helper.make_node(
            "Loop", ["trips", "keep_going", "probs_before_loop"], [PROBS_OUTPUT], body=body
        )
    )


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
