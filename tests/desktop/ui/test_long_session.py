"""A long session must not wear anything out: painting the grid over and over stays safe.

PySide6 6.12.0 drops a reference to None on every Qt call that returns nothing (``painter.save()``,
``setPen``, an empty ``index.data()``...); CPython 3.11, whose None is not immortal, aborts with
"deallocating None" after a few thousand of them — a minute of scrolling the grid. pyproject.toml
excludes that release; this test catches it, or a later release like it, in CI.
"""

from __future__ import annotations

import sys

from tests.desktop.ui.test_drop_folder import drop


def test_repainting_the_grid_keeps_none_alive(window, shapes_dir, qtbot, wait_idle):
    window.answers = [False]
    drop(window.view.viewport(), [shapes_dir])
    wait_idle(window)
    assert window.grid.rowCount() == 12

    before = sys.getrefcount(None)
    for _ in range(100):
        window.view.viewport().grab()  # paints every visible tile
    lost = before - sys.getrefcount(None)
    assert lost < 100, f"painting the grid dropped {lost} references to None"
