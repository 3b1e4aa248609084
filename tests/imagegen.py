"""Small, clearly separable labelled images, written as real PNG and JPEG files.

Each class is a shape in its own colour (red circles, green squares, blue triangles) on a noisy
light background, at a random position and size, so a tiny CNN learns them in a few epochs but
no two images are identical. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
COLOURS = {"circle": (220, 40, 40), "square": (40, 170, 60), "triangle": (40, 70, 220)}


def style(kind: str) -> tuple[str, tuple[int, int, int]]:
    """(shape, colour) of a class: fixed for CLASSES, derived from the name for any other."""
    if kind in COLOURS:
        return kind, COLOURS[kind]
    digest = hashlib.sha1(kind.encode()).digest()
    return CLASSES[digest[0] % 3], (digest[1], digest[2], digest[3])


def draw_shape(kind: str, rng: np.random.Generator, side: int = 32) -> Image.Image:
    """One RGB image of class ``kind``: a coloured shape on a noisy light background."""
    shape, base = style(kind)
    background = rng.integers(200, 256, size=(side, side, 3), dtype=np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    size = int(rng.integers(side // 2, side - 4))
    x0 = int(rng.integers(1, side - size))
    y0 = int(rng.integers(1, side - size))
    box = (x0, y0, x0 + size, y0 + size)
    jitter = rng.integers(-20, 21, size=3)
    colour = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=True))
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(x0, y0 + size), (x0 + size, y0 + size), (x0 + size // 2, y0)], fill=colour)
    return image


def write_image(path: Path, kind: str, rng: np.random.Generator, side: int = 32) -> Path:
    """Draw one image and save it as PNG or JPEG, by the path's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = draw_shape(kind, rng, side)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=95)
    else:
        image.save(path)
    return path


def write_dataset(
    root: Path,
    per_class: int = 20,
    side: int = 32,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
    start: int = 0,
) -> list[Path]:
    """Write ``root/<class>/<class>_NNN.png|jpg`` (every third one a JPEG); return the paths.

    ``start`` numbers the files, so a second call can add new files next to existing ones.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for kind in classes:
        for number in range(start, start + per_class):
            suffix = ".jpg" if number % 3 == 2 else ".png"
            name = f"{kind}_{number:03d}{suffix}"
            paths.append(write_image(root / kind / name, kind, rng, side))
    return paths
