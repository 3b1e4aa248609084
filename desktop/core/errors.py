"""Errors the desktop core raises, each with a message a user can act on.

The UI shows ``str(error)``; the log keeps the traceback. Everything derives from ProjectError so a
window can catch one type around any store call.
"""

from __future__ import annotations


class ProjectError(Exception):
    """A project file cannot be opened, read or changed; the message says why and what to do."""


class ProjectLocked(ProjectError):
    """Another Pigeonhole window or process is writing this project; open it read-only instead."""


class ReadOnlyProject(ProjectError):
    """The project was opened read-only (or its file cannot be written), so it cannot change."""


class InvalidAction(ProjectError):
    """A request the store refuses before touching anything: unknown class, duplicate name..."""


class CsvError(ProjectError):
    """A label CSV we cannot read at all (as opposed to single rows we skip and report)."""


class ExportError(ProjectError):
    """An export that cannot start: destination is a file, cannot be created, and so on."""
