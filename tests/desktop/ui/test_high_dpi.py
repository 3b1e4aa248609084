"""On a 2x screen thumbnails and the preview carry twice the pixels, so they are not blurred.

Qt fixes the device pixel ratio when the application starts, so the window runs in a child
process with ``QT_SCALE_FACTOR=2`` (which the offscreen platform honours).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from desktop.ui.main_window import MainWindow
    from desktop.ui.thumbnails import ThumbKey

    app = QApplication([])
    folder, images = map(Path, sys.argv[1:3])
    window = MainWindow(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                        thumbnail_cache=folder / "thumbs")
    window.ask = lambda title, question: False
    window.project_files.open_path(folder / "p.pigeonhole")
    window.set_thumb_size(128)
    window.resize(1000, 700)
    window.show()
    window.ingest.add_paths([images])
    deadline = time.monotonic() + 120
    grid = window.grid

    def thumbs():
        return [window.thumbnails.pixmap(ThumbKey(t.path, grid.thumb_pixels)) for t in grid.tiles()]

    while time.monotonic() < deadline and (
        window.jobs.busy() or grid.rowCount() < 2 or None in thumbs()
    ):
        app.processEvents()
        time.sleep(0.01)
    window.view.select_row(0)
    while time.monotonic() < deadline and window.preview.image.pixmap().isNull():
        app.processEvents()
        time.sleep(0.01)
    preview = window.preview.image.pixmap()
    print(json.dumps({
        "ratio": window.devicePixelRatioF(),
        "thumb_pixels": grid.thumb_pixels,
        "thumb_widths": sorted(p.width() for p in thumbs()),
        "preview_ratio": preview.devicePixelRatio(),
        "preview_width": preview.width(),
        "label_width": window.preview.image.width(),
    }))
    window.shutdown()
    """
)


def test_a_2x_screen_gets_thumbnails_and_preview_at_twice_the_pixels(tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (1200, 900), (40 * i, 120, 200)).save(images / f"{i}.jpg", quality=90)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(images)],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ratio"] == 2.0
    assert seen["thumb_pixels"] == 256
    assert seen["thumb_widths"] == [256, 256]  # 4:3 photos fill a 256-pixel box
    assert seen["preview_ratio"] == 2.0
    assert seen["preview_width"] > seen["label_width"]  # more device pixels than logical ones
