"""JPEGs as cameras write them: an EXIF block with an orientation and an embedded preview.

Pillow writes EXIF but not IFD1, where the preview lives, so this builds the small TIFF structure
by hand: IFD0 holds the orientation and points to IFD1, which holds the preview's offset and
length; the preview's JPEG bytes follow. Offsets count from the TIFF header, as the standard says.
"""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from tests.badimages import encode

SHORT, LONG = 3, 4
JPEG_COMPRESSION = 6


def _ifd(entries: list[tuple[int, int, int]], next_offset: int) -> bytes:
    """A little-endian IFD of one-value SHORT/LONG entries: (tag, type, value)."""
    out = struct.pack("<H", len(entries))
    for tag, kind, value in sorted(entries):
        packed = struct.pack("<Hxx", value) if kind == SHORT else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, 1) + packed
    return out + struct.pack("<I", next_offset)


def exif_with_preview(preview_jpeg: bytes, orientation: int = 1) -> bytes:
    """An APP1 payload ("Exif\\0\\0" + TIFF) with ``orientation`` and ``preview_jpeg`` in IFD1."""
    ifd0_at = 8
    ifd1_at = ifd0_at + 2 + 12 + 4
    preview_at = ifd1_at + 2 + 3 * 12 + 4
    ifd0 = _ifd([(0x0112, SHORT, orientation)], ifd1_at)
    ifd1 = _ifd(
        [
            (0x0103, SHORT, JPEG_COMPRESSION),
            (0x0201, LONG, preview_at),
            (0x0202, LONG, len(preview_jpeg)),
        ],
        0,
    )
    tiff = b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0 + ifd1 + preview_jpeg
    return b"Exif\x00\x00" + tiff


def save_camera_jpeg(
    image: Image.Image,
    path: Path,
    preview: Image.Image | None = None,
    orientation: int = 1,
    quality: int = 90,
) -> Path:
    """Save ``image`` with a camera's preview (default: 160 px on the long side, its shape)."""
    if preview is None:
        preview = image.copy()
        preview.thumbnail((160, 160), Image.Resampling.BILINEAR)
    exif = exif_with_preview(encode(preview, "JPEG", quality=85), orientation)
    image.save(path, format="JPEG", quality=quality, exif=exif)
    return path
