"""A generated corpus of the image files that break image tools, each with what must happen to it.

Users point Pigeonhole at folders they did not curate: phone photos lying on their side, scans in
CMYK, half-copied files, things that only look like images. Every path that reads images (the
scanner, thumbnails, classify, the trainer) runs through this one corpus, so each of them is held to
the same expectation: a usable image decodes to the pixels a person sees, anything else is flagged
with a reason a person understands, and no file is ever changed or removed.

Everything is made in a few milliseconds from numpy arrays and hand-written bytes: no fixtures on
disk, and no decoder is trusted to produce the files it is then tested on where it can be avoided.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 32
"""Side of most generated images: tiny, and a multiple of 8 so JPEG blocks stay flat."""

EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class BadCase:
    """One awkward file and what every reader must make of it.

    Exactly one of ``reason`` (unreadable: a substring of the reason shown to the user) and
    ``expected`` (readable: the upright 8-bit RGB pixels at full size) is set. ``tolerance`` is the
    largest per-channel difference allowed from ``expected`` (lossy formats need a little).
    ``skip`` says why this machine cannot produce the situation (e.g. root ignores chmod 000).
    """

    kind: str
    path: Path
    reason: str | None = None
    expected: np.ndarray | None = field(default=None, repr=False, compare=False)
    tolerance: int = 0
    skip: str | None = None

    @property
    def readable(self) -> bool:
        return self.expected is not None


# ---------------------------------------------------------------------------------------------
# Pixel sources


def blocks_image(rows: int = 4, cols: int = 4, block: int = 8, seed: int = 0) -> np.ndarray:
    """Flat-coloured 8x8 blocks: JPEG keeps them almost exactly, and every layout is asymmetric."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(16, 240, size=(rows, cols, 3), dtype=np.uint8)
    colours[0, 0] = (250, 20, 20)  # a red top-left corner makes any wrong rotation obvious
    return np.kron(colours, np.ones((block, block, 1), dtype=np.uint8))


EXIF_STORED_FROM_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],  # mirrored left-right
    3: lambda u: np.rot90(u, 2),
    4: lambda u: u[::-1, :],  # mirrored top-bottom
    5: lambda u: u.transpose(1, 0, 2),  # row 0 is the left side, column 0 the top
    6: lambda u: np.rot90(u, 1),  # row 0 is the right side (camera turned clockwise)
    7: lambda u: np.rot90(u, 2).transpose(1, 0, 2),  # row 0 is the right side, column 0 the bottom
    8: lambda u: np.rot90(u, -1),  # row 0 is the left side, column 0 the bottom
}
"""How a camera stores an upright picture for each EXIF Orientation value (EXIF 2.3, tag 0x0112).

Written from the standard's row/column wording with numpy, not with Pillow, so the decoder under
test is not also the source of truth.
"""


def over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """What a viewer shows for a translucent pixel on a white page."""
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.rint(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Hand-written file bytes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its parts, so we can declare sizes no encoder would write."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def bomb_png(width: int, height: int) -> bytes:
    """A real 1-bit black PNG of ``width`` x ``height``: kilobytes on disk, gigabytes decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    chunk_rows = 1000
    parts = [packer.compress(row * chunk_rows) for _ in range(height // chunk_rows)]
    parts.append(packer.compress(row * (height % chunk_rows)))
    parts.append(packer.flush())
    return png_bytes(width, height, 1, 0, b"".join(parts))


def heic_bytes() -> bytes:
    """The opening boxes of a HEIC file (what an iPhone writes), without image data."""
    ftyp = b"ftyp" + b"heic" + struct.pack(">I", 0) + b"mif1heic"
    meta = b"meta" + b"\x00" * 24
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + struct.pack(">I", 4 + len(meta)) + meta


def encode(pixels: np.ndarray | Image.Image, fmt: str, **options: object) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_q100(pixels: np.ndarray | Image.Image, **options: object) -> bytes:
    """Near-lossless JPEG: no chroma subsampling, so flat blocks survive to within 1-2 levels."""
    return encode(pixels, "JPEG", quality=100, subsampling=0, **options)


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    return exif.tobytes()


# ---------------------------------------------------------------------------------------------
# The corpus


class _Corpus:
    """Collects cases while writing their files; one method per family of trouble."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cases: list[BadCase] = []

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def unreadable(self, kind: str, name: str, data: bytes, reason: str) -> None:
        self.cases.append(BadCase(kind, self.write(name, data), reason=reason))

    def readable(
        self, kind: str, name: str, data: bytes, expected: np.ndarray, tolerance: int = 0
    ) -> None:
        path = self.write(name, data)
        self.cases.append(BadCase(kind, path, expected=expected, tolerance=tolerance))

    def broken_files(self) -> None:
        pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        jpeg, png = encode(pixels, "JPEG", quality=90), encode(pixels, "PNG")
        self.unreadable("zero-byte", "empty.jpg", b"", "empty file")
        self.unreadable("truncated JPEG", "truncated.jpg", jpeg[: len(jpeg) // 2], "truncated")
        self.unreadable("truncated PNG", "truncated.png", png[: len(png) // 2], "truncated")
        noise = np.random.default_rng(2).bytes(4096)
        self.unreadable("random bytes named .jpg", "noise.jpg", noise, "not an image format")
        text = b"Dear diary,\nthis is not a picture.\n" * 20
        self.unreadable("text named .png", "notes.png", text, "not an image format")
        self.unreadable("HEIC without a decoder", "iphone.heic", heic_bytes(), "not supported")

    def oversized(self) -> None:
        over = int(Image.MAX_IMAGE_PIXELS**0.5) + 1000  # just over the limit: a real bomb
        self.unreadable("decompression bomb", "bomb.png", bomb_png(over, over), "too large")
        tiny = png_bytes(1_000_000, 1_000_000, 8, 2, zlib.compress(b"\x00" * 64))
        self.unreadable("huge declared size, tiny file", "claims_huge.png", tiny, "too large")

    def exif_orientations(self) -> None:
        upright = blocks_image(4, 6)  # 32 x 48: rotations change the shape as well
        for orientation, stored_from in EXIF_STORED_FROM_UPRIGHT.items():
            stored = np.ascontiguousarray(stored_from(upright))
            data = jpeg_q100(stored, exif=exif_with_orientation(orientation))
            name = f"exif_orientation_{orientation}.jpg"
            self.readable(f"EXIF orientation {orientation}", name, data, upright, tolerance=2)
        damaged = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03\xff\xff\xff\xff"
        data = jpeg_q100(blocks_image(seed=3), exif=damaged)
        self.readable("damaged EXIF block", "damaged_exif.jpg", data, blocks_image(seed=3), 2)

    def colour_modes(self) -> None:
        rgb = blocks_image(seed=4)
        cmyk = Image.fromarray(rgb).convert("CMYK")
        self.readable("CMYK JPEG", "cmyk.jpg", jpeg_q100(cmyk), rgb, tolerance=2)

        indices = np.arange(SIDE * SIDE, dtype=np.uint8).reshape(SIDE, SIDE) % 4
        palette = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (0, 0, 0)]
        paletted = Image.frombytes("P", (SIDE, SIDE), indices.tobytes())
        paletted.putpalette([c for colour in palette for c in colour])
        data = encode(paletted, "PNG", transparency=3)
        shown = np.array([*palette[:3], (255, 255, 255)], dtype=np.uint8)[indices]
        self.readable("palette with transparency", "palette_transparent.png", data, shown)

        ramp = np.linspace(0, 65535, SIDE * SIDE).reshape(SIDE, SIDE).astype(np.uint16)
        data = encode(Image.fromarray(ramp), "PNG")
        self.readable("16-bit greyscale", "grey16.png", data, grey_to_rgb(np.rint(ramp / 257.0)))

        alpha = np.tile(np.array([0, 128, 255, 255], dtype=np.uint8), SIDE * SIDE // 4)
        alpha = alpha.reshape(SIDE, SIDE)
        grey = rgb[..., 1]
        data = encode(Image.fromarray(np.dstack([grey, alpha])), "PNG")
        self.readable(
            "LA (grey + alpha)", "grey_alpha.png", data, over_white(grey_to_rgb(grey), alpha), 1
        )
        data = encode(Image.fromarray(np.dstack([rgb, alpha])), "PNG")
        self.readable("RGBA", "rgba.png", data, over_white(rgb, alpha), tolerance=1)

        depth = np.linspace(-1.0, 3.0, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
        depth[0, 0], depth[0, 1] = np.nan, np.inf  # what depth cameras write for "no reading"
        finite = np.isfinite(depth)
        low, high = float(depth[finite].min()), float(depth[finite].max())
        scaled = np.where(finite, (depth.astype(np.float64) - low) * (255.0 / (high - low)), 0)
        data = encode(Image.fromarray(depth), "TIFF")
        self.readable("float greyscale with NaN", "depth.tif", data, grey_to_rgb(np.rint(scaled)))

    def many_frames(self) -> None:
        colours = [(220, 40, 40), (40, 220, 40), (40, 40, 220)]
        frames = [Image.new("RGB", (SIDE, SIDE), c) for c in colours]
        first = np.asarray(frames[0])
        options = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
        self.readable(
            "animated GIF (first frame)", "animated.gif", encode(frames[0], "GIF", **options), first
        )
        webp = encode(frames[0], "WEBP", lossless=True, **options)
        self.readable("animated WebP (first frame)", "animated.webp", webp, first)
        tiff = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
        self.readable("multi-page TIFF (first page)", "pages.tif", tiff, first)

    def awkward_names(self) -> None:
        pixels = blocks_image(seed=5)
        png = encode(pixels, "PNG")
        self.readable("unicode name", "Grüße 猫の写真 ✓.png", png, pixels)
        self.readable("spaces in name", " holiday  photo (1) .png", png, pixels)
        long_name = "a very long name " * 14 + ".png"  # 242 bytes: near the 255-byte limit
        self.readable("very long name", long_name, png, pixels)
        self.readable("PNG named .jpg", "really_a_png.jpg", png, pixels)

    def filesystem_traps(self) -> None:
        loop_a, loop_b = self.folder / "loop_a.jpg", self.folder / "loop_b.jpg"
        loop_a.symlink_to(loop_b.name)
        loop_b.symlink_to(loop_a.name)
        self.cases.append(BadCase("symlink loop", loop_a, reason="symbolic link"))

        folder = self.folder / "folder.jpg"  # a folder named like an image, holding a loop back up
        folder.mkdir()
        (folder / "up").symlink_to("..", target_is_directory=True)
        self.cases.append(BadCase("folder named like an image", folder, reason="folder"))

        locked = self.write("no_permission.png", encode(blocks_image(seed=6), "PNG"))
        locked.chmod(0)
        skip = None if _is_locked(locked) else "running as root: chmod 000 does not stop reading"
        self.cases.append(BadCase("no read permission", locked, reason="permission", skip=skip))

        fifo = self.folder / "pipe.jpg"  # opening a pipe waits for a writer that never comes
        os.mkfifo(fifo)
        self.cases.append(BadCase("named pipe named .jpg", fifo, reason="not a file"))

        gone = self.write("deleted_before_read.jpg", jpeg_q100(blocks_image(seed=7)))
        gone.unlink()
        self.cases.append(BadCase("deleted after listing", gone, reason="not found"))


def _is_locked(path: Path) -> bool:
    try:
        with path.open("rb"):
            return False
    except PermissionError:
        return True


def make_bad_corpus(folder: Path) -> list[BadCase]:
    """Write the corpus into ``folder`` (created if needed) and return each case's expectation."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(folder)
    corpus.broken_files()
    corpus.oversized()
    corpus.exif_orientations()
    corpus.colour_modes()
    corpus.many_frames()
    corpus.awkward_names()
    corpus.filesystem_traps()
    return corpus.cases


def good_controls(folder: Path) -> list[BadCase]:
    """Two ordinary images, so a reader that rejects everything cannot pass."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(folder)
    pixels = blocks_image(seed=8)
    corpus.readable("plain JPEG", "plain.jpg", jpeg_q100(pixels), pixels, tolerance=2)
    corpus.readable("plain PNG", "plain.png", encode(pixels, "PNG"), pixels)
    return corpus.cases


# ---------------------------------------------------------------------------------------------
# Proof that nothing was touched


def fingerprint(folder: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``folder`` without following links: content hash, mode, size, mtime.

    Compared before and after a reader runs, this shows no file was deleted, added, changed or
    re-permissioned. Unreadable files (no permission, not root) are fingerprinted by stat alone.
    """
    prints: dict[str, tuple[object, ...]] = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(root, name)
            info = path.lstat()
            key = str(path.relative_to(folder))
            if stat.S_ISLNK(info.st_mode):
                prints[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                prints[key] = ("dir", info.st_mode)
            elif not stat.S_ISREG(info.st_mode):
                prints[key] = ("special", info.st_mode)
            else:
                prints[key] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, _digest(path))
    return prints


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:
        return None
