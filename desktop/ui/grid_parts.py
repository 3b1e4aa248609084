"""The grid as a controller uses it: the tiles, what the filter shows, and the view.

Controllers that select, filter or repaint tiles are given these three together instead of the
whole window; the helpers here are the two questions they all ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.ui.filter_proxy import FilterProxy
from desktop.ui.grid_model import GridModel
from desktop.ui.grid_view import GridView


@dataclass(frozen=True)
class GridParts:
    model: GridModel
    proxy: FilterProxy
    view: GridView

    def current_image_id(self) -> int | None:
        index = self.view.currentIndex()
        return self.proxy.image_id(index.row()) if index.isValid() else None

    def select(self, image_id: int) -> bool:
        """Select ``image_id`` if the filter shows it; False when it does not."""
        row = self.proxy.row_of(image_id)
        if row is None:
            return False
        self.view.select_row(row)
        return True
