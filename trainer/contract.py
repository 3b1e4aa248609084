"""The contract between the trainer and the desktop app.

Both sides import this module, and only this module, to turn an image file into model input and
to read or write the facts a model file carries. It depends on numpy and Pillow alone, so the
desktop can import it without TensorFlow, and training and inference see the same pixels.

Pixel policy (``decode_for_model``):
  1. EXIF orientation is applied, so a phone photo is upright everywhere.
  2. The first frame of animated or multi-page files is used.
  3. Any mode becomes 8-bit RGB: 16-bit and 32-bit greyscale are scaled (not clipped) to 0..255,
     transparency is composited over white (the way image viewers show it).
  4. The image is squashed to ``size`` x ``size`` with Pillow's antialiased bilinear filter: the
     whole picture is kept (no crop), aspect ratio is not. JPEGs are first decoded by scaled DCT
     (``Image.draft``) at the smallest scale that is still at least ``size``, which is much faster
     on large photos and changes pixels only below what the resize removes anyway.
  5. The model receives float32 RGB in 0..255, shape (N, size, size, 3); any normalisation lives
     inside the model graph, so no caller can get it wrong.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Names in the ONNX graph.
INPUT_NAME = "image"
PROBS_OUTPUT = "probs"
EMBEDDING_OUTPUT = "embedding"
FEATURE_MAP_OUTPUT = "feature_map"
"""The last convolutional feature map (N, h, w, D), the input of the pooling that makes the
embedding: with the linear head it gives exact class activation maps. Models exported before
it existed lack it; the app then says so instead of drawing a heat map."""

# Key prefix for ONNX metadata_props written by the trainer.
METADATA_PREFIX = "pigeonhole."
FORMAT_VERSION = 1
PREPROCESSING = "exif-transpose, rgb (alpha over white), squash-bilinear, float32 0..255"

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".jfif",
        ".ppm",
        ".pgm",
        ".avif",
    }
    | {".heic", ".heif"}  # listed so they are flagged "not supported", not silently ignored
)
"""File suffixes we treat as images when scanning folders (case-insensitive)."""


class UnreadableImage(Exception):
    """An image file we cannot use, with a reason a person understands."""


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True for names that look like images; content is checked only when decoded."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def open_image(path: str | os.PathLike[str], min_size: int | None = None) -> Image.Image:
    """Open, decode and orient an image as 8-bit RGB, at least ``min_size`` on each side.

    With ``min_size``, JPEGs are decoded by scaled DCT straight to the smallest scale that keeps
    both sides at least ``min_size`` (or the full size when smaller). Thumbnails use this too, so
    they show exactly the orientation and colours the model sees.
    """
    path = Path(path)
    with _unreadable_as_reason(path, "image data"):
        _require_regular_file(path)
        # Pillow warns above MAX_IMAGE_PIXELS; _refuse_bombs refuses at that same limit. (A
        # warnings filter would not do: filters are process-wide and decoding runs in threads.)
        with Image.open(path) as img:
            _refuse_bombs(img)
            if min_size and img.format == "JPEG":
                img.draft("RGB", _draft_request(img, min_size))
            img.load()
            oriented = ImageOps.exif_transpose(img)
            return _to_rgb(oriented)


def check_image_header(path: str | os.PathLike[str], handle: BinaryIO | None = None) -> str:
    """The format name when the decoder recognises the file by its header; else UnreadableImage.

    Reads only the header (no pixels), so it is cheap enough to run on every file before it is
    added from someone's CSV or copied by an export. With ``handle`` (an open file, rewound after)
    the bytes checked are the bytes the caller goes on to read; ``path`` is then only for messages.
    """
    path = Path(path)
    try:
        with _unreadable_as_reason(path, "image header"):
            if handle is None:
                _require_regular_file(path)
            with Image.open(handle if handle is not None else path) as img:
                _refuse_bombs(img)
                return str(img.format)
    finally:
        if handle is not None:
            handle.seek(0)


@contextmanager
def _unreadable_as_reason(path: Path, what: str) -> Iterator[None]:
    """Whatever opening ``path`` raised, as an UnreadableImage whose message a user can act on."""
    try:
        yield
    except UnreadableImage:
        raise
    except FileNotFoundError as exc:
        raise UnreadableImage("file not found (moved or deleted?)") from exc
    except PermissionError as exc:
        raise UnreadableImage("no permission to read the file") from exc
    except IsADirectoryError as exc:
        raise UnreadableImage("is a folder, not an image file") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(_unidentified_reason(path)) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableImage(f"image too large to decode safely ({exc})") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableImage("symbolic link loop") from exc
        raise UnreadableImage(f"corrupt or truncated {what} ({exc})") from exc
    except (ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        raise UnreadableImage(f"corrupt {what} ({type(exc).__name__}: {exc})") from exc
    except MemoryError as exc:
        raise UnreadableImage("not enough memory to decode this image") from exc


def decode_for_model(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """THE decode function: a file becomes a (size, size, 3) uint8 RGB array for the model.

    Raises UnreadableImage with a reason for anything that is not a usable image.
    """
    img = open_image(path, min_size=size)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _require_regular_file(path: Path) -> None:
    """Refuse pipes, sockets and devices: opening a pipe named photo.jpg would wait forever."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    if not stat.S_ISREG(mode):
        raise UnreadableImage("not a file but a pipe, socket or device, so not an image")


def _refuse_bombs(img: Image.Image) -> None:
    """Refuse absurd declared sizes before decoding a pixel: tiny files can claim huge sizes."""
    width, height = img.size
    limit = Image.MAX_IMAGE_PIXELS
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"invalid image dimensions {width}x{height}")
    if limit and width * height > limit:
        raise UnreadableImage(
            f"image too large to decode safely: {width}x{height} pixels "
            f"(limit {limit:,} pixels; possible decompression bomb)"
        )


def _draft_request(img: Image.Image, min_size: int) -> tuple[int, int]:
    """The size to ask ``draft`` for so that the short side still reaches ``min_size``."""
    width, height = img.size
    short = min(width, height)
    if short <= min_size:
        return width, height
    scale = min_size / short
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, scaling deep greyscale and flattening alpha onto white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_deep_grey_to_uint8(np.asarray(img)), mode="L").convert("RGB")
    if (mode == "P" and "transparency" in img.info) or mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _deep_grey_to_uint8(values: np.ndarray) -> np.ndarray:
    """16/32-bit or float greyscale to 0..255 without clipping bright images to white."""
    is_float = values.dtype.kind == "f"
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, dtype=np.uint8)
    low, high = float(values[finite].min()), float(values[finite].max())
    values = np.where(finite, values, low)  # NaN and infinities (float TIFFs) show as black
    if not is_float and low >= 0 and high <= 65535:
        scaled = values / 257.0
    else:
        span = high - low or 1.0
        scaled = (values - low) * (255.0 / span)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _unidentified_reason(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if size == 0:
        return "empty file (0 bytes)"
    suffix = path.suffix.lower()
    if suffix in {".heic", ".heif", ".avif"}:
        return f"{suffix[1:].upper()} images are not supported (no decoder installed)"
    return "not an image format we can read (unknown or corrupt header)"


@dataclass(frozen=True)
class ModelInfo:
    """What a Pigeonhole model file says about itself, stored in ONNX ``metadata_props``."""

    classes: list[str]
    input_size: int
    backbone: str
    trainer_version: str
    preprocessing: str = PREPROCESSING
    format_version: int = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    def to_props(self) -> dict[str, str]:
        """Flat string map for ONNX metadata_props."""
        props = {
            "classes": json.dumps(self.classes),
            "input_size": str(self.input_size),
            "backbone": self.backbone,
            "trainer_version": self.trainer_version,
            "preprocessing": self.preprocessing,
            "format_version": str(self.format_version),
        }
        props.update(self.extra)
        return {METADATA_PREFIX + key: value for key, value in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelInfo:
        """Parse metadata_props; raise InvalidModelInfo saying what is missing or wrong."""
        ours = {
            k[len(METADATA_PREFIX) :]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)
        }
        if "classes" not in ours:
            raise InvalidModelInfo(
                "the model has no Pigeonhole class names: was it exported by `python -m trainer`?"
            )
        try:
            classes = json.loads(ours.pop("classes"))
            input_size = int(ours.pop("input_size"))
            format_version = int(ours.pop("format_version", "1"))
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidModelInfo(f"the model's Pigeonhole metadata is damaged ({exc})") from exc
        if (
            not isinstance(classes, list)
            or len(classes) < 2
            or not all(isinstance(c, str) and c for c in classes)
        ):
            raise InvalidModelInfo("the model's class list must name at least two classes")
        if len(set(classes)) != len(classes):
            raise InvalidModelInfo("the model's class list has duplicate names")
        if not 8 <= input_size <= 2048:
            raise InvalidModelInfo(f"the model's input size {input_size} is out of range")
        if format_version > FORMAT_VERSION:
            raise InvalidModelInfo(
                f"the model was written by a newer Pigeonhole (format {format_version}); "
                "update Pigeonhole to use it"
            )
        return cls(
            classes=classes,
            input_size=input_size,
            backbone=ours.pop("backbone", "unknown"),
            trainer_version=ours.pop("trainer_version", "unknown"),
            preprocessing=ours.pop("preprocessing", PREPROCESSING),
            format_version=format_version,
            extra=ours,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class InvalidModelInfo(ValueError):
    """The model file lacks our metadata or carries metadata we cannot use."""
