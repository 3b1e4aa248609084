"""The window's layout comes back after a restart, the loop's docks included.

The window assembles every dock (its own and the loop's panels) before it restores the saved
layout once, so a panel the user closed stays closed whichever part of the window it belongs to.
"""

from __future__ import annotations


def test_closed_panels_stay_closed_after_a_restart(new_window, tmp_path, qtbot):
    first = new_window(tmp_path / "app")
    first.show()
    docks = {dock.objectName(): dock for dock in first.docks}
    docks["dock_loop_review"].close()
    docks["dock_classes"].close()
    first.close()  # saves the layout in the window's settings

    again = new_window(tmp_path / "app")
    again.show()
    shown = {dock.objectName(): dock.isVisible() for dock in again.docks}
    assert shown["dock_loop_review"] is False and shown["dock_classes"] is False
    assert shown["dock_preview"] is True
    assert set(shown) == set(docks)
    again.close()
