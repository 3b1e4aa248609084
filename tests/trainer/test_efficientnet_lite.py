"""The offline EfficientNet-Lite0: the torch-free checkpoint reader and the converted network."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.contract import decode_for_model
from trainer.torch_checkpoint import (
    LEGACY_MAGIC_NUMBER,
    LEGACY_PROTOCOL_VERSION,
    CheckpointError,
    read_legacy_state_dict,
)

TABBY, TIGER_CAT, EGYPTIAN_CAT = 281, 282, 285


class _RunsShellCommand:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _write_legacy_header(file, state: object) -> None:
    for obj in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, {"little_endian": True}, state):
        pickle.dump(obj, file, protocol=2)


def test_reader_refuses_a_pickle_that_asks_for_another_global(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "evil.pth"
    with checkpoint.open("wb") as file:
        _write_legacy_header(file, {"weight": _RunsShellCommand(f"touch {marker}")})

    with pytest.raises(CheckpointError, match=r"'(posix|nt)\.system'.*refusing"):
        read_legacy_state_dict(checkpoint)
    assert not marker.exists()


def test_reader_reports_a_truncated_checkpoint(tmp_path: Path) -> None:
    from trainer.efficientnet_lite import checkpoint_path

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(checkpoint_path().read_bytes()[:100_000])

    with pytest.raises(CheckpointError, match=r"truncated|damaged"):
        read_legacy_state_dict(truncated)


def test_reader_reports_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_text("these are not weights")

    with pytest.raises(CheckpointError, match=r"notes\.pth"):
        read_legacy_state_dict(not_a_checkpoint)


def test_reader_reads_every_tensor_of_the_real_checkpoint() -> None:
    from trainer.efficientnet_lite import checkpoint_path

    state = read_legacy_state_dict(checkpoint_path())

    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert np.all(np.isfinite(state["_fc.weight"]))


def test_imagenet_network_recognises_a_cat(tmp_path: Path) -> None:
    from skimage import data

    from trainer.efficientnet_lite import build_efficientnet_lite0

    photo = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(photo)
    pixels = decode_for_model(photo, 224).astype(np.float32)[np.newaxis]
    model = build_efficientnet_lite0(224, include_top=True)

    probs = model.predict(pixels, verbose=0)[0]

    top5 = np.argsort(probs)[::-1][:5].tolist()
    assert {TABBY, TIGER_CAT, EGYPTIAN_CAT} & set(top5), top5
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_backbone_gives_1280_feature_map_at_small_sizes() -> None:
    from trainer.efficientnet_lite import FEATURE_SIZE, build_efficientnet_lite0

    model = build_efficientnet_lite0(64, include_top=False)
    features = model.predict(np.full((2, 64, 64, 3), 127.0, np.float32), verbose=0)

    assert FEATURE_SIZE == 1280
    assert model.output_shape == (None, 2, 2, FEATURE_SIZE)
    assert features.shape == (2, 2, 2, FEATURE_SIZE)
    assert np.all(features >= 0) and np.all(features <= 6)  # ReLU6 head


def test_fine_tune_layers_are_the_top_blocks_and_head_without_batch_norm() -> None:
    from trainer.efficientnet_lite import (
        NUM_BLOCKS,
        block_layer_names,
        build_efficientnet_lite0,
        fine_tune_layers,
    )

    model = build_efficientnet_lite0(32, weights=False)
    blocks = block_layer_names(model)

    names = [layer.name for layer in fine_tune_layers(model, 2)]

    assert len(blocks) == NUM_BLOCKS
    assert "block0_expand_conv" not in blocks[0] and "block0_dwconv" in blocks[0]
    assert names == [
        "block14_expand_conv", "block14_dwconv", "block14_project_conv",
        "block15_expand_conv", "block15_dwconv", "block15_project_conv",
        "head_conv",
    ]  # fmt: skip
    with_bn = [layer.name for layer in fine_tune_layers(model, 0, include_batch_norm=True)]
    assert with_bn == ["head_conv", "head_bn"]


def test_out_of_range_requests_say_what_to_pick() -> None:
    from trainer.efficientnet_lite import BackboneError, build_efficientnet_lite0, fine_tune_layers

    with pytest.raises(BackboneError, match="image size 4 is out of range"):
        build_efficientnet_lite0(4, weights=False)
    model = build_efficientnet_lite0(32, weights=False)
    with pytest.raises(BackboneError, match=r"top_blocks must be 0\.\.16"):
        fine_tune_layers(model, 17)
