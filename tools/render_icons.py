"""Render resources/icon.svg to the PNG, ICO and ICNS files each platform's installer wants.

Briefcase looks for ``resources/icons/pigeonhole-{size}.png`` on Linux, ``pigeonhole.ico`` on
Windows and ``pigeonhole.icns`` on macOS. The SVG is the only source we edit; run this script after
changing it (it needs ``rsvg-convert`` from Debian's ``librsvg2-bin``; Pillow writes ICO and ICNS).

    python tools/render_icons.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "icon.svg"
OUT_DIR = ROOT / "resources" / "icons"
STEM = "pigeonhole"
PNG_SIZES = (16, 32, 64, 128, 256, 512)
"""The sizes Briefcase's Linux templates install under usr/share/icons/hicolor."""
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
"""Windows picks among these for the taskbar, Explorer and the installer."""


class RenderError(Exception):
    """The icons could not be rendered; the message says what to install or fix."""


def png_path(size: int, out_dir: Path = OUT_DIR) -> Path:
    return out_dir / f"{STEM}-{size}.png"


def render_png(svg: Path, size: int, target: Path) -> None:
    """Rasterise the SVG at exactly ``size`` x ``size`` pixels with librsvg."""
    converter = shutil.which("rsvg-convert")
    if converter is None:
        raise RenderError("rsvg-convert not found: install it with `apt-get install librsvg2-bin`")
    result = subprocess.run(
        [converter, "--width", str(size), "--height", str(size), "--output", str(target), str(svg)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"rsvg-convert could not render {svg.name}: {result.stderr.strip()}")


def write_ico(pngs: dict[int, Path], target: Path) -> None:
    """One .ico holding every Windows size, each downscaled from the largest render."""
    largest = Image.open(pngs[max(pngs)]).convert("RGBA")
    largest.save(target, format="ICO", sizes=[(s, s) for s in ICO_SIZES])


def write_icns(pngs: dict[int, Path], target: Path) -> None:
    """A macOS .icns built from our own renders, so small sizes stay crisp rather than resampled."""
    images = [Image.open(pngs[size]).convert("RGBA") for size in sorted(pngs, reverse=True)]
    images[0].save(target, format="ICNS", append_images=images[1:])


def render_all(svg: Path = SVG, out_dir: Path = OUT_DIR) -> list[Path]:
    """Render every icon file; return the paths written."""
    if not svg.is_file():
        raise RenderError(f"{svg} does not exist: the icon's source SVG is missing")
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {size: png_path(size, out_dir) for size in PNG_SIZES}
    for size, target in pngs.items():
        render_png(svg, size, target)
    ico, icns = out_dir / f"{STEM}.ico", out_dir / f"{STEM}.icns"
    write_ico(pngs, ico)
    write_icns(pngs, icns)
    return [*pngs.values(), ico, icns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=SVG)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    try:
        written = render_all(args.svg, args.out)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
