"""The entry point's non-GUI modes, dispatched before any Qt or TensorFlow import.

``pigeonhole train ...`` runs the trainer in this process (how the installed app trains, having
no ``python`` of its own); ``pigeonhole --self-test`` checks an installation. Each module is
imported only when its mode is asked for, so starting the GUI never imports TensorFlow.
"""

from __future__ import annotations

import importlib

MODES = {"train": "desktop.train_entry", "--self-test": "desktop.selftest"}


def run_subcommand(argv: list[str]) -> int | None:
    """Run the mode named by ``argv[0]`` and return its exit status; None for the GUI and others."""
    if not argv or argv[0] not in MODES:
        return None
    return importlib.import_module(MODES[argv[0]]).main(argv[1:])
