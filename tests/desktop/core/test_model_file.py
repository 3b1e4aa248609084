"""A model file is checked before use: the trainer's model passes, every kind of wrong file is
refused with a reason a person can act on. Bad models are made from the real tiny model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx.external_data_helper import convert_model_to_external_data

from desktop.core.inference import open_session
from desktop.core.model_file import ModelFile, ModelFileError, check_model_file
from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT, ModelInfo


def variant(source: Path, target: Path, edit: Callable[[onnx.ModelProto], None]) -> Path:
    """A copy of the real model with one thing changed, written as raw bytes (no helper fixes)."""
    model = onnx.load(source)
    edit(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(model.SerializeToString())
    return target


def set_props(model: onnx.ModelProto, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def props_of(model: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in model.metadata_props}


def point_weights_at(location: str) -> Callable[[onnx.ModelProto], None]:
    """Mark the largest initializer as external data stored at ``location``."""

    def edit(model: onnx.ModelProto) -> None:
        tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data) or t.ByteSize())
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location

    return edit


def refusal(path: Path) -> str:
    with pytest.raises(ModelFileError) as caught:
        check_model_file(path)
    return str(caught.value)


def test_the_trainers_model_passes_with_its_facts(tiny_model_path: Path) -> None:
    checked = check_model_file(tiny_model_path)
    info = ModelInfo.from_props(props_of(onnx.load(tiny_model_path)))
    assert isinstance(checked, ModelFile)
    assert checked.path == tiny_model_path
    assert checked.classes == info.classes and checked.input_size == info.input_size
    assert checked.embedding_dim >= 1
    assert checked.batch_dim is None
    assert checked.head_weight == info.extra.get("head_weight")
    assert checked.head_bias == info.extra.get("head_bias")


def test_missing_file_and_folder_are_refused(tmp_path: Path) -> None:
    assert "does not exist" in refusal(tmp_path / "gone.onnx")
    assert "not a file" in refusal(tmp_path)


def test_empty_and_garbage_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert "empty" in refusal(empty)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(64) + b"\xff" * 4096)
    assert "not an ONNX model" in refusal(garbage) or "not a valid ONNX model" in refusal(garbage)
    photo = tmp_path / "photo.onnx"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"JFIF" * 100)
    assert "ONNX model" in refusal(photo)


def test_a_graph_the_checker_rejects_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    def dangle(model: onnx.ModelProto) -> None:
        model.graph.node.append(onnx.helper.make_node("Relu", ["no_such_tensor"], ["dangling"]))

    message = refusal(variant(tiny_model_path, tmp_path / "broken.onnx", dangle))
    assert "not a valid ONNX model" in message


def test_missing_metadata_is_refused_with_how_to_fix(tiny_model_path: Path, tmp_path: Path) -> None:
    bare = variant(tiny_model_path, tmp_path / "bare.onnx", lambda m: set_props(m, {}))
    message = refusal(bare)
    assert "bare.onnx" in message and "python -m trainer" in message


def test_damaged_metadata_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    def damage(model: onnx.ModelProto) -> None:
        set_props(model, {**props_of(model), "pigeonhole.classes": "[not json"})

    assert "damaged" in refusal(variant(tiny_model_path, tmp_path / "damaged.onnx", damage))


def test_input_size_differing_from_metadata_is_refused(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    def resize_input(model: onnx.ModelProto) -> None:
        image = next(value for value in model.graph.input if value.name == INPUT_NAME)
        dims = image.type.tensor_type.shape.dim
        dims[1].dim_value += 1
        dims[2].dim_value += 1

    message = refusal(variant(tiny_model_path, tmp_path / "resized.onnx", resize_input))
    assert f"input '{INPUT_NAME}'" in message and "metadata promises" in message


def test_class_count_differing_from_probs_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    def add_class(model: onnx.ModelProto) -> None:
        props = props_of(model)
        classes = json.loads(props["pigeonhole.classes"])
        props["pigeonhole.classes"] = json.dumps([*classes, "one-more-class"])
        set_props(model, props)

    message = refusal(variant(tiny_model_path, tmp_path / "more.onnx", add_class))
    assert f"output '{PROBS_OUTPUT}'" in message and "classes" in message


def test_missing_embedding_output_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    def drop_embedding(model: onnx.ModelProto) -> None:
        outputs = [value for value in model.graph.output if value.name != EMBEDDING_OUTPUT]
        del model.graph.output[:]
        model.graph.output.extend(outputs)

    message = refusal(variant(tiny_model_path, tmp_path / "noemb.onnx", drop_embedding))
    assert f"no output named '{EMBEDDING_OUTPUT}'" in message


def test_head_names_that_are_not_in_the_graph_are_refused(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    def wrong_head(model: onnx.ModelProto) -> None:
        set_props(model, {**props_of(model), "pigeonhole.head_weight": "no/such/kernel"})

    message = refusal(variant(tiny_model_path, tmp_path / "head.onnx", wrong_head))
    assert "no/such/kernel" in message


def test_external_weights_inside_the_folder_are_accepted_and_run(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = onnx.load(tiny_model_path)
    convert_model_to_external_data(model, location="tiny.weights", size_threshold=256)
    split = tmp_path / "split" / "tiny.onnx"
    split.parent.mkdir()
    onnx.save_model(model, split)
    assert (split.parent / "tiny.weights").is_file()

    checked = check_model_file(split)
    session = open_session(checked, "cpu")
    assert session.session.get_inputs()[0].name == INPUT_NAME


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("../outside.bin", "outside the model's folder"),
        ("sub/../../outside.bin", "outside the model's folder"),
        ("..\\outside.bin", "outside the model's folder"),
        ("/etc/passwd", "absolute path"),
        ("C:\\Windows\\win.ini", "absolute path"),
        ("", "names no file"),
        ("missing.bin", "missing"),
    ],
)
def test_external_weights_reaching_outside_are_refused(
    tiny_model_path: Path, tmp_path: Path, location: str, expected: str
) -> None:
    (tmp_path / "outside.bin").write_bytes(b"\0" * 4096)
    model_path = variant(tiny_model_path, tmp_path / "m" / "evil.onnx", point_weights_at(location))
    message = refusal(model_path)
    assert expected in message and "evil.onnx" in message


def test_external_weights_through_a_symlink_out_are_refused(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 4096)
    folder = tmp_path / "m"
    model_path = variant(tiny_model_path, folder / "evil.onnx", point_weights_at("weights.bin"))
    (folder / "weights.bin").symlink_to(secret)
    assert "links outside" in refusal(model_path)
