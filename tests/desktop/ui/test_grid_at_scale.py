"""The grid's fast paths, checked for what they show: partial reloads, renamed classes,
thumbnails from the disk cache after a restart, and the visible tiles served first."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QRunnable, QThreadPool

from desktop.core.records import PredictionRow
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader
from tests.imagegen import write_dataset


def fill_with_predictions(window, folder: Path, wait_idle) -> list[int]:
    """Six images, classes cat and dog, and a model that also knows "bird"."""
    write_dataset(folder, per_class=2, side=16)
    window.answers = [False]
    window.ingest.add_paths([folder])
    wait_idle(window)
    window.session.add_class("cat")
    window.session.add_class("dog")
    project = window.session.project
    ids = [tile.image_id for tile in window.grid.tiles()]
    model_id = project.add_model("/models/m.onnx", {"classes": ["cat", "dog", "bird"]})
    probs = {0: [0.8, 0.1, 0.1], 1: [0.1, 0.8, 0.1], 2: [0.1, 0.1, 0.8]}
    project.set_predictions(
        model_id, [PredictionRow.from_probs(i, probs[n % 3], k=3) for n, i in enumerate(ids)]
    )
    window.reload_tiles()
    return ids


def predictions_shown(window) -> list[str | None]:
    return [tile.prediction for tile in window.grid.tiles()]


def test_renaming_a_class_keeps_its_predictions_on_the_tiles(window, tmp_path, wait_idle):
    fill_with_predictions(window, tmp_path / "imgs", wait_idle)
    assert predictions_shown(window) == ["cat", "dog", "bird"] * 2  # bird: the model's own name
    panel = window.classes_panel
    panel.select("cat")
    window.get_text = lambda *args: "kitten"
    panel.rename()
    assert predictions_shown(window) == ["kitten", "dog", "bird"] * 2
    window.actions["Undo"].trigger()
    assert predictions_shown(window) == ["cat", "dog", "bird"] * 2
    window.actions["Redo"].trigger()
    assert predictions_shown(window) == ["kitten", "dog", "bird"] * 2


def test_labelling_and_undo_repaint_only_the_touched_tiles(window, tmp_path, wait_idle):
    ids = fill_with_predictions(window, tmp_path / "imgs", wait_idle)
    changed: list[tuple[int, int]] = []
    window.grid.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row())))
    window.session.label([ids[1], ids[4]], window.session.class_by_shortcut(2).id)
    assert sorted(changed) == [(1, 1), (4, 4)]
    assert window.grid.tile_by_id(ids[4]).label == "dog"
    changed.clear()
    window.actions["Undo"].trigger()
    assert sorted(changed) == [(1, 1), (4, 4)]
    assert window.grid.tile_by_id(ids[4]).label is None
    assert window.grid.tile_by_id(ids[4]).prediction == "dog"


def test_a_thumbnail_comes_from_the_disk_cache_after_a_restart(qtbot, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.full((300, 400, 3), (200, 40, 40), np.uint8)).save(photo, quality=90)
    key = ThumbKey(str(photo), 64)
    first = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=1)
    with qtbot.waitSignal(first.ready, timeout=10_000):
        assert first.pixmap(key) is None  # a placeholder until it is ready
    assert first.pixmap(key).width() == 64
    first.shutdown()

    # Same path, size and mtime but content that cannot be decoded: only the cache can answer.
    stat = photo.stat()
    photo.write_bytes(b"not a jpeg any more")
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=1)
    with qtbot.waitSignal(second.ready, timeout=10_000):
        second.pixmap(key)
    assert second.pixmap(key).width() == 64 and key not in second.errors
    second.shutdown()

    # A changed file (new mtime) is decoded again, and here it is flagged with a reason.
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=1)
    with qtbot.waitSignal(third.failed, timeout=10_000):
        third.pixmap(key)
    third.shutdown()


class _Busy(QRunnable):
    """Keeps a pool's only thread busy until released, so requests stay queued."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def run(self) -> None:
        self.release.wait(30)


def test_the_latest_paint_pass_is_served_first_in_paint_order(qtbot, tmp_path):
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    busy = _Busy()
    pool.start(busy)
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", memory_items=64, pool=pool)
    missing = [ThumbKey(str(tmp_path / f"gone{i}.jpg"), 32) for i in range(600)]
    try:
        for key in missing[:300]:  # first paint pass: tiles that will scroll away
            loader.pixmap(key)
        qtbot.wait(10)  # the event loop turns: the pass is over
        for key in missing[300:310]:  # second pass: what is on screen now
            loader.pixmap(key)
        order = loader.pending_keys()
        assert order[:10] == missing[300:310]  # visible tiles first, top-left first
        assert len(order) == 256  # older requests beyond a few screens were dropped
        assert order[-1] == missing[299] and missing[1] not in order
        loader.pixmap(missing[299])  # a tile painted again moves to the front pass
        assert loader.pending_keys()[10] == missing[299]
    finally:
        busy.release.set()
    loader.forget_pending()
    loader.shutdown()
