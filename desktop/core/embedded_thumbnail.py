"""The small preview that cameras and phones embed in a JPEG's EXIF block, when it is good enough.

Decoding a 12 MP JPEG costs ~40 ms of CPU even at 1/8 scale, because the entropy-coded data must
be read whole; the embedded preview (160x120 by the DCF standard, larger on most phones) decodes
in about a millisecond. File browsers and photo managers show it for the same reason. We use it
only for a tile it fills without upscaling and only when it has the main image's shape, since
cameras letterbox a 16:9 photo into a 4:3 preview; otherwise the caller decodes the image itself.
It is never used for the model: ``trainer.contract.decode_for_model`` alone feeds the model.
"""

from __future__ import annotations

import io
import os
import struct

from PIL import ExifTags, Image, ImageOps

ORIENTATION_TAG = 0x0112
THUMBNAIL_OFFSET_TAG = 0x0201  # JPEGInterchangeFormat, counted from the TIFF header
THUMBNAIL_LENGTH_TAG = 0x0202  # JPEGInterchangeFormatLength
EXIF_PREFIX = b"Exif\x00\x00"
ASPECT_TOLERANCE = 0.02
"""How far the preview's width/height may stray from the photo's (rounding of 160x120 etc.)."""


def embedded_thumbnail(path: str | os.PathLike[str], size: int) -> Image.Image | None:
    """The upright RGB preview embedded in ``path`` if its long side reaches ``size``, else None.

    Any problem (no EXIF, no preview, a preview of the wrong shape or a broken one) gives None:
    the caller then decodes the image, and that decode reports what is wrong with the file.
    """
    if not os.path.isfile(path):  # a pipe named photo.jpg would block the open forever
        return None
    try:
        with Image.open(path) as img:
            if img.format != "JPEG" or "exif" not in img.info:
                return None
            main_size = img.size
            exif = img.getexif()
            preview = _preview_bytes(img.info["exif"], exif)
            orientation = exif.get(ORIENTATION_TAG, 1)
        if preview is None:
            return None
        with Image.open(io.BytesIO(preview)) as thumb:
            if thumb.format != "JPEG" or not _fits(thumb.size, main_size, size):
                return None
            thumb.draft("RGB", (size, size))
            rgb = thumb.convert("RGB")
        # The preview is stored as the sensor saw it: give it the photo's orientation and let
        # Pillow turn it upright exactly as trainer.contract.open_image turns the photo.
        rgb.getexif()[ORIENTATION_TAG] = orientation
        return ImageOps.exif_transpose(rgb)
    except (OSError, ValueError, SyntaxError, EOFError, LookupError, TypeError, struct.error):
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        return None


def _preview_bytes(raw: bytes, exif: Image.Exif) -> bytes | None:
    """The embedded JPEG's bytes, found through IFD1's offset and length, bounds checked."""
    ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
    offset, length = ifd1.get(THUMBNAIL_OFFSET_TAG), ifd1.get(THUMBNAIL_LENGTH_TAG)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return None
    while raw.startswith(EXIF_PREFIX):  # offsets count from the TIFF header; Pillow strips 1-2
        raw = raw[len(EXIF_PREFIX) :]
    data = raw[offset : offset + length]
    return data if len(data) == length and data.startswith(b"\xff\xd8") else None


def _fits(thumb: tuple[int, int], main: tuple[int, int], size: int) -> bool:
    """True when the preview fills a ``size`` tile unscaled-up and has the photo's proportions."""
    (tw, th), (mw, mh) = thumb, main
    if min(tw, th, mw, mh) <= 0 or max(tw, th) < size:
        return False
    return abs(tw / th - mw / mh) <= ASPECT_TOLERANCE * (mw / mh)
