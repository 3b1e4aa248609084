"""`pigeonhole FOLDER` while a window runs: the folder goes to that window, no second one opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from desktop.ui.single_instance import NAME_ENV, decode, encode, serve
from tests.imagegen import write_dataset

ROOT = Path(__file__).resolve().parents[3]


def start_second(name: str, *args: str, cwd: Path) -> subprocess.Popen:
    """The real entry point in another process, as the user's shell would run it."""
    env = os.environ | {NAME_ENV: name, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_second_start_hands_its_folder_to_the_running_window(
    window, tmp_path, qtbot, wait_idle, monkeypatch
):
    name = f"pigeonhole-test-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv(NAME_ENV, name)
    server = serve(window)
    assert server is not None
    write_dataset(tmp_path / "more" / "scans", per_class=2, side=16)
    window.answers = [False]  # the class-folder offer: no
    second = start_second(name, "scans", cwd=tmp_path / "more")  # a relative path
    qtbot.waitUntil(lambda: window.grid.rowCount() == 6, timeout=60_000)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "already open" in out
    wait_idle(window)
    assert all(
        tile.path.startswith(str(tmp_path / "more" / "scans")) for tile in window.grid.tiles()
    )
    assert window.errors == []
    server.close()


def test_nothing_but_our_message_is_taken() -> None:
    good = encode([Path("a/b")], None)
    paths, project = decode(good.rstrip(b"\n"))
    assert paths == [Path("a/b").absolute()] and project is None
    for bad in (b"", b"\xff\xfe", b"[]", b'{"paths": "x"}', b'{"paths": [1]}', b'{"paths": [""]}',
                b'{"paths": [], "project": 3}'):  # fmt: skip
        assert decode(bad) is None
