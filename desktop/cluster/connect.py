"""Finding Ray and joining a cluster, with one-line errors for the two ways this goes wrong.

A missing ``cluster`` extra and an address nobody answers at are the user's to fix, so both are a
``ClusterError`` (exit code 2), never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from types import ModuleType

_CONNECT_SECONDS = 5
INSTALL_HINT = "pip install 'pigeonhole[cluster]'"
_HOST_PORT = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
WORKER_NICENESS = "RAY_worker_niceness"


class ClusterError(Exception):
    """The cluster engine cannot start: Ray is missing or the cluster cannot be reached."""


def import_ray() -> ModuleType:
    """Ray, or a ClusterError that says how to install it."""
    try:
        import ray
        import ray.data  # the extra brings both; an old ray may lack Data
    except ImportError as exc:
        raise ClusterError(
            f"--engine ray needs Ray, which is not installed ({exc}): {INSTALL_HINT}"
        ) from None
    return ray


def check_address(address: str | None) -> str | None:
    """``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (None: a cluster of this machine)."""
    if address is None or address == "auto" or _HOST_PORT.match(address):
        return address
    raise ClusterError(
        f"--address '{address}' is not a Ray address: use auto, HOST:PORT or ray://HOST:PORT"
    )


def connect(address: str | None) -> tuple[ModuleType, bool]:
    """Join the cluster at ``address`` (or reuse the one this process has already joined).

    Returns ``ray`` and whether this call joined, in which case the caller calls
    ``ray.shutdown()`` when done (a local cluster it started then stops with it).
    """
    address = check_address(address)
    ray = import_ray()
    if address not in (None, "auto"):
        _check_answers(address)
    if ray.is_initialized():
        quiet_ray_data(ray)
        return ray, False
    if address is None:
        workers_at_our_priority()
    try:
        ray.init(
            address=address,
            logging_level=logging.WARNING,
            include_dashboard=False,
            log_to_driver=True,
        )
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        where = address or "this machine"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClusterError(f"cannot reach a Ray cluster at {where}: {first}") from None
    quiet_ray_data(ray)
    return ray, True


def workers_at_our_priority() -> None:
    """Make a Ray cluster that this process starts run its workers at this process's priority.

    Ray lowers its workers' CPU priority by 15 (``nice``) below the raylet's so the raylet stays
    responsive. On a machine shared with other work that starves the classifier actors: next to
    jobs at normal priority they got 0.71 of the images/s of the local engine, whose decoders run
    at the caller's priority (benchmarks/scale.py, 2 cores). A cluster of its own machines is not
    affected (nothing else competes there). An operator's own ``RAY_worker_niceness`` is kept.
    """
    os.environ.setdefault(WORKER_NICENESS, "0")


def _check_answers(address: str) -> None:
    """Fail in seconds when nothing listens at HOST:PORT (Ray itself waits many minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_SECONDS).close()
    except OSError as exc:
        raise ClusterError(
            f"nothing answers at {address} ({exc.strerror or exc}): is the Ray cluster up? "
            "(`ray status` on its head node)"
        ) from None


def quiet_ray_data(ray: ModuleType) -> None:
    """Our progress line on stderr is enough; Ray Data's bars and INFO lines would bury it."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
