"""View → Heat Map: where the model looked, over the preview and beside the Review queue.

H (or the menu) turns the overlay on and off; the slider under the preview sets its opacity; both
are kept in QSettings. The map is for the model's predicted class until a class in the preview's
top-k list is clicked, then for that class. In Model → Review, the selected suspect's small
picture shows the map of the class it "looks like". Maps come from ``heat_maps`` (worker
threads); a model that cannot have maps says so under the preview instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QRect, QSettings, Qt
from PySide6.QtGui import QAction, QImage, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from desktop.core.class_activation import ClassMaps, HeatMapError, upsample
from desktop.ui.heat_maps import HeatMapResult, HeatMaps
from desktop.ui.plain_text import plain

if TYPE_CHECKING:
    from desktop.ui.classifying import Classifier
    from desktop.ui.grid_model import GridModel, Tile
    from desktop.ui.preview_pane import PreviewPane
    from desktop.ui.review_panel import ReviewPanel

ENABLED_KEY, OPACITY_KEY = "view/heat_map", "view/heat_map_opacity"
DEFAULT_OPACITY = 45
SHORTCUT = "H"
REVIEW_SIDE = 160
DRAW_SIDE = 128
_STOPS = np.array(
    [
        [0.0, 48, 18, 59],
        [0.25, 70, 134, 251],
        [0.5, 27, 229, 181],
        [0.75, 251, 185, 56],
        [1.0, 122, 4, 3],
    ],
    np.float32,
)
"""Turbo-like colour ramp: dark blue (nothing) through green to dark red (most)."""
_RAMP = np.stack(
    [np.interp(np.linspace(0, 1, 256), _STOPS[:, 0], _STOPS[:, c]) for c in (1, 2, 3)], axis=1
).astype(np.uint8)


def colourise(cam01: np.ndarray, opacity: float) -> QImage:
    """A 0..1 map as an RGBA image in the ramp's colours, ``opacity`` 0..1 everywhere."""
    index = np.clip((cam01 * 255.0).astype(np.int32), 0, 255)
    rgba = np.empty((*cam01.shape, 4), np.uint8)
    rgba[..., :3] = _RAMP[index]
    rgba[..., 3] = round(255 * max(0.0, min(1.0, opacity)))
    height, width = cam01.shape
    return QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


def draw_heat_map(pixmap: QPixmap, cam01: np.ndarray, opacity: float) -> QPixmap:
    """``pixmap`` with the map stretched over it (the model sees the whole, squashed picture).

    The map is upsampled (bilinear) to at most DRAW_SIDE pixels and Qt's smooth scaling
    stretches that over the picture: the map has only a few cells (4x4 to 7x7), so this looks
    the same as colouring every screen pixel and is several times faster.
    """
    out = QPixmap(pixmap)
    scale = min(1.0, DRAW_SIDE / max(1, out.width(), out.height()))
    heat = colourise(
        upsample(cam01, round(out.width() * scale), round(out.height() * scale)), opacity
    )
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(QRect(0, 0, out.width(), out.height()), heat)
    painter.end()
    return out


class HeatMapOverlay(QObject):
    """Built from what it uses: the preview, the grid's tiles, the classifier's model signal
    and the settings."""

    def __init__(
        self,
        preview: PreviewPane,
        grid: GridModel,
        classifier: Classifier,
        settings: QSettings,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.preview = preview
        self.grid = grid
        self.classifier = classifier
        self.settings = settings
        self.maps = HeatMaps(self)
        self.chosen: str | None = None
        """The class clicked in the top-k list; None means the predicted class."""
        self.shown: tuple[str, str] | None = None
        """(image path, class) of the map on the preview now, for tests and the status line."""
        self.review: ReviewPanel | None = None
        self._path: str | None = None
        self._review_wanted: tuple[str, str] | None = None
        self.action = QAction("Heat Map", parent)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence(SHORTCUT))
        self.action.setChecked(_as_bool(settings.value(ENABLED_KEY, False)))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(5, 100)
        self.opacity.setValue(int(settings.value(OPACITY_KEY, DEFAULT_OPACITY)))
        self.opacity.setToolTip("Heat map opacity")
        self.note = QLabel()
        plain(self.note)  # class names and model messages are not markup
        self.row = _row(QLabel("Heat map"), self.opacity, self.note)
        preview.layout().insertWidget(1, self.row)
        self._connect()
        self._update_row()

    def _connect(self) -> None:
        self.action.toggled.connect(self._on_toggled)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.preview.tileShown.connect(self._on_tile)
        self.preview.bars.classClicked.connect(self.show_class)
        self.classifier.modelChanged.connect(self._on_model)
        self.maps.ready.connect(self._on_ready)
        self._on_model()

    def attach_review(self, review_panel: ReviewPanel) -> None:
        """The Review dock is made after the menus; its suspects get maps once it exists."""
        self.review = review_panel
        review_panel.suspectShown.connect(self._on_suspect)

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def show_class(self, name: str) -> None:
        """The map of ``name`` for the current image (a click in the top-k list)."""
        self.chosen = name
        if not self.enabled:
            self.action.setChecked(True)  # asking for a class's map means: show it
        else:
            self._request_preview()

    def shutdown(self) -> None:
        self.maps.shutdown()

    # --- the preview -------------------------------------------------------------------------
    def _on_toggled(self, on: bool) -> None:
        self.settings.setValue(ENABLED_KEY, on)
        self._update_row()
        if on:
            self._request_preview()
        else:
            self._clear_preview()

    def _on_opacity(self, value: int) -> None:
        self.settings.setValue(OPACITY_KEY, value)
        if self.enabled and self.shown is not None:
            result = self.maps.cached(self.shown[0])
            if result is not None:
                self._paint_preview(result)

    def _on_tile(self, tile: Tile | None) -> None:
        path = tile.path if tile is not None else None
        if path != self._path:  # another picture: its predicted class, until one is clicked
            self._path, self.chosen, self.shown = path, None, None
        if self.enabled and tile is not None:
            if self.shown is None:
                self.note.setText("computing…")
            self._request_preview()

    def _on_model(self) -> None:
        self.maps.set_model(self.classifier.model)
        if self.enabled:
            self._request_preview()

    def _request_preview(self) -> None:
        tile = self.preview.tile
        if tile is not None and not tile.unreadable:
            self.maps.request(tile.path)

    def _on_ready(self, result: HeatMapResult) -> None:
        wanted = self._review_wanted
        if wanted and result.path == wanted[0] and (result.picture is not None or not result.maps):
            self._paint_review(result)
        tile = self.preview.tile
        if self.enabled and tile is not None and result.path == tile.path:
            self._paint_preview(result)

    def _paint_preview(self, result: HeatMapResult) -> None:
        if result.maps is None:
            self._clear_preview(result.message)
            return
        try:
            name, cam = _class_map(result.maps, self.chosen)
        except HeatMapError as exc:
            self._clear_preview(str(exc))
            return
        opacity = self.opacity.value() / 100.0
        self.preview.decorate = lambda pixmap: draw_heat_map(pixmap, cam, opacity)
        self.shown = (result.path, name)
        self.note.setText(name)
        self.preview.refresh_image()

    def _clear_preview(self, message: str = "") -> None:
        self.shown = None
        self.note.setText(message)
        if self.preview.decorate is not None:
            self.preview.decorate = None
            self.preview.refresh_image()

    def _update_row(self) -> None:
        self.opacity.setEnabled(self.enabled)
        if not self.enabled:
            self.note.setText(f"off ({SHORTCUT})")

    # --- the Review queue ------------------------------------------------------------------
    def _on_suspect(self, image_id: int, looks_like: str) -> None:
        tile = self.grid.tile_by_id(image_id)
        if tile is None or self.review is None:
            return
        self._review_wanted = (tile.path, looks_like)
        self.review.heat_note.setText(f"computing where it looks like {looks_like}…")
        self.maps.request(tile.path, picture=True)

    def _paint_review(self, result: HeatMapResult) -> None:
        review, wanted = self.review, self._review_wanted
        if review is None or wanted is None:
            return
        if result.maps is None or result.picture is None:
            review.heat_view.clear()
            review.heat_note.setText(result.message)
            return
        try:
            name, cam = _class_map(result.maps, wanted[1])
        except HeatMapError as exc:
            review.heat_view.clear()
            review.heat_note.setText(str(exc))
            return
        picture = np.ascontiguousarray(result.picture)
        height, width = picture.shape[:2]
        image = QImage(picture.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        pixmap = QPixmap.fromImage(image.copy()).scaled(
            REVIEW_SIDE, REVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip
        review.heat_view.setPixmap(draw_heat_map(pixmap, cam, self.opacity.value() / 100.0))
        review.heat_note.setText(f"where the model sees {name}")


def _class_map(maps: ClassMaps, chosen: str | None) -> tuple[str, np.ndarray]:
    index = maps.predicted() if chosen is None else maps.index_of(chosen)
    return maps.head.classes[index], maps.normalised(index)


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, QSlider) else 0)
    return row


def _as_bool(value: object) -> bool:
    """QSettings gives back "true"/"false" strings from INI files."""
    return value is True or str(value).lower() in ("true", "1")
