"""The window's one background job: refused or queued while busy, cancelled, and its end signalled.

Real workers on real threads under a real status bar; the jobs are held open by an event the
test sets, so nothing here sleeps or depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from desktop.ui.jobs import BUSY, Jobs
from desktop.ui.progress import StatusArea
from tests.imagegen import write_dataset


class Told:
    """The dialogs seam, answering nothing and remembering what the user was told."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.notes: list[str] = []

    def show_error(self, message: str) -> None:
        self.errors.append(message)

    def note(self, text: str, msecs: int = 0) -> None:
        self.notes.append(text)

    def ask(self, title: str, question: str) -> bool:
        return True

    def inform(self, title: str, text: str) -> None:
        pass

    def get_text(self, title: str, prompt: str, default: str = "") -> str | None:
        return None

    def choose_item(self, title: str, prompt: str, items: list[str]) -> str | None:
        return None

    def choose_colour(self, initial: str) -> str | None:
        return None

    def choose_open_file(self, title: str, filters: str) -> Path | None:
        return None

    def choose_save_file(self, title: str, filters: str, suggested: str = "") -> Path | None:
        return None

    def choose_folder(self, title: str) -> Path | None:
        return None


@pytest.fixture
def parts(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    status = StatusArea(window.statusBar(), window)
    told = Told()
    jobs = Jobs(status, told, window)
    yield jobs, status, told, window
    jobs.stop_all()


def held_open(release: threading.Event):
    """A job that yields 1, then waits for ``release``, then yields 2."""

    def make(_cancel: threading.Event) -> Iterator[int]:
        yield 1
        release.wait(60)
        yield 2

    return make


def until_cancelled(cancel: threading.Event) -> Iterator[int]:
    """A long step that only the cancel event ends early (as a core batch loop checks it)."""
    yield 1
    cancel.wait(600)
    yield 2


def test_a_job_shows_its_progress_then_finishes_and_goes_idle(parts, qtbot):
    jobs, status, _told, _window = parts
    got: list[int] = []
    ends: list[object] = []
    jobs.finished.connect(ends.append)
    jobs.idle.connect(lambda: ends.append("idle"))
    with qtbot.waitSignals([jobs.finished, jobs.idle], order="strict", timeout=10_000):
        assert jobs.run("Counting…", lambda _cancel: iter(range(3)), got.append)
        assert jobs.busy() and not jobs.is_idle()
        assert status.job_label.text() == "Counting…" and status.cancel_button.isVisibleTo(
            status.bar
        )
    assert got == [0, 1, 2]
    assert ends == [True, "idle"]
    assert not jobs.busy() and jobs.is_idle()
    assert not status.cancel_button.isVisibleTo(status.bar)


def test_a_second_job_while_busy_is_refused_with_the_message_and_never_starts(parts, qtbot):
    jobs, _status, told, _window = parts
    release = threading.Event()
    second_ran = threading.Event()

    def second(_cancel: threading.Event) -> Iterator[None]:
        second_ran.set()
        yield None

    assert jobs.run("First…", held_open(release))
    assert not jobs.run("Second…", second)
    assert not jobs.free(", then retry")
    assert told.errors == [f"{BUSY}.", f"{BUSY}, then retry."]
    with qtbot.waitSignal(jobs.idle, timeout=10_000):
        release.set()
    assert not second_ran.is_set()
    assert jobs.free()


def test_a_queued_job_and_callback_run_after_the_running_job_has_finished(parts, qtbot):
    jobs, _status, told, _window = parts
    release = threading.Event()
    order: list[str] = []
    jobs.finished.connect(lambda ok: order.append(f"finished {ok}"))
    jobs.run("First…", held_open(release), on_done=lambda ok: (order.append("done"), jobs.finish()))
    assert not jobs.run("Second…", lambda _c: iter(["second"]), order.append, queue=True)
    jobs.when_idle(lambda: order.append("callback"))
    assert told.notes == ["Second: starts when the current job ends"] and told.errors == []
    with qtbot.waitSignal(jobs.idle, timeout=10_000):
        release.set()
    # The second job started from the queue; the callback queued behind it waited for its end.
    assert order == ["done", "finished True", "second", "finished True", "callback"]


def test_when_idle_while_idle_calls_back_on_a_later_turn_not_at_once(parts, qtbot):
    jobs, _status, _told, _window = parts
    called: list[str] = []
    jobs.when_idle(lambda: called.append("later"))
    assert called == []  # the caller's own work goes first
    qtbot.waitUntil(lambda: called == ["later"], timeout=5_000)


def test_cancel_in_the_status_bar_stops_a_generator_inside_its_step(parts, qtbot):
    jobs, status, _told, window = parts
    got: list[int] = []
    window.show()
    with qtbot.waitSignal(jobs.started, timeout=5_000):
        jobs.run("Waiting forever…", until_cancelled, got.append)
    qtbot.waitUntil(lambda: got == [1], timeout=10_000)
    with qtbot.waitSignal(jobs.finished, timeout=10_000) as finished:
        qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args == [False]
    assert got == [1]  # what came after the cancel is dropped
    assert window.statusBar().currentMessage() == "Waiting forever: stopped"
    assert not jobs.busy()


def test_a_controller_that_finishes_later_holds_the_slot_until_it_does(parts, qtbot):
    """Adding images shows its last rows over a few event-loop turns before the summary."""
    jobs, _status, told, _window = parts
    ended = threading.Event()
    jobs.run("Adding…", lambda _c: iter([1]), on_done=lambda _ok: ended.set())
    qtbot.waitUntil(ended.is_set, timeout=10_000)
    assert jobs.busy()
    assert not jobs.run("Other…", lambda _c: iter([]))
    with qtbot.waitSignal(jobs.idle, timeout=5_000):
        jobs.finish("12 images in the project")
    assert told.errors == [f"{BUSY}."]


def test_a_failing_job_is_reported_and_frees_the_slot(parts, qtbot):
    jobs, _status, told, _window = parts

    def broken(_cancel: threading.Event) -> Iterator[int]:
        yield 1
        raise ValueError("disk on fire")

    with qtbot.waitSignal(jobs.finished, timeout=10_000) as finished:
        jobs.run("Breaking…", broken)
    assert finished.args == [False] and told.errors == ["disk on fire"]
    assert jobs.free()


def test_every_way_in_meets_the_same_wait_while_a_window_job_runs(
    window, shapes_dir, tmp_path, qtbot, wait_idle
):
    """One busy rule for the whole window: nothing else starts, each says so, nothing changes."""
    release = threading.Event()
    opened = window.session.path
    assert window.jobs.run("Holding…", held_open(release))
    window.ingest.add_paths([shapes_dir])
    window.project_files.open_path(tmp_path / "other.pigeonhole")
    window.exporter.to_folders(tmp_path / "out")
    window.moves.check_files()
    window.loop.switch_version(1)
    assert window.errors == [
        f"{BUSY}, then add again.",
        f"{BUSY} first.",
        f"{BUSY}.",
        f"{BUSY}, then retry.",
        f"{BUSY}.",
    ]
    assert window.grid.rowCount() == 0 and window.session.path == opened
    assert not (tmp_path / "out").exists() and not (tmp_path / "other.pigeonhole").exists()
    release.set()
    wait_idle(window)
    window.answers = [False]  # not the class folders
    window.ingest.add_paths([shapes_dir])
    wait_idle(window)
    assert window.grid.rowCount() == 12 and len(window.errors) == 5


def test_cancel_background_job_stops_a_scan_before_it_has_added_everything(window, tmp_path, qtbot):
    paths = write_dataset(tmp_path / "many", per_class=100, side=16)
    with qtbot.waitSignal(window.jobs.idle, timeout=60_000):
        window.ingest.add_paths([tmp_path / "many"])
        window.actions["Cancel Background Job"].trigger()
    assert window.statusBar().currentMessage().endswith("(cancelled)")
    assert window.session.project.counts().images < len(paths)
    assert window.jobs.is_idle() and window.errors == []
