"""The window's background job: one at a time, with progress, Cancel, and work queued behind it.

Scans, classifications, exports, the quick retrain and the review rebuild all write the same
project and share the one status-bar progress, so the window runs one job at a time. Every
controller starts its job here, and this is the one place that says "a job is running": a second
job is refused with the same message everywhere, or queued to start when the current one ends.
The end of a job is a signal (``finished``, then ``idle`` once the queue is empty), never a
polling timer. Cancel sets the running worker's event, which the job's generator is given, so a
core loop that checks it stops within one step instead of at its next yield.

Threads are ``workers.WorkerPool``'s (the napari worker pattern); the status bar is
``progress.StatusArea``; this module only decides who may run and when.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.ui.dialogs import Dialogs
from desktop.ui.progress import StatusArea
from desktop.ui.workers import Worker, WorkerPool

BUSY = "Wait for the current job to finish (or cancel it)"
"""Said when something needs the window's job slot while a job holds it."""

MakeJob = Callable[[threading.Event], Iterator[Any]]
"""Makes the job's generator, given the event that Cancel sets (pass it to core loops)."""


@dataclass
class _Running:
    text: str
    worker: Worker
    completed: bool = False


class Jobs(QObject):
    """Owns whether a job runs, its progress and Cancel, and what waits for its end."""

    started = Signal(str)
    """A job started; its status-bar text."""
    finished = Signal(bool)
    """The current job ended (True: ran to its end, not cancelled or failed)."""
    idle = Signal()
    """No job runs and nothing waits: sent after the queue behind a job has been worked off."""

    def __init__(self, status: StatusArea, dialogs: Dialogs, parent: QObject | None = None):
        super().__init__(parent)
        self._status = status
        self._dialogs = dialogs
        self._pool = WorkerPool(self)
        self._running: _Running | None = None
        self._waiting: deque[Callable[[], object]] = deque()
        self._drain_scheduled = False

    # --- asking ----------------------------------------------------------------------------------
    def busy(self) -> bool:
        """A job runs (until its controller has finished it)."""
        return self._running is not None

    def is_idle(self) -> bool:
        """No job runs and none is queued: what tests and the window wait for."""
        return self._running is None and not self._waiting and not self._pool.busy()

    def free(self, then: str = "") -> bool:
        """True when no job runs; else tell the user to wait (``then``: what to do after)."""
        if self._running is None:
            return True
        self._dialogs.show_error(f"{BUSY}{then}.")
        return False

    # --- starting --------------------------------------------------------------------------------
    def run(
        self,
        text: str,
        make: MakeJob,
        on_item: Callable[[Any], None] | None = None,
        on_done: Callable[[bool], None] | None = None,
        *,
        total: int | None = None,
        queue: bool = False,
    ) -> bool:
        """Start ``make(cancel)`` on a worker thread, showing ``text`` with Cancel.

        Whatever the generator yields goes to ``on_item`` on the GUI thread. When it ends,
        ``on_done(completed)`` runs and must end the job with ``finish(message)`` (at once, or
        later when it still has GUI work to do); without ``on_done`` the job finishes by itself.
        While another job runs, the job is refused with the busy message, or, with ``queue``
        (work the user asked for), starts when the running one ends. True when it started now.
        """
        if self._running is not None:
            if queue:
                self._dialogs.note(f"{text.rstrip('…')}: starts when the current job ends")
                self._waiting.append(
                    lambda: self.run(text, make, on_item, on_done, total=total, queue=True)
                )
            else:
                self._dialogs.show_error(f"{BUSY}.")
            return False
        worker = self._pool.run(
            make,
            on_item or (lambda _item: None),
            lambda completed: self._ended(completed, on_done),
            lambda message: self._dialogs.show_error(message),
        )
        self._running = _Running(text, worker)
        self._status.start(text, self.cancel, total)
        self.started.emit(text)
        return True

    def when_idle(self, callback: Callable[[], object]) -> None:
        """Call back once no job runs and what was queued before has had its turn.

        Always on a later turn of the event loop, so a caller's own work (and the other
        handlers of the signal it answers) is done first. A callback that starts a job makes
        the rest of the queue wait for that job too.
        """
        self._waiting.append(callback)
        if self._running is None:
            self._schedule_drain()

    # --- while it runs ---------------------------------------------------------------------------
    def progress(self, done: int, total: int | None = None, text: str | None = None) -> None:
        if self._running is not None:
            self._status.update(done, total, text)

    def cancel(self) -> None:
        """Stop the running job: its worker's event is set and its generator is dropped."""
        if self._running is not None:
            self._running.worker.cancel()

    def finish(self, message: str = "") -> None:
        """End the current job: hide the progress, say ``message``, let the queue go on."""
        running, self._running = self._running, None
        if running is None:
            return
        self._status.finish(message)
        self.finished.emit(running.completed)
        self._schedule_drain()

    def stop_all(self, msecs: int = 30_000) -> None:
        """Cancel the running job and wait for its thread (closing the window)."""
        self._waiting.clear()
        self._pool.stop_all(msecs)

    # --- the end of a job ------------------------------------------------------------------------
    def _ended(self, completed: bool, on_done: Callable[[bool], None] | None) -> None:
        running = self._running
        if running is not None:
            running.completed = completed
        stopped = "" if completed or running is None else f"{running.text.rstrip('…')}: stopped"
        if on_done is None:
            self.finish(stopped)
            return
        try:
            on_done(completed)
        except BaseException:
            self.finish(stopped)  # a broken summary must not hold the window's job slot
            raise

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            QTimer.singleShot(0, self, self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        while self._waiting and self._running is None:
            self._waiting.popleft()()
        if self._running is None and not self._waiting:
            self.idle.emit()
