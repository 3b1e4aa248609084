"""How long-running core work is told to stop: a threading.Event or a callable returning True."""

from __future__ import annotations

import threading
from collections.abc import Callable

Cancel = threading.Event | Callable[[], bool] | None


def is_cancelled(cancel: Cancel) -> bool:
    """True once the caller asked us to stop; ``None`` means the work cannot be cancelled."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class Interrupted(Exception):
    """Work stopped in the middle because the caller cancelled it (not a failure to report)."""
