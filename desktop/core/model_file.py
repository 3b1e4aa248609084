"""Checking a model file before anything runs it.

A model is a file the user picked, perhaps downloaded: it is checked as untrusted input before ONNX
Runtime sees it. Loading external weights is where ONNX files have reached outside their folder
(CVE-2024-27318), so every external-data location must stay inside the model's folder. The rest
checks that the graph is the one our trainer exports, so a wrong file is refused with a reason
instead of failing halfway through classifying a folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto
from onnx.external_data_helper import uses_external_data

from desktop.core.model_bounds import (
    ModelBoundsError,
    check_envelope,
    check_operators,
    check_size,
)
from trainer.contract import (
    EMBEDDING_OUTPUT,
    INPUT_NAME,
    PROBS_OUTPUT,
    InvalidModelInfo,
    ModelInfo,
)

HEAD_WEIGHT_KEY = "head_weight"
HEAD_BIAS_KEY = "head_bias"
"""Keys (after the ``pigeonhole.`` prefix) naming the classifier head's initializers."""


class ModelFileError(Exception):
    """A model file we refuse to use; the message says why and what to do."""


@dataclass(frozen=True)
class ModelFile:
    """A model file that passed every check, with the facts the app needs from it."""

    path: Path
    info: ModelInfo
    embedding_dim: int
    batch_dim: int | None = None
    """The model's fixed batch size, or None when it takes any batch size (the usual case)."""
    head_weight: str | None = None
    head_bias: str | None = None

    @property
    def classes(self) -> list[str]:
        return self.info.classes

    @property
    def input_size(self) -> int:
        return self.info.input_size


def check_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Check an .onnx file without running it; raise ModelFileError saying what is wrong."""
    path = Path(path)
    name = path.name
    model = _load_proto(path)
    weights = _check_external_data(model, path)
    _within_bounds(lambda: check_size(path, weights))
    _within_bounds(lambda: check_operators(model, name))
    _run_checker(path)
    info = _read_info(model, name)
    batch_dim = _check_input(model, info, name)
    embedding_dim = _check_outputs(model, info, name)
    head_weight, head_bias = _head_names(model, info, name)
    return ModelFile(
        path=path,
        info=info,
        embedding_dim=embedding_dim,
        batch_dim=batch_dim,
        head_weight=head_weight,
        head_bias=head_bias,
    )


def _load_proto(path: Path) -> onnx.ModelProto:
    """The graph alone: external weights are not read until their locations are checked."""
    name = path.name
    if not path.exists():
        raise ModelFileError(f"{path} does not exist (moved or deleted?)")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file: choose the .onnx model file itself")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{name} is empty (0 bytes): was the export interrupted?")
    try:
        _within_bounds(lambda: check_size(path, []))
        _within_bounds(lambda: check_envelope(path))
        return onnx.load(path, load_external_data=False)
    except PermissionError as exc:
        raise ModelFileError(f"no permission to read {name}") from exc
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise ModelFileError(
            f"{name} is not an ONNX model (the file is damaged or of another kind)"
        ) from exc
    except OSError as exc:
        raise ModelFileError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _within_bounds(check: Callable[[], None]) -> None:
    try:
        check()
    except ModelBoundsError as exc:
        raise ModelFileError(str(exc)) from exc


def _check_external_data(model: onnx.ModelProto, path: Path) -> list[Path]:
    """Refuse any external-data location that could read a file outside the model's folder;
    return the weight files the model reads."""
    folder = path.absolute().parent
    real_folder = folder.resolve()
    weights = []
    for tensor in _all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = _external_location(tensor)
        where = f"{path.name}: weights '{tensor.name}' point to '{location}'"
        if not location:
            raise ModelFileError(f"{where}, which names no file")
        parts = location.replace("\\", "/").split("/")
        if os.path.isabs(location) or location.startswith(("/", "\\")) or ":" in location:
            raise ModelFileError(f"{where}, an absolute path; refused for safety")
        if ".." in parts:
            raise ModelFileError(f"{where}, outside the model's folder; refused for safety")
        target = (folder / location).resolve()
        if not target.is_relative_to(real_folder):
            raise ModelFileError(
                f"{where}, which links outside the model's folder; refused for safety"
            )
        if not target.is_file():
            raise ModelFileError(
                f"{where}, which is missing: keep the weights file next to {path.name}"
            )
        weights.append(target)
    return weights


def _all_tensors(model: onnx.ModelProto) -> Iterator[TensorProto]:
    """Initializers and tensor attributes of the graph and every subgraph."""
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        yield from graph.initializer
        yield from (sparse.values for sparse in graph.sparse_initializer)
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)


def _external_location(tensor: TensorProto) -> str:
    for entry in tensor.external_data:
        if entry.key == "location":
            return entry.value
    return ""


def _run_checker(path: Path) -> None:
    """onnx's own checks; given the path so it finds (already vetted) external data files."""
    name = path.name
    try:
        onnx.checker.check_model(os.fspath(path))
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid graph"
        raise ModelFileError(f"{name} is not a valid ONNX model: {first_line}") from exc


def _read_info(model: onnx.ModelProto, name: str) -> ModelInfo:
    props = {prop.key: prop.value for prop in model.metadata_props}
    try:
        return ModelInfo.from_props(props)
    except InvalidModelInfo as exc:
        raise ModelFileError(f"{name}: {exc}") from exc


def _check_input(model: onnx.ModelProto, info: ModelInfo, name: str) -> int | None:
    """Input must be float32 [N, S, S, 3]; returns N when the model fixes it."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    found = next((value for value in inputs if value.name == INPUT_NAME), None)
    if found is None:
        names = ", ".join(value.name for value in inputs) or "none"
        raise ModelFileError(
            f"{name} has no input named '{INPUT_NAME}' (it has: {names}): "
            "was it exported by `python -m trainer export`?"
        )
    if len(inputs) > 1:
        raise ModelFileError(f"{name} needs more than one input; Pigeonhole models take one image")
    size = info.input_size
    dtype, dims = _tensor_type(found)
    if dtype != TensorProto.FLOAT or len(dims) != 4 or dims[1:] != [size, size, 3]:
        raise ModelFileError(
            f"{name}: input '{INPUT_NAME}' is {_describe(dtype, dims)}, but its metadata promises "
            f"float32 [N, {size}, {size}, 3]"
        )
    return dims[0] if isinstance(dims[0], int) else None


def _check_outputs(model: onnx.ModelProto, info: ModelInfo, name: str) -> int:
    """Outputs must be probs [N, C] and embedding [N, D]; returns D."""
    outputs = {value.name: value for value in model.graph.output}
    for wanted in (PROBS_OUTPUT, EMBEDDING_OUTPUT):
        if wanted not in outputs:
            raise ModelFileError(
                f"{name} has no output named '{wanted}' (it has: {', '.join(outputs) or 'none'}): "
                "was it exported by `python -m trainer export`?"
            )
    count = len(info.classes)
    dtype, dims = _tensor_type(outputs[PROBS_OUTPUT])
    if dtype != TensorProto.FLOAT or len(dims) != 2 or dims[1] != count:
        raise ModelFileError(
            f"{name}: output '{PROBS_OUTPUT}' is {_describe(dtype, dims)}, but its metadata names "
            f"{count} classes (expected float32 [N, {count}])"
        )
    dtype, dims = _tensor_type(outputs[EMBEDDING_OUTPUT])
    if dtype != TensorProto.FLOAT or len(dims) != 2 or not isinstance(dims[1], int) or dims[1] < 1:
        raise ModelFileError(
            f"{name}: output '{EMBEDDING_OUTPUT}' is {_describe(dtype, dims)}; "
            "expected float32 [N, D] with a fixed size D"
        )
    return dims[1]


def _head_names(
    model: onnx.ModelProto, info: ModelInfo, name: str
) -> tuple[str | None, str | None]:
    """The head's initializer names, when the trainer recorded them, checked to exist."""
    initializers = {init.name for init in model.graph.initializer}
    names = []
    for key in (HEAD_WEIGHT_KEY, HEAD_BIAS_KEY):
        value = info.extra.get(key)
        if value is not None and value not in initializers:
            raise ModelFileError(
                f"{name}: its metadata names the classifier weights '{value}', which the graph "
                "does not contain; re-export the model with `python -m trainer export`"
            )
        names.append(value)
    return names[0], names[1]


def _tensor_type(value: onnx.ValueInfoProto) -> tuple[int, list[int | str | None]]:
    """Element type and dims; a dim is an int, a symbolic name, or None when unknown."""
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor.HasField("shape"):
        return tensor.elem_type, []
    dims: list[int | str | None] = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return tensor.elem_type, dims


def _describe(dtype: int, dims: list[int | str | None]) -> str:
    type_name = onnx.helper.tensor_dtype_to_np_dtype(dtype).name if dtype else "untyped"
    if not dims:
        return f"{type_name} of unknown shape"
    shown = ", ".join(
        "N" if i == 0 and not isinstance(d, int) else str(d or "?") for i, d in enumerate(dims)
    )
    return f"{type_name} [{shown}]"
