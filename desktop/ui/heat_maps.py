"""Heat maps computed beside the GUI thread, for the model in use, with the last few kept.

Decoding the image and running the model takes tens of milliseconds, more on a big backbone: the
window must not wait for it. Requests go to a small thread pool; each result comes back on the
GUI thread through ``ready`` and names the image it is for, so a result that arrives after the
user moved on is simply not shown. The feature map of the last CACHE_SIZE images is kept, so
going back, or clicking through the top-k classes (a matrix product each), redraws at once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop.core.class_activation import ClassMaps, HeatMapError, HeatMapper
from desktop.core.inference import ModelRunner
from trainer.contract import UnreadableImage, open_image

log = logging.getLogger(__name__)

CACHE_SIZE = 8
WORKERS = 2
PICTURE_SIZE = 192
"""Side of the picture sent along for the Review panel's small heat map."""


@dataclass(frozen=True)
class HeatMapResult:
    """What came back for one image: its class maps, or the reason there are none."""

    path: str
    maps: ClassMaps | None = None
    message: str = ""
    picture: np.ndarray | None = None
    """The image as RGB uint8, at most PICTURE_SIZE on a side, when it was asked for."""


class HeatMaps(QObject):
    ready = Signal(object)  # HeatMapResult

    def __init__(self, parent: QObject | None = None, workers: int = WORKERS) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="heat-maps")
        self._lock = threading.Lock()
        self._model: ModelRunner | None = None
        self._mapper: HeatMapper | HeatMapError | None = None
        self._cache: OrderedDict[tuple[str, str, bool], HeatMapResult] = OrderedDict()
        self._closed = False

    def set_model(self, model: ModelRunner | None) -> None:
        """Follow the model in use (a quick retrain brings a new file: new head, new maps)."""
        with self._lock:
            if model is self._model:
                return
            self._model, self._mapper = model, None
            self._cache.clear()

    def request(self, path: str, *, picture: bool = False) -> None:
        """Compute (or recall) the maps for ``path``; ``ready`` brings them."""
        with self._lock:
            key = self._key(path, picture)
            cached = self._cache.get(key) if key else None
            if cached is not None:
                self._cache.move_to_end(key)
            model = self._model
        if cached is not None:
            self.ready.emit(cached)
        elif model is None:
            self.ready.emit(HeatMapResult(path, message="no model: File → Open Model…"))
        elif not self._closed:
            self._pool.submit(self._compute, model, path, picture)

    def cached(self, path: str, picture: bool = False) -> HeatMapResult | None:
        with self._lock:
            key = self._key(path, picture)
            return self._cache.get(key) if key else None

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _key(self, path: str, picture: bool) -> tuple[str, str, bool] | None:
        return None if self._model is None else (str(self._model.model.path), path, picture)

    def _compute(self, model: ModelRunner, path: str, picture: bool) -> None:
        try:
            result = HeatMapResult(
                path,
                self._mapper_for(model).for_image(path),
                picture=_picture(path) if picture else None,
            )
        except (HeatMapError, UnreadableImage) as exc:
            result = HeatMapResult(path, message=str(exc))
        except Exception as exc:  # shown beside the preview; the traceback goes to the log
            log.exception("heat map for %s failed", path)
            result = HeatMapResult(path, message=f"no heat map: {exc}")
        with self._lock:
            if model is not self._model:
                return  # the model changed meanwhile: this map is of the old one
            if result.maps is not None:
                self._cache[(str(model.model.path), path, picture)] = result
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        if not self._closed:
            self.ready.emit(result)

    def _mapper_for(self, model: ModelRunner) -> HeatMapper:
        """One mapper per model (it reads the head from the file), made in a worker thread."""
        with self._lock:
            mapper = self._mapper if model is self._model else None
        if mapper is None:
            try:
                mapper = HeatMapper(model)
            except HeatMapError as exc:
                mapper = exc
            with self._lock:
                if model is self._model:
                    self._mapper = mapper
        if isinstance(mapper, HeatMapError):
            raise HeatMapError(str(mapper))
        return mapper


def _picture(path: str) -> np.ndarray:
    image = open_image(Path(path), min_size=PICTURE_SIZE)
    image.thumbnail((PICTURE_SIZE, PICTURE_SIZE))
    return np.asarray(image, dtype=np.uint8)
