"""The preview dock: the current image large, the model's top-k as bars, and the file's facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from desktop.ui.grid_model import GridModel, Tile
from desktop.ui.plain_text import plain
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader
from trainer.file_names import shown

PREVIEW_SIZE = 512


class TopKBars(QWidget):
    """One horizontal bar per class in the model's top-k, in the class colour; a click on one
    emits ``classClicked(name)`` (the heat map then shows that class)."""

    classClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, float, QColor]] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_rows(self, rows: list[tuple[str, float, QColor]]) -> None:
        self._rows = rows
        self.setFixedHeight(max(1, len(rows)) * self._line() + 4)
        self.update()

    def rows(self) -> list[tuple[str, float]]:
        return [(name, p) for name, p, _ in self._rows]

    def _line(self) -> int:
        return QFontMetrics(self.font()).height() + 6

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = int((event.position().y() - 2) // self._line())
        if 0 <= row < len(self._rows):
            self.classClicked.emit(self._rows[row][0])
        super().mousePressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(240, max(1, len(self._rows)) * self._line() + 4)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        line = self._line()
        name_w = min(self.width() // 3, 120)
        bar_w = self.width() - name_w - 56
        for i, (name, prob, colour) in enumerate(self._rows):
            y = 2 + i * line
            painter.setPen(self.palette().text().color())
            painter.drawText(QRect(0, y, name_w - 4, line), Qt.AlignmentFlag.AlignVCenter, name)
            painter.fillRect(QRect(name_w, y + 3, bar_w, line - 6), QColor("#eeeeee"))
            painter.fillRect(QRect(name_w, y + 3, int(bar_w * prob), line - 6), colour)
            painter.drawText(
                QRect(name_w + bar_w + 4, y, 52, line), Qt.AlignmentFlag.AlignVCenter, f"{prob:.1%}"
            )
        painter.end()


class PreviewPane(QWidget):
    """``tileShown(tile or None)`` after each change; ``decorate``, when set, draws over the
    scaled picture (the heat map overlay)."""

    tileShown = Signal(object)

    def __init__(self, grid: GridModel, loader: ThumbnailLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = grid
        self._loader = loader
        self._tile: Tile | None = None
        self.decorate: Callable[[QPixmap], QPixmap] | None = None
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(200, 200)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.title = QLabel(wordWrap=True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.bars = TopKBars()
        self.details = QFormLayout()
        self._fields: dict[str, QLabel] = {}
        for name in ("Label", "Prediction", "Status", "Size", "Modified", "Folder"):
            value = QLabel(wordWrap=True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            plain(value)
            self._fields[name] = value
            self.details.addRow(name, value)
        plain(self.image, self.title)  # file names, class names and reasons are not markup
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.title)
        layout.addWidget(self.bars)
        layout.addLayout(self.details)
        loader.ready.connect(self._on_ready)
        loader.failed.connect(lambda key, _reason: self._on_ready(key))

    def field(self, name: str) -> str:
        return self._fields[name].text()

    @property
    def tile(self) -> Tile | None:
        return self._tile

    def show_tile(self, tile: Tile | None, top_k: list[tuple[str, float]] | None = None) -> None:
        if tile is None or self._tile is None or tile.path != self._tile.path:
            self.decorate = None  # it was drawn for another picture
        self._tile = tile
        if tile is None:
            self.image.clear()
            self.title.setText("Nothing selected")
            self.bars.set_rows([])
            for value in self._fields.values():
                value.setText("")
            self.tileShown.emit(None)
            return
        self.title.setText(shown(tile.name))
        self.bars.set_rows(
            [(n, p, self._grid.colour(n) or QColor("#607d8b")) for n, p in top_k or []]
        )
        self._fill_details(tile)
        self._show_image(tile)
        self.tileShown.emit(tile)

    def refresh_image(self) -> None:
        """Draw the current picture again (the overlay changed)."""
        if self._tile is not None:
            self._show_image(self._tile)

    def _fill_details(self, tile: Tile) -> None:
        path = Path(tile.path)
        source = f" ({tile.label_source})" if tile.label_source else ""
        self._fields["Label"].setText((tile.label or "—") + source)
        conf = "" if tile.confidence is None else f" ({tile.confidence:.1%})"
        self._fields["Prediction"].setText((tile.prediction or "—") + conf)
        self._fields["Status"].setText(
            tile.error if tile.unreadable and tile.error else tile.status
        )
        try:
            stat = path.stat()
            self._fields["Size"].setText(f"{stat.st_size / 1024:,.1f} KiB")
            modified = dt.datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M")
            self._fields["Modified"].setText(modified)
        except OSError as exc:
            self._fields["Size"].setText(f"cannot read ({exc.strerror})")
            self._fields["Modified"].setText("")
        self._fields["Folder"].setText(shown(str(path.parent)))

    def _key(self, tile: Tile) -> ThumbKey:
        return ThumbKey(tile.path, round(PREVIEW_SIZE * self.devicePixelRatioF()))

    def _show_image(self, tile: Tile) -> None:
        if tile.unreadable:
            self.image.setText(f"⚠ {tile.error or 'unreadable'}")
            return
        key = self._key(tile)
        pixmap = self._loader.pixmap(key)
        if pixmap is not None:
            self._set_pixmap(pixmap)
        elif key in self._loader.errors:
            self.image.setText(f"⚠ {self._loader.errors[key]}")
        else:
            self.image.setText("Loading…")

    def _set_pixmap(self, pixmap: QPixmap) -> None:
        """Scale to the label in device pixels, so a high-DPI screen shows every one of them."""
        ratio = self.image.devicePixelRatioF()
        scaled = pixmap.scaled(
            self.image.size() * ratio,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        if self.decorate is not None:
            scaled = self.decorate(scaled)
        scaled.setDevicePixelRatio(ratio)
        self.image.setPixmap(scaled)

    def _on_ready(self, key: ThumbKey) -> None:
        if self._tile is not None and key == self._key(self._tile):
            self._show_image(self._tile)
