"""What a controller may ask or tell the user: the window's dialogs seam, as a protocol.

The main window implements it (message boxes, file dialogs, the status bar); a controller is
given the window typed as ``Dialogs`` and so sees only these methods. Tests answer the questions
by replacing a method on the window instance (``window.ask = lambda title, question: True``):
controllers look the method up at call time, so the replacement reaches every one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Dialogs(Protocol):
    def ask(self, title: str, question: str) -> bool: ...

    def inform(self, title: str, text: str) -> None: ...

    def show_error(self, message: str) -> None: ...

    def note(self, text: str, msecs: int = 0) -> None:
        """A line in the status bar: not worth a dialog (0 keeps it until the next one)."""
        ...

    def get_text(self, title: str, prompt: str, default: str = "") -> str | None: ...

    def choose_item(self, title: str, prompt: str, items: list[str]) -> str | None: ...

    def choose_colour(self, initial: str) -> str | None: ...

    def choose_open_file(self, title: str, filters: str) -> Path | None: ...

    def choose_save_file(self, title: str, filters: str, suggested: str = "") -> Path | None: ...

    def choose_folder(self, title: str) -> Path | None: ...
