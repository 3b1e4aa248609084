"""Long work as a generator on a QThread: the napari worker pattern, in a few lines.

A job is a plain generator from ``desktop.core`` (Qt-free). Whatever it yields arrives on the GUI
thread through the ``yielded`` signal, in order; ``cancel()`` stops it between two yields and sets
the worker's ``cancel_event``, which a generator started by ``WorkerPool.run`` is given so its
core loop can stop inside a step. The core stays testable without Qt and the window never
freezes. We keep this small instead of adding superqt because we need only this one pattern;
which job may run when is ``jobs.Jobs``'s to say.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, QThread, QTimer, Signal

log = logging.getLogger(__name__)
T = TypeVar("T")
_BESIDE_POLL_MS = 10


class _Runner(QThread):
    yielded = Signal(object)
    failed = Signal(str)

    def __init__(self, make_generator: Callable[[], Iterator[Any]], stop: threading.Event) -> None:
        super().__init__()
        self._make_generator = make_generator
        self._stop = stop

    def run(self) -> None:
        generator = None
        try:
            generator = self._make_generator()
            for item in generator:
                if self._stop.is_set():
                    break
                self.yielded.emit(item)
        except Exception as exc:  # shown to the user; the traceback goes to the log
            log.exception("background job failed")
            self.failed.emit(str(exc) or type(exc).__name__)
        finally:
            close = getattr(generator, "close", None)
            if close is not None:
                close()


class Worker(QObject):
    """One background job. Connect the signals, then ``start()``.

    ``finished(bool)`` always comes last, with True when the job ran to its end (not cancelled,
    not failed).
    """

    yielded = Signal(object)
    failed = Signal(str)
    finished = Signal(bool)

    def __init__(
        self, make_generator: Callable[[], Iterator[Any]], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._stop = threading.Event()
        self._failed = False
        self._runner = _Runner(make_generator, self._stop)
        self._runner.yielded.connect(self._on_yielded)
        self._runner.failed.connect(self._on_failed)
        self._runner.finished.connect(self._on_finished)

    @property
    def cancel_event(self) -> threading.Event:
        """Set by ``cancel()``: core generators given it stop inside a long step (one batch)."""
        return self._stop

    def start(self) -> None:
        self._runner.start()

    def cancel(self) -> None:
        self._stop.set()

    def is_running(self) -> bool:
        return self._runner.isRunning()

    def is_cancelled(self) -> bool:
        return self._stop.is_set()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the thread ends (used when closing the window and in tests)."""
        return self._runner.wait(msecs)

    def _on_yielded(self, item: object) -> None:
        if not self._stop.is_set():
            self.yielded.emit(item)

    def _on_failed(self, message: str) -> None:
        self._failed = True
        self.failed.emit(message)

    def _on_finished(self) -> None:
        self.finished.emit(not self._stop.is_set() and not self._failed)


class WorkerPool(QObject):
    """Keeps running workers alive (Python would collect them) and stops them all on close.

    ``run`` hands the generator factory its worker's cancel event, so Cancel reaches inside a
    core loop (a scan, a classification, an export) and not only between two yields.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: set[Worker] = set()

    def run(
        self,
        make_generator: Callable[[threading.Event], Iterator[Any]],
        on_item: Callable[[Any], None],
        on_done: Callable[[bool], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> Worker:
        # Called on the worker's thread once it runs, so ``worker`` is bound by then.
        worker = Worker(lambda: make_generator(worker.cancel_event), self)
        worker.yielded.connect(on_item)
        if on_error is not None:
            worker.failed.connect(on_error)
        worker.finished.connect(lambda ok, w=worker: self._done(w, ok, on_done))
        self._workers.add(worker)
        worker.start()
        return worker

    def busy(self) -> bool:
        return any(w.is_running() for w in self._workers)

    def stop_all(self, msecs: int = 30_000) -> None:
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            worker.wait(msecs)

    def _done(self, worker: Worker, ok: bool, on_done: Callable[[bool], None] | None) -> None:
        self._workers.discard(worker)
        if on_done is not None:
            on_done(ok)
        worker.deleteLater()


def run_beside_gui(work: Callable[[], T]) -> T:
    """Run ``work`` on a thread and return its result, while the GUI thread keeps painting.

    For steps the caller needs the answer of before going on (checking and loading a model):
    the window never freezes, and user input waits until the answer is there, so nothing
    re-enters the caller meanwhile. ``work`` must not touch widgets.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # re-raised on the GUI thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="beside-gui", daemon=True)
    thread.start()
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(_BESIDE_POLL_MS)
    timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
    timer.start()
    if thread.is_alive():
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    timer.stop()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
