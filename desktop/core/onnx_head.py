"""The softmax head inside a Pigeonhole ONNX graph: read it, replace it, run it alone.

The trainer records the head's initializer names in the metadata (``pigeonhole.head_weight``,
``pigeonhole.head_bias``); the head is ``Softmax(MatMul(embedding, W) + b)``, or a Gemm with
``transB=1`` storing W as (k, d). Replacing only these initializers (and the class list) keeps
the backbone bit for bit, so cached embeddings stay valid for the new model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from desktop.core.inference import session_options
from desktop.core.model_file import HEAD_BIAS_KEY, HEAD_WEIGHT_KEY
from trainer.contract import PROBS_OUTPUT, InvalidModelInfo, ModelInfo

_ORT_ERRORS = tuple(
    error
    for error in vars(ort.capi.onnxruntime_pybind11_state).values()
    if isinstance(error, type) and issubclass(error, Exception)
)


class HeadGraphError(ValueError):
    """The model's head cannot be read, replaced or run; the message says why."""


@dataclass(frozen=True)
class Head:
    """A linear softmax head: probs = softmax(embedding @ weight + bias)."""

    weight: np.ndarray  # (embedding_dim, n_classes) float32
    bias: np.ndarray  # (n_classes,) float32
    classes: tuple[str, ...]

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """embedding @ weight + bias, in float64."""
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weight.astype(np.float64)
        return logits + self.bias.astype(np.float64)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """The numpy reference the written ONNX head must agree with."""
        logits = self.logits(embeddings)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def read_head(model: onnx.ModelProto) -> Head:
    """The head currently in a Pigeonhole model, as (d, k) weight and (k,) bias."""
    info = model_info(model)
    weight_init, bias_init = _head_initializers(model, info)
    weight = numpy_helper.to_array(weight_init)
    if _weight_is_transposed(model, weight_init.name):
        weight = weight.T
    return Head(
        weight.astype(np.float32),
        numpy_helper.to_array(bias_init).astype(np.float32).reshape(-1),
        tuple(info.classes),
    )


def replace_head(
    model: onnx.ModelProto, head: Head, extra: dict[str, str] | None = None
) -> onnx.ModelProto:
    """A copy of ``model`` with the head's initializers, probs shape and class list replaced."""
    info = model_info(model)
    new = onnx.ModelProto()
    new.CopyFrom(model)
    weight_init, bias_init = _head_initializers(new, info)
    old_dim = _embedding_dim(new, weight_init)
    if head.weight.shape[0] != old_dim:
        raise HeadGraphError(
            f"the cached embeddings have {head.weight.shape[0]} features but the model's head "
            f"takes {old_dim}: classify the images with this model first, then retrain"
        )
    weight = head.weight.T if _weight_is_transposed(new, weight_init.name) else head.weight
    bias_shape = tuple(numpy_helper.to_array(bias_init).shape)
    bias = head.bias.reshape((1, -1)) if len(bias_shape) == 2 else head.bias
    weight_init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(weight), weight_init.name))
    bias_init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(bias), bias_init.name))
    _set_probs_width(new, len(head.classes))
    new_info = replace(info, classes=list(head.classes), extra={**info.extra, **(extra or {})})
    _set_metadata(new, new_info.to_props())
    return new


def run_head(model: onnx.ModelProto, embeddings: np.ndarray) -> np.ndarray:
    """The model's own head graph, run by ONNX Runtime on embeddings instead of images.

    Built in memory from the file's graph, so it is a check of the file, not of our intentions.
    """
    head_graph = _head_subgraph(model).SerializeToString()
    try:
        session = ort.InferenceSession(
            head_graph, session_options(), providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: np.asarray(embeddings, dtype=np.float32)}
        (probs,) = session.run([PROBS_OUTPUT], feed)
    except _ORT_ERRORS as exc:
        raise HeadGraphError(f"ONNX Runtime cannot run the retrained head ({exc})") from exc
    return probs


def _head_subgraph(model: onnx.ModelProto) -> onnx.ModelProto:
    """The part of the graph from the head's input tensor to ``probs``, runnable on embeddings."""
    info = model_info(model)
    weight_init, _ = _head_initializers(model, info)
    matmul = _consumer_of(model, weight_init.name)
    head_input = next(name for name in matmul.input if name != weight_init.name)
    # Extractor needs the new input's type; we know it without running shape inference.
    typed = onnx.ModelProto()
    typed.CopyFrom(model)
    dim = _embedding_dim(model, weight_init)
    typed.graph.value_info.append(
        onnx.helper.make_tensor_value_info(head_input, onnx.TensorProto.FLOAT, ["N", dim])
    )
    try:
        return onnx.utils.Extractor(typed).extract_model([head_input], [PROBS_OUTPUT])
    except (KeyError, ValueError, onnx.checker.ValidationError) as exc:
        raise HeadGraphError(f"cannot isolate the model's head for checking ({exc})") from exc


def load_model(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load_model(str(path))
    except FileNotFoundError as exc:
        raise HeadGraphError(f"the model file {path} does not exist (moved or deleted?)") from exc
    except OSError as exc:
        raise HeadGraphError(f"cannot read the model file {path} ({exc})") from exc
    except DecodeError as exc:
        raise HeadGraphError(f"{path} is not an ONNX model (unreadable protobuf)") from exc


def model_info(model: onnx.ModelProto) -> ModelInfo:
    try:
        return ModelInfo.from_props({p.key: p.value for p in model.metadata_props})
    except InvalidModelInfo as exc:
        raise HeadGraphError(str(exc)) from exc


def _head_initializers(
    model: onnx.ModelProto, info: ModelInfo
) -> tuple[onnx.TensorProto, onnx.TensorProto]:
    names = (info.extra.get(HEAD_WEIGHT_KEY), info.extra.get(HEAD_BIAS_KEY))
    if not all(names):
        raise HeadGraphError(
            "the model does not record its head's weights (pigeonhole.head_weight/head_bias): "
            "train it again with `python -m trainer train` to enable quick retrain"
        )
    found = {init.name: init for init in model.graph.initializer if init.name in names}
    missing = [name for name in names if name not in found]
    if missing:
        raise HeadGraphError(f"the model's graph has no initializer named {missing[0]!r}")
    return found[names[0]], found[names[1]]


def _consumer_of(model: onnx.ModelProto, tensor: str) -> onnx.NodeProto:
    for node in model.graph.node:
        if tensor in node.input and node.op_type in ("MatMul", "Gemm"):
            return node
    raise HeadGraphError(f"no MatMul or Gemm uses the head weight {tensor!r}")


def _weight_is_transposed(model: onnx.ModelProto, weight_name: str) -> bool:
    """True for Gemm(transB=1), which stores W as (k, d)."""
    node = _consumer_of(model, weight_name)
    if node.op_type != "Gemm":
        return False
    return any(a.name == "transB" and a.i == 1 for a in node.attribute)


def _embedding_dim(model: onnx.ModelProto, weight_init: onnx.TensorProto) -> int:
    dims = list(weight_init.dims)
    return dims[0] if not _weight_is_transposed(model, weight_init.name) else dims[1]


def _set_probs_width(model: onnx.ModelProto, n_classes: int) -> None:
    """Make the declared probs shape match the new class count; drop stale shape hints."""
    for output in model.graph.output:
        if output.name == PROBS_OUTPUT:
            dims = output.type.tensor_type.shape.dim
            if dims:
                dims[-1].Clear()
                dims[-1].dim_value = n_classes
    del model.graph.value_info[:]


def _set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    others = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for prop in others:
        model.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
