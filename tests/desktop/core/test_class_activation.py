"""Class activation maps from a real exported model: exact, following the head in use, and a
clear message for models that cannot have one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from desktop.core.class_activation import (
    NO_HEAT_MAP,
    HeatMapError,
    HeatMapper,
    normalise,
    upsample,
)
from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
from desktop.core.onnx_head import Head, read_head, replace_head
from tests.desktop.core.head_models import build_head_model
from trainer.contract import FEATURE_MAP_OUTPUT, decode_for_model


def _images(tiny_dataset_dir: Path) -> list[Path]:
    return sorted(p for p in tiny_dataset_dir.rglob("*") if p.is_file())[:6]


def _mapper(path: Path) -> HeatMapper:
    return HeatMapper(open_session(check_model_file(path), "cpu", threads=1))


def test_cam_from_the_onnx_output_equals_numpy_from_feature_map_and_head(
    tiny_model_path: Path, tiny_dataset_dir: Path
) -> None:
    mapper = _mapper(tiny_model_path)
    model = onnx.load_model(str(tiny_model_path))
    head = read_head(model)
    assert FEATURE_MAP_OUTPUT in [output.name for output in model.graph.output]
    for path in _images(tiny_dataset_dir):
        maps = mapper.for_image(path)
        h, w, d = maps.features.shape
        assert h > 1 and w > 1 and d == head.weight.shape[0]
        for c in range(len(head.classes)):
            by_hand = np.einsum("hwd,d->hw", maps.features, head.weight[:, c]) + head.bias[c]
            np.testing.assert_allclose(maps.raw(c), by_hand, rtol=1e-5, atol=1e-5)
        # The map's mean is the logit: softmax of the means gives ONNX Runtime's probabilities.
        logits = np.array([maps.raw(c).mean() for c in range(len(head.classes))])
        probs = np.exp(logits - logits.max())
        np.testing.assert_allclose(probs / probs.sum(), maps.probs, atol=1e-4)


def test_the_map_follows_a_quick_retrained_head(
    tiny_model_path: Path, tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    model = onnx.load_model(str(tiny_model_path))
    old = read_head(model)
    # What quick retrain writes: the same graph with the head's initializers swapped.
    flipped = Head(-old.weight[:, ::-1].copy(), old.bias[::-1].copy(), old.classes)
    retrained = tmp_path / "retrained.onnx"
    onnx.save_model(replace_head(model, flipped), str(retrained))
    path = _images(tiny_dataset_dir)[0]
    before, after = _mapper(tiny_model_path).for_image(path), _mapper(retrained).for_image(path)
    np.testing.assert_array_equal(before.features, after.features)  # the backbone is untouched
    for c in range(len(old.classes)):
        expected = before.features.astype(np.float64) @ flipped.weight[:, c] + flipped.bias[c]
        np.testing.assert_allclose(after.raw(c), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(after.raw(0), before.raw(0))


def test_a_model_without_the_feature_map_says_retrain(tmp_path: Path) -> None:
    old = build_head_model(tmp_path / "old.onnx", ["red", "green", "blue"])
    with pytest.raises(HeatMapError) as caught:
        _mapper(old)
    assert str(caught.value) == NO_HEAT_MAP


def test_an_exported_model_with_its_feature_map_removed_says_retrain(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = onnx.load_model(str(tiny_model_path))
    kept = [output for output in model.graph.output if output.name != FEATURE_MAP_OUTPUT]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    older = tmp_path / "older.onnx"
    onnx.save_model(model, str(older))
    with pytest.raises(HeatMapError, match="no heat map for this model: retrain to get one"):
        _mapper(older)


def test_an_unknown_class_is_refused_with_its_name(
    tiny_model_path: Path, tiny_dataset_dir: Path
) -> None:
    maps = _mapper(tiny_model_path).for_image(_images(tiny_dataset_dir)[0])
    with pytest.raises(HeatMapError, match="no class 'hexagon'"):
        maps.index_of("hexagon")
    assert maps.index_of(maps.head.classes[1]) == 1


def test_normalised_maps_span_zero_to_one_and_upsample_to_the_picture(
    tiny_model_path: Path, tiny_dataset_dir: Path
) -> None:
    path = _images(tiny_dataset_dir)[0]
    mapper = _mapper(tiny_model_path)
    maps = mapper.for_pixels(decode_for_model(path, mapper.input_size))
    cam = maps.normalised(maps.predicted())
    assert cam.min() == 0.0 and cam.max() == pytest.approx(1.0)
    big = upsample(cam, 300, 200)
    assert big.shape == (200, 300) and big.min() >= 0.0 and big.max() <= 1.0
    assert normalise(np.full((4, 4), 3.0)).max() == 0.0  # a flat map points nowhere
