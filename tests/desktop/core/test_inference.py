"""ONNX Runtime sessions: what really runs is reported, and the model gives sane predictions.

No test needs a GPU: on a machine without one, asking for CUDA must fall back to the CPU and say
why; on a machine with one, the report must match what ORT really uses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from desktop.core.inference import (
    CPU,
    GPU,
    InferenceError,
    ModelRunner,
    ProviderReport,
    cuda_unavailable_reason,
    open_session,
    session_options,
)
from desktop.core.model_file import ModelFile, check_model_file
from trainer.contract import INPUT_NAME, decode_for_model


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> ModelFile:
    return check_model_file(tiny_model_path)


@pytest.fixture(scope="module")
def pixels(model: ModelFile, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Five real images decoded the way the app decodes them."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    arrays = []
    for i in range(5):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(path)
        arrays.append(decode_for_model(path, model.input_size))
    return np.stack(arrays)


def really_runs(session: ModelRunner) -> str:
    return GPU if session.session.get_providers()[0] == "CUDAExecutionProvider" else CPU


def test_cpu_on_request(model: ModelFile) -> None:
    session = open_session(model, "cpu")
    assert session.report == ProviderReport(CPU, "CPU was chosen")
    assert session.session.get_providers() == ["CPUExecutionProvider"]
    assert str(session.report) == "CPU (CPU was chosen)"


@pytest.mark.parametrize("choice", ["auto", "cuda"])
def test_report_says_what_really_runs_and_why_not_cuda(model: ModelFile, choice: str) -> None:
    session = open_session(model, choice)
    assert session.report.name == really_runs(session)
    if session.report.name == CPU:
        assert session.report.reason, "a CPU fallback must say why CUDA was not used"
        assert not session.io_binding
    else:
        assert session.report.reason == "" and session.io_binding


def test_reason_names_the_missing_piece_when_nothing_can_run_cuda(model: ModelFile) -> None:
    reason = cuda_unavailable_reason()
    if not reason:
        pytest.skip("this machine has an NVIDIA driver; the fallback reason comes from ORT")
    assert open_session(model, "cuda").report == ProviderReport(CPU, reason)


def test_unknown_provider_is_refused(model: ModelFile) -> None:
    with pytest.raises(InferenceError, match="unknown provider 'tpu'"):
        open_session(model, "tpu")  # type: ignore[arg-type]


def test_predictions_are_probabilities_with_embeddings(
    model: ModelFile, pixels: np.ndarray
) -> None:
    probs, embedding = open_session(model, "cpu").run(pixels)
    assert probs.shape == (len(pixels), len(model.classes))
    assert embedding.shape == (len(pixels), model.embedding_dim)
    assert probs.dtype == np.float32 and embedding.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (probs >= 0).all()


def test_uint8_and_float_pixels_agree(model: ModelFile, pixels: np.ndarray) -> None:
    session = open_session(model, "cpu")
    probs_u8, _ = session.run(pixels)
    probs_f32, _ = session.run(pixels.astype(np.float32))
    np.testing.assert_array_equal(probs_u8, probs_f32)


def test_io_binding_gives_the_same_results(model: ModelFile, pixels: np.ndarray) -> None:
    plain = open_session(model, "cpu")
    bound = dataclasses.replace(plain, io_binding=True)
    for ours, theirs in zip(plain.run(pixels), bound.run(pixels), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_fixed_batch_model_runs_any_batch(
    model: ModelFile, pixels: np.ndarray, tmp_path: Path
) -> None:
    graph_model = onnx.load(model.path)
    image = next(value for value in graph_model.graph.input if value.name == INPUT_NAME)
    image.type.tensor_type.shape.dim[0].Clear()
    image.type.tensor_type.shape.dim[0].dim_value = 2
    fixed_path = tmp_path / "fixed.onnx"
    fixed_path.write_bytes(graph_model.SerializeToString())
    fixed = check_model_file(fixed_path)
    assert fixed.batch_dim == 2

    probs, embedding = open_session(fixed, "cpu").run(pixels)  # 5 images: 2 + 2 + padded 1
    expected_probs, expected_embedding = open_session(model, "cpu").run(pixels)
    np.testing.assert_allclose(probs, expected_probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(embedding, expected_embedding, rtol=1e-4, atol=1e-5)


def test_a_model_ort_cannot_load_gives_a_readable_error(model: ModelFile, tmp_path: Path) -> None:
    """A checked file ORT still refuses (an operator it lacks) must not escape as ORT's error."""
    graph_model = onnx.load(model.path)
    graph_model.opset_import.append(onnx.helper.make_opsetid("com.example.missing", 1))
    graph_model.graph.node.append(
        onnx.helper.make_node("Mystery", ["probs"], ["mystery"], domain="com.example.missing")
    )
    odd = tmp_path / "odd.onnx"
    odd.write_bytes(graph_model.SerializeToString())
    with pytest.raises(InferenceError, match=r"ONNX Runtime cannot load odd\.onnx"):
        open_session(dataclasses.replace(model, path=odd), "cpu")


def test_session_options_are_tuned() -> None:
    options = session_options(threads=3)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.intra_op_num_threads == 3
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert (
        session_options(spinning=True).get_session_config_entry("session.intra_op.allow_spinning")
        == "1"
    )
