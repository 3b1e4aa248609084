"""``pigeonhole train DATA --out RUN ...``: ``python -m trainer train`` in the app's own executable.

An installed app has no ``python`` to start the trainer with, so the app starts itself with a
``train`` subcommand, as frozen apps do. This module is imported only when that subcommand is
used: importing it costs nothing, and TensorFlow is loaded only inside ``main``.
"""

from __future__ import annotations

import runpy
import sys

SUBCOMMAND = "train"


def main(argv: list[str]) -> int:
    """Run ``python -m trainer train ARGV`` in this process and return its exit status."""
    saved = sys.argv
    sys.argv = ["pigeonhole", SUBCOMMAND, *argv]
    try:
        runpy.run_module("trainer", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        return _exit_status(done.code)
    finally:
        sys.argv = saved
    return 0


def _exit_status(code: object) -> int:
    """SystemExit's code as a process exit status (a message means failure, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
