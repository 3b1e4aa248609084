"""Quick retrain writes a model that loads, passes the app's checks and agrees with its numpy head.

Most tests use small onnx.helper models (tests/desktop/core/head_models.py) so they can plant
exact heads; one runs on the trainer's real tiny model (``tiny_model_path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
from desktop.core.onnx_head import read_head
from desktop.core.quick_retrain import QuickRetrainError, fit_head, quick_retrain
from tests.desktop.core.head_models import DIM, build_head_model, colour_images


def run_model(path: Path, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return open_session(check_model_file(path), "cpu").run(pixels)


@pytest.fixture
def source_model(tmp_path: Path) -> Path:
    return build_head_model(tmp_path / "v1.onnx", ["red", "green", "blue"])


def test_retrained_model_loads_and_agrees_with_its_numpy_head(
    source_model: Path, tmp_path: Path
) -> None:
    pixels, labels = colour_images(["red", "green", "blue"], per_class=20)
    _, embeddings = run_model(source_model, pixels)  # what the store caches

    result = quick_retrain(source_model, tmp_path / "v2.onnx", embeddings, labels)

    probs, new_embeddings = run_model(result.path, pixels)
    np.testing.assert_allclose(new_embeddings, embeddings, atol=1e-6)  # backbone untouched
    reference = result.head.probabilities(embeddings)
    assert np.abs(probs - reference).max() < 1e-4
    np.testing.assert_array_equal(probs.argmax(axis=1), reference.argmax(axis=1))
    assert result.max_abs_diff < 1e-4
    index = {name: i for i, name in enumerate(result.head.classes)}
    fitted = reference.argmax(axis=1) == np.array([index[name] for name in labels])
    assert fitted.mean() >= 0.95  # the random head it replaced is near chance
    assert result.scores["accuracy"] is None  # nothing held out: no score is claimed
    assert check_model_file(result.path).info.extra["head_refit"] == "quick"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.onnx", "v2.onnx"]  # no temp files


def test_grown_class_set_resizes_head_and_metadata(source_model: Path, tmp_path: Path) -> None:
    pixels, labels = colour_images(["red", "green", "blue", "yellow"], per_class=15)
    _, embeddings = run_model(source_model, pixels)

    result = quick_retrain(source_model, tmp_path / "v2.onnx", embeddings, labels)

    checked = check_model_file(result.path)
    assert checked.classes == ["red", "green", "blue", "yellow"]
    probs, _ = run_model(result.path, pixels)
    assert probs.shape == (60, 4)
    predicted = [checked.classes[i] for i in probs.argmax(axis=1)]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.9


def test_gemm_head_with_transposed_weight(tmp_path: Path) -> None:
    source = build_head_model(tmp_path / "gemm.onnx", ["red", "green", "blue"], gemm=True)
    pixels, labels = colour_images(["red", "green", "blue"], per_class=10)
    _, embeddings = run_model(source, pixels)

    result = quick_retrain(source, tmp_path / "v2.onnx", embeddings, labels)

    probs, _ = run_model(result.path, pixels)
    assert np.abs(probs - result.head.probabilities(embeddings)).max() < 1e-4
    np.testing.assert_allclose(read_head(onnx.load(result.path)).weight, result.head.weight)


def test_two_classes_and_an_unlabelled_class(source_model: Path, tmp_path: Path) -> None:
    pixels, labels = colour_images(["red", "blue"], per_class=10)
    _, embeddings = run_model(source_model, pixels)

    result = quick_retrain(source_model, tmp_path / "v2.onnx", embeddings, labels)

    probs, _ = run_model(result.path, pixels)
    assert (probs[:, 1] < 1e-6).all()  # "green" has no labels, so it is never predicted
    predicted = np.array(["red", "green", "blue"])[probs.argmax(axis=1)]
    assert (predicted == np.array(labels)).all()


def test_fit_head_matches_scikit_learn_on_raw_embeddings() -> None:
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(90, 5)) * [1.0, 100.0, 0.01, 5.0, 1.0] + [0, 50, 0, 0, -3]
    labels = ["a", "b", "c"] * 30
    embeddings[np.arange(90) % 3 == 1, 0] += 4.0
    embeddings[np.arange(90) % 3 == 2, 3] += 30.0
    head = fit_head(embeddings, labels, ["a", "b", "c"])
    probs = head.probabilities(embeddings)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (np.array(["a", "b", "c"])[probs.argmax(axis=1)] == np.array(labels)).mean() > 0.95


@pytest.mark.parametrize(
    ("labels", "embedding_dim", "message"),
    [
        (["red"] * 6, DIM, "at least two classes"),
        (["red", "blue"] * 3, DIM + 1, "cached embeddings have 7 features but the model's head"),
        (["red", "blue"] * 2, DIM, "one cached embedding per labelled image"),
    ],
)
def test_bad_input_writes_nothing(
    source_model: Path, tmp_path: Path, labels: list[str], embedding_dim: int, message: str
) -> None:
    destination = tmp_path / "current.onnx"
    destination.write_bytes(source_model.read_bytes())
    before = destination.read_bytes()
    embeddings = np.random.default_rng(0).normal(size=(6, embedding_dim)).astype(np.float32)

    with pytest.raises(QuickRetrainError, match=message):
        quick_retrain(source_model, destination, embeddings, labels)

    assert destination.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.onnx", "v1.onnx"]


def test_model_without_head_names_is_refused(tmp_path: Path) -> None:
    source = build_head_model(tmp_path / "old.onnx", ["red", "blue"], head_names=False)
    with pytest.raises(QuickRetrainError, match="does not record its head"):
        quick_retrain(source, tmp_path / "new.onnx", np.zeros((4, DIM)), ["red", "blue"] * 2)
    assert not (tmp_path / "new.onnx").exists()


def test_not_a_model_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "notes.onnx"
    source.write_text("not a model")
    with pytest.raises(QuickRetrainError, match="not an ONNX model"):
        quick_retrain(source, tmp_path / "new.onnx", np.zeros((4, DIM)), ["red", "blue"] * 2)
    with pytest.raises(QuickRetrainError, match="does not exist"):
        quick_retrain(tmp_path / "gone.onnx", tmp_path / "new.onnx", np.zeros((2, DIM)), ["a", "b"])
