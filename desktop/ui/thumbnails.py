"""Thumbnails made off the GUI thread, cached on disk and in memory, what is on screen first.

Thumbnails are the preview a camera embedded in the file when it fills the tile with the photo's
shape (desktop/core/embedded_thumbnail.py: ~1 ms instead of ~40 ms for a 12 MP JPEG), otherwise
decoded by ``trainer.contract.open_image`` at thumbnail size (JPEG draft mode). Either way a tile
is upright as the model sees it (the photo's EXIF orientation is applied to its preview). The
disk cache key is path + size + mtime (read in the worker, so the GUI thread never stats files): an
edited file gets a fresh thumbnail and an unchanged one is never decoded twice, even after a
restart. Several worker threads decode at once (Pillow releases the GIL while decoding).

Order: the tiles a view paints in one pass are the ones on screen, so requests made in the same
pass form a "generation". The newest generation is served first, top-left to bottom-right; older
ones (tiles that scrolled away) wait, and beyond a few screens' worth they are dropped: a tile that
comes back into view asks again when it is painted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from desktop.core.embedded_thumbnail import embedded_thumbnail
from desktop.core.paths import thumbnail_cache_dir
from trainer.contract import UnreadableImage, open_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbKey:
    """One thumbnail in memory: a file at one size."""

    path: str
    size: int


def cache_file(cache_dir: Path, key: ThumbKey, mtime: float) -> Path:
    text = f"{key.path}\0{key.size}\0{mtime!r}"
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return cache_dir / str(key.size) / digest[:2] / f"{digest}.jpg"


def make_thumbnail(key: ThumbKey, cache_dir: Path) -> QImage:
    """Read the disk cache or decode the image; raises UnreadableImage with the reason."""
    try:
        mtime = Path(key.path).stat().st_mtime
    except FileNotFoundError as exc:
        raise UnreadableImage("file not found (moved or deleted?)") from exc
    except OSError as exc:
        raise UnreadableImage(f"cannot read the file ({exc.strerror})") from exc
    cached = cache_file(cache_dir, key, mtime)
    if cached.is_file():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    img = embedded_thumbnail(key.path, key.size)
    if img is None:
        img = open_image(key.path, min_size=key.size)
    img.thumbnail((key.size, key.size), Image.Resampling.BILINEAR)
    _save_quietly(img, cached)
    data = img.tobytes("raw", "RGB")
    image = QImage(data, img.width, img.height, img.width * 3, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: ``data`` dies with this frame


def _save_quietly(img: Image.Image, target: Path) -> None:
    """A cache that cannot be written only costs speed; log it, keep going."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{threading.get_ident()}.tmp")
        img.save(tmp, format="JPEG", quality=85)
        tmp.replace(target)
    except OSError as exc:
        log.warning("could not write thumbnail cache %s: %s", target, exc)


class _Signals(QObject):
    done = Signal(object, object)  # ThumbKey, QImage
    failed = Signal(object, str)  # ThumbKey, reason


class _Task(QRunnable):
    def __init__(self, loader: ThumbnailLoader, key: ThumbKey) -> None:
        super().__init__()
        self._loader = loader
        self._key = key

    def run(self) -> None:
        loader = self._loader
        try:
            image = make_thumbnail(self._key, loader.cache_dir)
        except UnreadableImage as exc:
            loader.signals.failed.emit(self._key, str(exc))
        else:
            loader.signals.done.emit(self._key, image)


class ThumbnailLoader(QObject):
    """Ask ``pixmap(key)``: a QPixmap when ready, else None and ``ready(key)`` follows later."""

    ready = Signal(object)  # ThumbKey
    failed = Signal(object, str)  # ThumbKey, reason

    def __init__(
        self,
        cache_dir: Path | None = None,
        memory_items: int = 1500,
        threads: int | None = None,
        parent: QObject | None = None,
        pool: QThreadPool | None = None,
    ) -> None:
        """``pool`` lets several loaders (or a loader and other image work) share threads."""
        super().__init__(parent)
        self.cache_dir = cache_dir or thumbnail_cache_dir()
        self._memory_items = memory_items
        self._pixmaps: OrderedDict[ThumbKey, QPixmap] = OrderedDict()
        self._queue = _RequestQueue()
        self._in_flight: set[ThumbKey] = set()
        self.errors: dict[ThumbKey, str] = {}
        self._pool = pool or QThreadPool(self)
        if pool is None or threads:
            self._pool.setMaxThreadCount(threads or default_threads())
        self.signals = _Signals()
        self.signals.done.connect(self._on_done)
        self.signals.failed.connect(self._on_failed)

    def set_memory_items(self, count: int) -> None:
        """Size the memory cache for a few screens of tiles at the current tile size."""
        self._memory_items = max(64, count)
        self._trim()

    def pixmap(self, key: ThumbKey) -> QPixmap | None:
        found = self._pixmaps.get(key)
        if found is not None:
            self._pixmaps.move_to_end(key)
            return found
        if key not in self.errors:
            self._request(key)
        return None

    def pending_count(self) -> int:
        return len(self._queue) + len(self._in_flight)

    def pending_keys(self) -> list[ThumbKey]:
        """Queued requests in the order they will be served (for tests and diagnostics)."""
        return self._queue.in_order()

    def forget_pending(self) -> None:
        """Drop queued requests (e.g. after a jump far away); visible tiles will ask again."""
        self._queue.clear()

    def wait_idle(self, msecs: int = 30_000) -> bool:
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        self._queue.clear()
        self._pool.waitForDone()

    def _request(self, key: ThumbKey) -> None:
        if key in self._in_flight:
            return
        if self._queue.push(key):
            # Everything asked for until the event loop turns belongs to this paint pass.
            QTimer.singleShot(0, self._queue.close_generation)
        self._queue.drop_oldest(max(256, self._memory_items))
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and len(self._in_flight) < self._pool.maxThreadCount():
            key = self._queue.pop()
            self._in_flight.add(key)
            self._pool.start(_Task(self, key))

    def _on_done(self, key: ThumbKey, image: QImage) -> None:
        self._in_flight.discard(key)
        self._pixmaps[key] = QPixmap.fromImage(image)
        self._trim()
        self.ready.emit(key)
        self._dispatch()

    def _on_failed(self, key: ThumbKey, reason: str) -> None:
        self._in_flight.discard(key)
        self.errors[key] = reason
        self.failed.emit(key, reason)
        self._dispatch()

    def _trim(self) -> None:
        while len(self._pixmaps) > self._memory_items:
            self._pixmaps.popitem(last=False)


def default_threads() -> int:
    """Decoding threads: every core, at least two (one waits on the disk while one decodes)."""
    return max(2, min(8, QThread.idealThreadCount()))


class _RequestQueue:
    """Pending thumbnail requests grouped by paint pass: newest pass first, each in paint order."""

    def __init__(self) -> None:
        self._generations: list[OrderedDict[ThumbKey, None]] = []
        self._home: dict[ThumbKey, OrderedDict[ThumbKey, None]] = {}  # key -> its pass
        self._open = False

    def __len__(self) -> int:
        return len(self._home)

    def __bool__(self) -> bool:
        return bool(self._home)

    def push(self, key: ThumbKey) -> bool:
        """Queue ``key`` in the current pass (moving it out of an older one); True if the pass
        is new, so the caller can close it when the event loop turns."""
        opened = not self._open
        if opened:
            self._generations.append(OrderedDict())
            self._open = True
        current = self._generations[-1]
        home = self._home.get(key)
        if home is not None and home is not current:
            del home[key]
        current[key] = None
        self._home[key] = current
        return opened

    def close_generation(self) -> None:
        self._open = False
        self._generations = [g for g in self._generations if g]

    def pop(self) -> ThumbKey:
        """The next request to serve; the caller checks the queue is not empty."""
        for generation in reversed(self._generations):
            if generation:
                key = generation.popitem(last=False)[0]
                del self._home[key]
                return key
        raise IndexError("no thumbnail requests are queued")

    def drop_oldest(self, limit: int) -> None:
        """Forget the oldest requests beyond ``limit``: those tiles scrolled out of view."""
        for generation in self._generations:
            while len(self._home) > limit and generation:
                del self._home[generation.popitem(last=False)[0]]
            if len(self._home) <= limit:
                return

    def in_order(self) -> list[ThumbKey]:
        return [key for generation in reversed(self._generations) for key in generation]

    def clear(self) -> None:
        self._generations = []
        self._home = {}
        self._open = False
