"""Scanning real folders: streaming, symlink loops, unreadable folders, cancel, rescans."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from core_helpers import labels_in_file, make_image, make_images

from desktop.core.scanner import (
    detect_class_folders,
    import_class_folders,
    rescan,
    scan,
    scan_all,
)
from desktop.core.store import Project


def found_names(batch) -> list[str]:
    return sorted(Path(f.path).name for f in batch.files)


def test_finds_images_recursively_and_ignores_the_rest(tmp_path: Path) -> None:
    make_images(tmp_path / "a", 2)
    make_images(tmp_path / "a" / "deeper", 1, prefix="deep", suffix=".jpg")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    make_image(tmp_path / ".hidden" / "secret.png")
    make_image(tmp_path / "UPPER.PNG")
    result = scan_all([tmp_path])
    assert found_names(result) == ["UPPER.PNG", "deep000.jpg", "img000.png", "img001.png"]
    first = result.files[0]
    assert os.path.isabs(first.path) and first.size == Path(first.path).stat().st_size


def test_results_stream_in_batches(tmp_path: Path) -> None:
    make_images(tmp_path, 7)
    batches = list(scan([tmp_path], batch_size=3))
    assert [len(b.files) for b in batches] == [3, 3, 1]
    assert batches[-1].files_found == 7


def test_a_symlink_loop_is_not_followed_forever(tmp_path: Path) -> None:
    make_images(tmp_path / "photos", 2)
    os.symlink(tmp_path / "photos", tmp_path / "photos" / "loop")
    os.symlink(tmp_path, tmp_path / "photos" / "up")
    os.symlink(tmp_path / "self.jpg", tmp_path / "self.jpg")  # a file link to itself
    result = scan_all([tmp_path, tmp_path / "photos"])
    assert found_names(result) == ["img000.png", "img001.png"]
    assert [s.reason for s in result.skipped] == ["broken symbolic link or not a file"]


def test_dropped_files_and_missing_paths(tmp_path: Path) -> None:
    image = make_image(tmp_path / "one.png")
    text = tmp_path / "readme.txt"
    text.write_text("hi")
    result = scan_all([image, image, text, tmp_path / "gone"])
    assert found_names(result) == ["one.png"]
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons[0].startswith("not an image file name") and "not found" in reasons[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read every folder")
def test_an_unreadable_folder_is_skipped_with_a_reason(tmp_path: Path) -> None:
    make_images(tmp_path / "open", 1)
    locked = tmp_path / "locked"
    make_images(locked, 1)
    locked.chmod(0)
    try:
        result = scan_all([tmp_path])
    finally:
        locked.chmod(0o755)
    assert found_names(result) == ["img000.png"]
    assert result.skipped[0].reason == "folder skipped: no permission to read it"


def test_a_scan_can_be_cancelled(tmp_path: Path) -> None:
    for i in range(5):
        make_images(tmp_path / f"d{i}", 2)
    stop = threading.Event()
    seen = []
    for batch in scan([tmp_path], cancel=stop, batch_size=2):
        seen.extend(batch.files)
        stop.set()
    assert 0 < len(seen) < 10
    assert list(scan([tmp_path], cancel=lambda: True))[-1].files == []


def test_class_folders_are_detected(tmp_path: Path) -> None:
    make_images(tmp_path / "cats", 2)
    make_images(tmp_path / "dogs" / "puppies", 1)
    make_images(tmp_path, 1, prefix="loose")
    (tmp_path / "empty").mkdir()
    classes = detect_class_folders(tmp_path)
    assert sorted(classes) == ["cats", "dogs"]
    assert [p.name for p in classes["dogs"]] == ["img000.png"]
    assert detect_class_folders(tmp_path / "cats") is None
    assert detect_class_folders(tmp_path / "nothing-here") is None


def test_rescan_flags_missing_files_and_brings_them_back(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "pics", 3)
    with Project.open(tmp_path / "p.pigeonhole") as project:
        ids = project.add_images(scan_all([tmp_path / "pics"]).files)
        project.add_class("cat")
        project.set_labels(ids, project.class_by_name("cat").id)
        hidden = paths[0].rename(tmp_path / "elsewhere.png")
        summary = rescan(project)
        assert (summary.checked, summary.missing, summary.back) == (3, 1, 0)
        rows = project.image_rows()
        assert rows[0].status == "missing" and rows[0].label_id is not None
        hidden.rename(paths[0])
        make_image(paths[1], (1, 2, 3)).write_bytes(paths[1].read_bytes() + b"\0")  # changed
        project.mark_unreadable(ids[1], "corrupt")
        summary = rescan(project)
        assert (summary.missing, summary.back, summary.changed) == (0, 1, 1)
        assert [r.status for r in project.image_rows()] == ["ok", "ok", "ok"]
        assert all(r.label_id is not None for r in project.image_rows())


def test_class_folders_import_as_labels_in_one_action(tmp_path: Path) -> None:
    cats = make_images(tmp_path / "data" / "cats", 2)
    dogs = make_images(tmp_path / "data" / "dogs", 1)
    db = tmp_path / "p.pigeonhole"
    with Project.open(db) as project:
        preview = import_class_folders(project, tmp_path / "data", dry_run=True)
        assert (preview.n_labelled, preview.n_classes_created) == (3, 2)
        assert project.classes() == []
        summary = import_class_folders(project, tmp_path / "data")
        assert summary.action.text == "Import class folders from data"
        assert import_class_folders(project, tmp_path / "data" / "cats") is None
    assert labels_in_file(db) == {
        str(cats[0]): "cats",
        str(cats[1]): "cats",
        str(dogs[0]): "dogs",
    }
