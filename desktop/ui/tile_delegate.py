"""How one tile is painted: thumbnail, then the user's label or the model's guess, told apart.

A label the user gave is a filled chip in the class colour with a check mark. A prediction is an
outlined chip, italic, with "?" and the confidence. When both exist and differ, the prediction is
shown under the label in red. Unreadable files get a warning tile with the reason, never a blank.

Painted tiles are kept as pixmaps keyed by everything they show, so a repaint of an unchanged
screen (a scan appending rows below it relayouts and repaints the view several times a second)
is one pixmap copy per tile. Painting a tile in Python costs about a millisecond; while a scan
thread competes for the GIL on a loaded machine each of those was a chance to wait for it, and a
repaint of 70 tiles stalled the window for up to a second (benchmarks/identity.py).
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QAbstractProxyModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop.ui.grid_model import GridModel, Role, Tile
from trainer.file_names import shown

Index = QModelIndex | QPersistentModelIndex

PAD = 4
CHIP_LINES = 2
PLACEHOLDER = QColor("#d9d9d9")
WARNING_BG = QColor("#fff4ce")
WARNING_FG = QColor("#8a5300")
DISAGREE = QColor("#c62828")
NO_CLASS = QColor("#9e9e9e")
CACHED_TILES = 600
"""Painted tiles kept as pixmaps: a few screens' worth."""


def readable_text(background: QColor) -> QColor:
    """Black or white, whichever reads better on the class colour."""
    luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor("black") if luma > 150 else QColor("white")


def label_text(tile: Tile) -> str:
    """The words on the chip: what a user reads to tell a label from a guess."""
    if tile.label is not None:
        return f"✓ {tile.label}"
    if tile.prediction is not None:
        conf = "" if tile.confidence is None else f" {tile.confidence:.0%}"
        return f"? {tile.prediction}{conf}"
    return "unlabelled"


def grid_model_of(index: Index) -> GridModel:
    """The GridModel behind ``index``, through any proxies in between."""
    model = index.model()
    while isinstance(model, QAbstractProxyModel):
        model = model.sourceModel()
    return model  # type: ignore[return-value]


class Fonts:
    """The few fonts a tile uses, with their metrics, made once per base font.

    Painting runs for every visible tile on every repaint; building QFont and QFontMetrics there
    each time was most of its cost, and while a scan thread holds the GIL each Python call in
    paint is a chance to wait for it.
    """

    def __init__(self, base: QFont) -> None:
        self.key = base.key()
        self.line = QFontMetrics(base).height() + 4
        self.label = QFont(base)
        self.label.setBold(True)
        self.guess = QFont(base)
        self.guess.setItalic(True)
        self.plain = QFont(base)
        self.small = QFont(base)
        self.small.setPointSizeF(max(7.0, base.pointSizeF() * 0.85))
        self._metrics = [
            (font, QFontMetrics(font)) for font in (self.label, self.guess, self.plain, self.small)
        ]

    def metrics_of(self, font: QFont) -> QFontMetrics:
        return next(metrics for known, metrics in self._metrics if known is font)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, thumb_size: int = 128, parent=None) -> None:
        super().__init__(parent)
        self.thumb_size = thumb_size
        self._fonts: Fonts | None = None
        self._painted: OrderedDict[tuple[object, ...], QPixmap] = OrderedDict()

    def fonts(self, base: QFont) -> Fonts:
        if self._fonts is None or self._fonts.key != base.key():
            self._fonts = Fonts(base)
        return self._fonts

    def tile_size(self, font: QFont) -> QSize:
        line = self.fonts(font).line
        return QSize(self.thumb_size + 2 * PAD, self.thumb_size + 3 * PAD + CHIP_LINES * line)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return self.tile_size(option.font)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        tile: Tile | None = index.data(Role.TILE)
        if tile is None:
            return
        grid = grid_model_of(index)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        error = None if tile.unreadable else grid.thumb_error(tile)
        pixmap = None if tile.unreadable or error else grid.thumbnail(tile)
        shown_class = tile.label if tile.label is not None else tile.prediction
        colour = grid.colour(shown_class) if shown_class else None
        rect = option.rect
        ratio = painter.device().devicePixelRatioF()
        palette = option.palette
        key = (
            tile.image_id, tile.path, tile.status, tile.error, tile.label, tile.prediction,
            tile.confidence, selected, error, colour.rgba() if colour is not None else None,
            0 if pixmap is None else pixmap.cacheKey(), rect.width(), rect.height(), ratio,
            self.thumb_size, option.font.key(),
            palette.color(QPalette.ColorRole.Highlight).rgba(),
            palette.color(QPalette.ColorRole.Text).rgba(),
        )  # fmt: skip
        painted = self._painted.get(key)
        if painted is None:
            painted = QPixmap(round(rect.width() * ratio), round(rect.height() * ratio))
            painted.setDevicePixelRatio(ratio)
            painted.fill(Qt.GlobalColor.transparent)
            inner = QPainter(painted)
            inner.translate(-rect.x(), -rect.y())
            self._paint_tile(inner, option, tile, selected, error, pixmap, colour)
            inner.end()
            self._painted[key] = painted
            if len(self._painted) > CACHED_TILES:
                self._painted.popitem(last=False)
        else:
            self._painted.move_to_end(key)
        painter.drawPixmap(rect.topLeft(), painted)

    def _paint_tile(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        tile: Tile,
        selected: bool,
        error: str | None,
        pixmap: QPixmap | None,
        colour: QColor | None,
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)  # lost on a cached pixmap
        rect = option.rect
        if selected:
            painter.fillRect(rect, option.palette.color(QPalette.ColorRole.Highlight).lighter(160))
        thumb_rect = QRect(rect.x() + PAD, rect.y() + PAD, self.thumb_size, self.thumb_size)
        if tile.unreadable:
            reason = tile.error or "unreadable"
            self._paint_warning(painter, self.fonts(option.font), thumb_rect, reason)
        elif error:
            self._paint_warning(painter, self.fonts(option.font), thumb_rect, error)
        else:
            self._paint_thumbnail(painter, thumb_rect, pixmap)
        fonts = self.fonts(option.font)
        text_top = thumb_rect.bottom() + PAD
        chip = QRect(rect.x() + PAD, text_top, self.thumb_size, fonts.line)
        self._paint_chip(painter, fonts, chip, tile, colour or NO_CLASS)
        second = QRect(chip.x(), chip.bottom() + 1, chip.width(), fonts.line)
        if tile.disagrees:
            conf = "" if tile.confidence is None else f" {tile.confidence:.0%}"
            text = f"model: {tile.prediction}{conf}"
            self._paint_text(painter, fonts, fonts.plain, second, text, DISAGREE)
        else:
            text_colour = option.palette.color(QPalette.ColorRole.Text)
            self._paint_text(painter, fonts, fonts.small, second, shown(tile.name), text_colour)
        if selected:
            pen = QPen(option.palette.color(QPalette.ColorRole.Highlight), 3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()

    def _paint_thumbnail(self, painter: QPainter, rect: QRect, pixmap) -> None:
        if pixmap is None or pixmap.isNull():
            painter.fillRect(rect, PLACEHOLDER)
            return
        scaled = pixmap.size().scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = rect.x() + (rect.width() - scaled.width()) // 2
        y = rect.y() + (rect.height() - scaled.height()) // 2
        painter.drawPixmap(QRect(x, y, scaled.width(), scaled.height()), pixmap)

    def _paint_warning(self, painter: QPainter, fonts: Fonts, rect: QRect, reason: str) -> None:
        painter.fillRect(rect, WARNING_BG)
        painter.setPen(QPen(WARNING_FG, 2))
        painter.drawRect(rect.adjusted(1, 1, -1, -1))
        painter.setFont(fonts.small)
        inner = rect.adjusted(6, 6, -6, -6)
        painter.drawText(
            inner, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "⚠ unreadable"
        )
        body = inner.adjusted(0, fonts.metrics_of(fonts.small).height() + 4, 0, 0)
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        painter.drawText(body, int(flags), reason)

    def _paint_chip(
        self, painter: QPainter, fonts: Fonts, rect: QRect, tile: Tile, colour: QColor
    ) -> None:
        text = label_text(tile)
        if tile.label is not None:
            chip_font = fonts.label
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 4, 4)
            fg = readable_text(colour)
        else:
            chip_font = fonts.guess
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(colour, 1.5, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 4, 4)
            fg = colour.darker(150) if tile.prediction is not None else NO_CLASS
        self._paint_text(painter, fonts, chip_font, rect, text, fg, Qt.TextElideMode.ElideRight)

    def _paint_text(
        self,
        painter: QPainter,
        fonts: Fonts,
        font: QFont,
        rect: QRect,
        text: str,
        colour: QColor,
        elide: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ) -> None:
        """One line, elided to fit: file names keep both ends, class names their start."""
        painter.setFont(font)
        painter.setPen(colour)
        elided = fonts.metrics_of(font).elidedText(text, elide, rect.width() - 8)
        painter.drawText(
            rect.adjusted(4, 0, -4, 0),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            elided,
        )
