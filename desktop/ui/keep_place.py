"""Keeping the user's place in the grid when its tiles are reloaded or the view is resized.

A reload resets the model (new predictions, undo, a new version), which puts the scroll bar back
at the top. The place is the image at the top-left of the viewport plus how far it is scrolled
past; the selection and current image are restored by ``Labelling.reselect``.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.ui.filter_proxy import FilterProxy
from desktop.ui.grid_view import GridView


@dataclass(frozen=True)
class Place:
    top_id: int | None
    """The image whose tile is at the viewport's top-left (None: the grid is empty)."""
    offset: int
    """Pixels the viewport is scrolled past that tile's top."""


def remember(view: GridView, proxy: FilterProxy) -> Place:
    """Where the user is looking now."""
    index = view.top_index()
    if not index.isValid():
        return Place(None, 0)
    return Place(proxy.image_id(index.row()), max(0, -view.visualRect(index).top()))


def restore(view: GridView, proxy: FilterProxy, place: Place) -> None:
    """Scroll so the same image is at the top again, also after the view's delayed layout."""
    row = proxy.row_of(place.top_id) if place.top_id is not None else None
    if row is not None:
        view.keep_at_top(proxy.index(row, 0), place.offset)
