"""Default locations come from platformdirs; the store modules stay free of Qt and TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core import paths
from desktop.core.store import Project


def test_default_locations_follow_the_platform_folders(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project_path = paths.default_project_path()
    assert project_path.parent == tmp_path / "data" / "Pigeonhole"
    assert project_path.suffix == ".pigeonhole"
    assert paths.thumbnail_cache_dir() == tmp_path / "cache" / "Pigeonhole" / "thumbnails"
    assert paths.thumbnail_cache_dir().is_dir()
    with Project.open(project_path) as project:  # first launch: nothing to configure
        assert project.classes() == []


@pytest.mark.parametrize(
    ("typed", "saved"), [("a", "a.pigeonhole"), ("b.PIGEONHOLE", "b.PIGEONHOLE")]
)
def test_project_suffix_is_added_once(typed: str, saved: str) -> None:
    assert paths.with_project_suffix(Path(typed)) == Path(saved)


def test_core_modules_import_neither_qt_nor_tensorflow() -> None:
    code = (
        "import sys\n"
        "import desktop.core.store, desktop.core.scanner, desktop.core.csv_io\n"
        "import desktop.core.folders_export, desktop.core.paths\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'PySide6')]\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
