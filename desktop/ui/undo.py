"""A QUndoStack that mirrors the project's persistent history, so undo survives a restart.

The store is the truth: each action is done (and committed) by the store first, then recorded here
as a command whose undo/redo simply ask the store to step its history cursor. On open the stack is
rebuilt from the store's history with the same index, so Ctrl+Z after a restart undoes the last
thing done before it. Qt gives us the Edit menu texts, the undo view and the shortcuts for free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core.errors import ProjectError
from desktop.core.records import Action

log = logging.getLogger(__name__)

StoreStep = Callable[[], Action | None]


class _StoreCommand(QUndoCommand):
    def __init__(self, mirror: HistoryMirror, action: Action) -> None:
        super().__init__(action.text)
        self.action_id = action.id
        self._mirror = mirror

    def redo(self) -> None:
        self._mirror.step(forward=True)

    def undo(self) -> None:
        self._mirror.step(forward=False)


class HistoryMirror(QObject):
    """Owns the QUndoStack; ``changed`` fires after the store's data moved by undo or redo."""

    changed = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self._undo: StoreStep | None = None
        self._redo: StoreStep | None = None
        self._history: Callable[[], tuple[Sequence[Action], int]] | None = None
        self._replaying = False

    def attach(
        self,
        undo: StoreStep,
        redo: StoreStep,
        history: Callable[[], tuple[Sequence[Action], int]],
    ) -> None:
        """Follow a newly opened project; ``history()`` gives (actions oldest first, applied)."""
        self._undo, self._redo, self._history = undo, redo, history
        self.rebuild()

    def detach(self) -> None:
        self._undo = self._redo = self._history = None
        self.stack.clear()

    def rebuild(self) -> None:
        """Recreate the stack from the store's history (on open, or after a failed step)."""
        self._replaying = True
        try:
            self.stack.clear()
            if self._history is None:
                return
            actions, applied = self._history()
            for action in actions:
                self.stack.push(_StoreCommand(self, action))
            self.stack.setIndex(applied)
            self.stack.setClean()
        finally:
            self._replaying = False

    def record(self, action: Action | None) -> None:
        """The store just did and committed ``action``; make it undoable here (None: no change)."""
        if action is None:
            return
        self._replaying = True
        try:
            self.stack.push(_StoreCommand(self, action))
        finally:
            self._replaying = False

    def step(self, forward: bool) -> None:
        if self._replaying:
            return
        store_step = self._redo if forward else self._undo
        if store_step is None:
            return
        try:
            done = store_step()
        except ProjectError as exc:
            log.exception("undo/redo failed")
            self.failed.emit(str(exc))
            QTimer.singleShot(0, self.rebuild)
            return
        if done is None:
            # The store had nothing to step: the stack drifted from the file. Resync quietly.
            QTimer.singleShot(0, self.rebuild)
        self.changed.emit()
