"""How a decoding worker process lives: it serves one owner process and never outlives it.

Standard library only: the fork server imports this with the classify module, before any work.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_WATCHDOG_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


def start_worker(owner_pid: int) -> None:
    """Set a decoding process up to serve ``owner_pid`` and to die with it.

    Ctrl+C is for the owner, which then cancels and shuts the workers down itself. A SIGKILLed
    owner cannot, and a pool worker waits on its task queue forever, so each worker also exits on
    its own once its owner is gone: Linux tells it with PR_SET_PDEATHSIG (its parent is the fork
    server, which exits with the owner), and a watchdog thread checks everywhere else.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    _die_with_parent()
    if not _owner_alive(owner_pid, parent):  # it died before the line above took effect
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch_owner, args=(owner_pid, parent), name="owner-watchdog", daemon=True
    )
    watchdog.start()


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watchdog still covers it


def _watch_owner(owner_pid: int, parent: int) -> None:
    while _owner_alive(owner_pid, parent):
        time.sleep(_WATCHDOG_SECONDS)
    os._exit(1)


def _owner_alive(owner_pid: int, parent: int) -> bool:
    """False once our parent changed (we were re-parented) or the owner process is gone."""
    if os.getppid() != parent:
        return False
    try:
        os.kill(owner_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # the pid exists (under another user): still there as far as we can tell
    return True
