"""Opening someone else's tampered project in the window: refused with the reason, and the clean
copy it offers opens with the data while the original stays as it was."""

from __future__ import annotations

from pathlib import Path

from tests.desktop.core.test_foreign_project import TRIGGER, fingerprint, make_project, tamper


def test_a_tampered_project_is_refused_and_a_clean_copy_opens(window, tmp_path: Path) -> None:
    shared = tmp_path / "from a colleague"
    shared.mkdir()
    path = make_project(shared)
    before = tamper(path, TRIGGER)
    window.answers = [False]  # no clean copy yet
    assert not window.project_files.open_path(path)
    assert window.session.path != path
    window.answers = [True]
    assert window.project_files.open_path(path)
    assert window.session.path == shared / "shared (clean copy).pigeonhole"
    assert (
        window.infos[-1].startswith("Copied ")
        and "the original was not changed" in window.infos[-1]
    )
    assert sorted(t.label or "" for t in window.grid.tiles()) == ["", "cat", "dog"]
    assert fingerprint(path) == before
