"""Hostile ONNX graphs shared by the tests and benchmarks/hostile.py: valid ONNX that only our
own rules can refuse."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trainer.contract import PROBS_OUTPUT


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
