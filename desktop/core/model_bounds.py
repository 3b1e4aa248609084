"""What a model file may be before we trust it: its size, its protobuf envelope, its operators.

A model the user picked may be anything: 30 GB of zeros, or a valid graph with a Loop of 10^12
trips. Size and envelope are checked from ``stat`` and a few seeks, so a hostile file of any size
costs milliseconds and no memory; only then is the graph read. The graph must be made of the
operators our exporter writes, so nothing loops, branches or calls custom kernels.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import onnx

MAX_MODEL_BYTES = 48 << 20
"""The largest .onnx we read: 3.5x our biggest export (EfficientNet-Lite0, 13.4 MB). Reading,
parsing and checking a file this size takes ~0.7 s and ~145 MB (benchmarks/hostile.py), inside
the 1 s / 200 MB a check may cost; bigger weights can still live in external data files."""
MAX_WEIGHT_BYTES = 2 << 30
"""All external weight files of one model together (ONNX Runtime reads them whole)."""
MAX_NODES = 10_000
"""Our exports have ~30 (small_cnn) to ~115 (EfficientNet-Lite0) nodes."""
_MAX_TOP_LEVEL_FIELDS = 10_000
_GRAPH_FIELD = 7

EXPORTED_OPERATORS = frozenset(
    {
        # small_cnn and EfficientNet-Lite0 as tf2onnx converts them (opset 17), quick-retrain head
        *("Add", "Clip", "Conv", "GlobalAveragePool", "MatMul", "MaxPool", "Mul", "Relu"),
        *("Softmax", "Squeeze", "Transpose"),
        # tolerated for exports on their way: temperature scaling (Div/Mul before Softmax), a
        # Dense head as Gemm, pass-through or reshaped extra outputs (a feature map), and what
        # other tf2onnx versions write for pooling and normalisation (ReduceMean, Sub)
        *("Div", "Gemm", "Identity", "Reshape", "Flatten", "ReduceMean", "Sub"),
    }
)
"""ONNX operators (default domain) a Pigeonhole model may use. Extend it when the exporter
starts writing a new one; tests/trainer/test_export.py checks both backbones against it."""


class ModelBoundsError(Exception):
    """The file is too big, not an ONNX envelope, or uses operators we never export."""


def check_size(path: Path, weight_files: list[Path]) -> None:
    """Refuse an .onnx file, or its external weights together, bigger than we ever write."""
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelBoundsError(
            f"{path.name} is {_mb(size)}, larger than any model Pigeonhole exports (at most "
            f"{_mb(MAX_MODEL_BYTES)}); it was not read. Choose the model.onnx made by the trainer"
        )
    weights = sum(weight.stat().st_size for weight in set(weight_files))
    if weights > MAX_WEIGHT_BYTES:
        raise ModelBoundsError(
            f"{path.name}'s external weights are {_mb(weights)}, more than the "
            f"{_mb(MAX_WEIGHT_BYTES)} a Pigeonhole model may have"
        )


def check_envelope(path: Path) -> None:
    """Walk ModelProto's top-level fields with seeks, so garbage is refused without reading it."""
    with path.open("rb") as stream:
        end = stream.seek(0, 2)
        stream.seek(0)
        graphs = fields = 0
        while stream.tell() < end:
            fields += 1
            if fields > _MAX_TOP_LEVEL_FIELDS:
                raise _not_onnx(path)
            tag = _varint(stream, path)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                raise _not_onnx(path)
            graphs += number == _GRAPH_FIELD
            _skip(stream, wire, end, path)
    if graphs != 1:
        raise _not_onnx(path)


def check_operators(model: onnx.ModelProto, name: str) -> None:
    """Only the operators we export, in the default domain, with no subgraphs or functions."""
    if model.functions:
        raise ModelBoundsError(
            f"{name} defines its own functions, which Pigeonhole models never do; refused"
        )
    nodes = model.graph.node
    if len(nodes) > MAX_NODES:
        raise ModelBoundsError(
            f"{name} has {len(nodes):,} operations, far more than any Pigeonhole model "
            f"(at most {MAX_NODES:,}); refused"
        )
    unknown = sorted(
        {
            f"{node.domain}.{node.op_type}" if node.domain else node.op_type
            for node in nodes
            if node.domain not in ("", "ai.onnx") or node.op_type not in EXPORTED_OPERATORS
        }
    )
    if unknown:
        shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise ModelBoundsError(
            f"{name} uses operators Pigeonhole models never contain ({shown}); only models "
            "exported by `python -m trainer export` can be opened"
        )


def _varint(stream: BinaryIO, path: Path) -> int:
    value = 0
    for shift in range(0, 70, 7):
        byte = stream.read(1)
        if not byte:
            raise _not_onnx(path)
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise _not_onnx(path)


def _skip(stream: BinaryIO, wire: int, end: int, path: Path) -> None:
    if wire == 0:
        _varint(stream, path)
        return
    if wire == 2:
        length = _varint(stream, path)
    elif wire in (1, 5):
        length = 8 if wire == 1 else 4
    else:  # groups (3, 4) and undefined wire types never occur in an ONNX model
        raise _not_onnx(path)
    if stream.tell() + length > end:
        raise _not_onnx(path)
    stream.seek(length, 1)


def _not_onnx(path: Path) -> ModelBoundsError:
    return ModelBoundsError(
        f"{path.name} is not an ONNX model (the file is damaged or of another kind)"
    )


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB"
