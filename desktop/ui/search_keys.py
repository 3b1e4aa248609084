"""Ctrl+Z in the search box: the box's own typing first, then the project's history.

A QLineEdit takes Ctrl+Z for itself even when it has nothing to undo, so with the search box
focused the user's last label could not be undone. Here the box keeps the keys only while it has
typing to undo or redo; otherwise they reach Edit → Undo / Redo.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QLineEdit

UNDO_KEYS = (QKeySequence.StandardKey.Undo,)
REDO_KEYS = (QKeySequence.StandardKey.Redo,)


class _PassHistoryKeys(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(watched, QLineEdit):
            return False
        assert isinstance(event, QKeyEvent)
        undo = any(event.matches(key) for key in UNDO_KEYS)
        redo = any(event.matches(key) for key in REDO_KEYS) or _is_ctrl_shift_z(event)
        if (undo and not watched.isUndoAvailable()) or (redo and not watched.isRedoAvailable()):
            event.ignore()  # not the box's: let the window's shortcut have it
            return True
        return False


def _is_ctrl_shift_z(event: QKeyEvent) -> bool:
    return QKeySequence(event.keyCombination()) == QKeySequence("Ctrl+Shift+Z")


def undo_beside_search(search: QLineEdit) -> None:
    search.installEventFilter(_PassHistoryKeys(search))
