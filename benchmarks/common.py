"""The one table writer every benchmark script shares: each script owns a section of BENCHMARKS.md.

A section is a ``## title`` heading and everything up to the next ``## `` heading. Writing a
section replaces only that section (or appends it), so scripts can be rerun one at a time without
losing the others' results. The command line, date and machine go with every table, because a
number without the way it was made cannot be checked.

Run benchmark scripts from the repository root as modules (``python -m benchmarks.NAME``) so they
can ``from benchmarks.common import write_table``.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from filelock import FileLock

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
_LOCK = Path(tempfile.gettempdir()) / "pigeonhole-benchmarks-md.lock"
_TITLE = "# Benchmarks\n\nMeasured by the scripts in `benchmarks/`; each section says how.\n"


def format_table(rows: Sequence[Mapping[str, object]]) -> str:
    """A Markdown table; columns in the order the first row names them."""
    if not rows:
        return "(no results)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(col, "")) for col in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def machine_summary() -> str:
    """What the numbers were measured on: CPUs this process may use, OS, Python."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    return f"{cpus} CPU cores ({cpu}), {platform.system()}, Python {platform.python_version()}"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was during a run."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def current_command() -> str:
    """The command line that ran this script, as a person would retype it."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:  # started with `python -m NAME`
        return "python -m " + shlex.join([spec.name, *sys.argv[1:]])
    return "python " + shlex.join(sys.argv)


def render_section(
    section: str, rows: Sequence[Mapping[str, object]], *, command: str, notes: str = ""
) -> str:
    """The full Markdown of one section: heading, provenance, optional notes, table."""
    parts = [
        f"## {section}\n",
        f"Command: `{command}`  \nMeasured {date.today().isoformat()} on {machine_summary()}.\n",
    ]
    if notes:
        parts.append(notes.strip() + "\n")
    parts.append(format_table(rows))
    return "\n".join(parts)


def replace_section(document: str, section: str, body: str) -> str:
    """``document`` with section ``section`` replaced by ``body`` (appended when absent)."""
    heading = f"## {section}\n"
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line == heading), None)
    if start is None:
        return document.rstrip("\n") + "\n\n" + body if document.strip() else _TITLE + "\n" + body
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + body + ("\n" + tail if tail else "")


def write_table(
    section: str,
    rows: Sequence[Mapping[str, object]],
    *,
    command: str | None = None,
    notes: str = "",
    path: Path = BENCHMARKS_MD,
) -> Path:
    """Replace this script's section of BENCHMARKS.md with ``rows``, leaving other sections alone.

    ``command`` defaults to the command line that ran the script. Returns the file written.
    """
    body = render_section(section, rows, command=command or current_command(), notes=notes)
    with FileLock(str(_LOCK)):
        document = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(replace_section(document, section, body), encoding="utf-8")
    return path
