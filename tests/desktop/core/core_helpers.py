"""Real files for the core tests: tiny images made with Pillow, and a fresh-connection reader."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PIL import Image


def make_image(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """Write a real 8x8 image (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return path


def make_images(folder: Path, n: int, prefix: str = "img", suffix: str = ".png") -> list[Path]:
    return [
        make_image(folder / f"{prefix}{i:03d}{suffix}", (i * 9 % 256, 40, 90)) for i in range(n)
    ]


def fresh_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read with a brand-new connection, as another process (or the next launch) would."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def labels_in_file(db: Path) -> dict[str, str]:
    """path -> class name, straight from the SQLite file."""
    rows = fresh_rows(
        db,
        "SELECT i.path, c.name FROM labels l JOIN images i ON i.id = l.image_id "
        "JOIN classes c ON c.id = l.class_id",
    )
    return dict(rows)
