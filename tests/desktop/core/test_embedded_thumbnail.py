"""The camera's embedded preview is used only when it is right, and never breaks a thumbnail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.core.embedded_thumbnail import embedded_thumbnail
from desktop.ui.thumbnails import ThumbKey, make_thumbnail
from tests.badimages import encode, good_controls, make_bad_corpus
from tests.camera_jpeg import exif_with_preview, save_camera_jpeg
from trainer.contract import open_image

RED, BLUE = (220, 30, 30), (30, 30, 220)


def quadrants(width: int, height: int) -> Image.Image:
    """Four colours, one per quadrant: every flip and rotation gives a different picture."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, : width // 2] = (230, 20, 20)
    pixels[: height // 2, width // 2 :] = (20, 230, 20)
    pixels[height // 2 :, : width // 2] = (20, 20, 230)
    pixels[height // 2 :, width // 2 :] = (240, 240, 20)
    return Image.fromarray(pixels)


def corner_colours(img: Image.Image) -> list[tuple[int, ...]]:
    small = np.asarray(img.convert("RGB").resize((4, 4), Image.Resampling.BILINEAR), np.int16)
    return [tuple(int(v) // 40 for v in small[y, x]) for y, x in ((0, 0), (0, 3), (3, 0), (3, 3))]


def test_the_preview_is_used_when_it_fills_the_tile(tmp_path: Path):
    path = save_camera_jpeg(
        Image.new("RGB", (800, 600), BLUE), tmp_path / "p.jpg", Image.new("RGB", (160, 120), RED)
    )
    thumb = embedded_thumbnail(path, 128)
    assert thumb is not None and thumb.size == (160, 120)
    assert np.abs(np.asarray(thumb, np.int16)[60, 80] - RED).max() < 12  # the preview
    tile = make_thumbnail(ThumbKey(str(path), 128), tmp_path / "cache")
    assert (tile.width(), tile.height()) == (128, 96)
    assert tile.pixelColor(64, 48).red() > 180


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_preview_is_upright_as_the_model_sees_the_photo(tmp_path: Path, orientation: int):
    photo = quadrants(640, 480)
    path = save_camera_jpeg(photo, tmp_path / "p.jpg", orientation=orientation)
    thumb = embedded_thumbnail(path, 128)
    assert thumb is not None
    assert corner_colours(thumb) == corner_colours(open_image(path))


def test_a_letterboxed_preview_is_not_used(tmp_path: Path):
    """Cameras put a 16:9 photo in a 4:3 preview with black bars: that would show the bars."""
    path = save_camera_jpeg(
        Image.new("RGB", (1600, 900), BLUE), tmp_path / "wide.jpg", Image.new("RGB", (160, 120))
    )
    assert embedded_thumbnail(path, 128) is None
    thumb = make_thumbnail(ThumbKey(str(path), 128), tmp_path / "cache")
    assert (thumb.width(), thumb.height()) == (128, 72)
    assert thumb.pixelColor(64, 36).blue() > 180  # decoded from the photo


def test_a_preview_smaller_than_the_tile_is_not_used(tmp_path: Path):
    path = save_camera_jpeg(Image.new("RGB", (800, 600), BLUE), tmp_path / "p.jpg")
    assert embedded_thumbnail(path, 128) is not None
    assert embedded_thumbnail(path, 192) is None
    thumb = make_thumbnail(ThumbKey(str(path), 192), tmp_path / "cache")
    assert (thumb.width(), thumb.height()) == (192, 144)


@pytest.mark.parametrize(
    "damage",
    [
        lambda preview: preview[: len(preview) // 3],  # preview cut short: length runs past it
        lambda preview: b"\xff\xd8" + b"\x00" * (len(preview) - 2),  # JPEG start, garbage after
        lambda preview: b"GIF89a" + preview[6:],  # not a JPEG
    ],
    ids=["truncated", "garbage", "not-jpeg"],
)
def test_a_broken_preview_falls_back_to_decoding_the_photo(tmp_path: Path, damage):
    good = encode(Image.new("RGB", (160, 120), RED), "JPEG", quality=90)
    exif = exif_with_preview(good)
    broken = exif.replace(good, damage(good))
    path = tmp_path / "p.jpg"
    Image.new("RGB", (800, 600), BLUE).save(path, quality=90, exif=broken)
    assert embedded_thumbnail(path, 128) is None
    thumb = make_thumbnail(ThumbKey(str(path), 128), tmp_path / "cache")
    assert (thumb.width(), thumb.height()) == (128, 96)
    assert thumb.pixelColor(64, 48).blue() > 180


def test_files_without_a_usable_preview_give_none_and_never_raise(tmp_path: Path):
    """The whole bad-image corpus, pipes and loops included: None, at once, for each."""
    cases = make_bad_corpus(tmp_path / "bad") + good_controls(tmp_path / "good")
    for case in cases:
        assert embedded_thumbnail(case.path, 16) is None, case.kind
