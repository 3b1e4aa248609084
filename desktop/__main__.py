"""``pigeonhole [PATH...]`` opens the window; ``pigeonhole classify ...`` and
``pigeonhole review ...`` run headless.

Modes are dispatched before Qt is imported, so the headless commands start fast and work on
machines without a display.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "classify":
        from desktop.cli_classify import main as classify_main

        return classify_main(args[1:])
    if args and args[0] == "review":
        from desktop.cli_review import main as review_main

        return review_main(args[1:])
    from desktop.subcommands import run_subcommand

    status = run_subcommand(args)
    if status is not None:
        return status
    from desktop.app import run_gui

    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
