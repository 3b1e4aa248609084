"""The one exception type the trainer raises for problems a user can fix.

The CLI prints its message on one line and exits with code 2; the desktop app shows it as is.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class TrainerError(Exception):
    """Bad input or a failed check, with a one-line message that says what to fix."""
