"""Crashes lose nothing: the short run of tools/crash_stress.py (about 10 SIGKILLs).

The tool is run as the user would run it, in its own process, because it starts and kills its own
children; the full 100-kill run is ``python tools/crash_stress.py --kills 100``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[3] / "tools" / "crash_stress.py"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=600
    )


def test_killing_the_labeller_ten_times_loses_no_acknowledged_action(tmp_path: Path) -> None:
    done = run_tool("--kills", "10", "--seed", "8", "--json", "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["kills"] == 10
    assert result["acknowledged"] > 10, "the child should get real work done between kills"
    assert result["lost"] == 0, result["problems"]
    assert result["integrity_failures"] == 0, result["problems"]
    assert result["hangs"] == 0
    assert result["history_consistent"], result["problems"]
    assert (tmp_path / "stress.pigeonhole").is_file()


def test_the_project_still_opens_and_reads_after_the_kills(tmp_path: Path) -> None:
    from desktop.core.store import Project

    done = run_tool("--kills", "3", "--seed", "9", "--json", "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    with Project.open(tmp_path / "stress.pigeonhole") as project:
        assert [c.name for c in project.classes()] == ["cat", "dog", "bird"]
        assert project.history_index() >= 3
