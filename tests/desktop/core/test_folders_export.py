"""Export as class folders: copies, never overwrites, never touches the originals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from core_helpers import make_image, make_images

from desktop.core.errors import ExportError
from desktop.core.folders_export import export_class_folders, safe_folder_name
from desktop.core.records import PredictionRow
from desktop.core.store import Project
from trainer.contract import ModelInfo


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        opened.add_class("cat")
        opened.add_class("dog/wolf")
        yield opened


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_labelled_images_are_copied_and_originals_untouched(project, tmp_path) -> None:
    a = make_images(tmp_path / "a", 2)
    b = make_images(tmp_path / "b", 1)  # same name as a/img000.png
    ids = project.add_images([*a, *b])
    cat, dog = (c.id for c in project.classes())
    project.set_labels([ids[0], ids[2]], cat)
    project.set_labels([ids[1]], dog)
    originals = tree(tmp_path / "a") | {"b": b[0].read_bytes()}
    out = tmp_path / "out"
    (out / "cat").mkdir(parents=True)
    (out / "cat" / "img000.png").write_bytes(b"already here")
    summary = export_class_folders(project, out)
    assert (summary.n_written, summary.n_renamed, summary.cancelled) == (3, 2, False)
    assert summary.per_class == {"cat": 2, "dog/wolf": 1}
    files = tree(out)
    assert files["cat/img000.png"] == b"already here"  # never overwritten
    assert files["cat/img000 (2).png"] == a[0].read_bytes()
    assert files["cat/img000 (3).png"] == b[0].read_bytes()
    assert files["dog_wolf/img001.png"] == a[1].read_bytes()
    assert tree(tmp_path / "a") | {"b": b[0].read_bytes()} == originals
    assert a[0].exists() and b[0].exists()


def test_missing_and_unreadable_files_are_skipped_with_reasons(project, tmp_path) -> None:
    pics = make_images(tmp_path / "pics", 3)
    ids = project.add_images(pics)
    project.set_labels(ids, project.class_by_name("cat").id)
    project.mark_unreadable(ids[1], "empty file (0 bytes)")
    pics[2].unlink()
    project.mark_missing([ids[2]])
    summary = export_class_folders(project, tmp_path / "out")
    assert summary.n_written == 1
    assert [s.reason for s in summary.skipped] == [
        "unreadable: empty file (0 bytes)",
        "missing: file not found (moved or deleted?)",
    ]


def test_confident_predictions_can_be_included(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "pics", 3))
    model_id = project.add_model("/m.onnx", ModelInfo(["cat", "fox"], 32, "tiny", "t"), {})
    project.set_predictions(
        model_id,
        [
            PredictionRow.from_probs(ids[0], [0.95, 0.05]),
            PredictionRow.from_probs(ids[1], [0.1, 0.9]),
            PredictionRow.from_probs(ids[2], [0.55, 0.45]),
        ],
    )
    summary = export_class_folders(
        project, tmp_path / "out", include_predictions=True, min_confidence=0.8
    )
    assert sorted(tree(tmp_path / "out")) == ["cat/img000.png", "fox/img001.png"]
    assert summary.n_written == 2
    assert export_class_folders(project, tmp_path / "none").n_written == 0


def test_progress_and_cancel(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "pics", 4))
    project.set_labels(ids, project.class_by_name("cat").id)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2:
            stop.set()

    summary = export_class_folders(project, tmp_path / "out", cancel=stop, progress=progress)
    assert summary.cancelled and summary.n_written == 2
    assert seen[0] == (0, 4)


def test_bad_destinations_are_refused(project, tmp_path) -> None:
    target = make_image(tmp_path / "a.png")
    with pytest.raises(ExportError, match="is a file"):
        export_class_folders(project, target)
    with pytest.raises(ExportError, match="Unknown export mode"):
        export_class_folders(project, tmp_path / "out", mode="move")


@pytest.mark.parametrize(
    ("name", "folder"),
    [("a/b", "a_b"), ("..", "_"), ("CON", "CON_"), ("what?", "what_"), ("end.", "end")],
)
def test_class_names_become_safe_folder_names(name, folder) -> None:
    assert safe_folder_name(name) == folder


# ----------------------------------------------------------------- hostile destinations and sources
def test_a_symlinked_class_folder_in_the_destination_is_not_written_through(project, tmp_path):
    """Someone who can write to a shared destination plants cat -> ~/.ssh: nothing lands there."""
    ids = project.add_images(make_images(tmp_path / "pics", 2))
    project.set_labels(ids, project.class_by_name("cat").id)
    private = tmp_path / "home" / ".ssh"
    private.mkdir(parents=True)
    out = tmp_path / "shared"
    out.mkdir()
    (out / "cat").symlink_to(private, target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link"):
        export_class_folders(project, out)
    assert list(private.iterdir()) == []
    assert (out / "cat").is_symlink()  # left as it was


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_sources_that_are_not_regular_image_files_are_refused_with_a_reason(project, tmp_path):
    """Stored paths that became a pipe, a device or a non-image are skipped, never copied:
    a pipe would hang the export and /dev/zero would fill the disk."""
    pics = make_images(tmp_path / "pics", 3)
    ids = project.add_images([*pics, "/dev/zero"])
    pics[0].unlink()
    os.mkfifo(pics[0])  # the pipe first: the old code blocks on it before reaching /dev/zero
    pics[1].write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    project.set_labels(ids, project.class_by_name("cat").id)
    result: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: result.update(summary=export_class_folders(project, tmp_path / "out")),
        daemon=True,
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the export hung on a pipe"
    summary = result["summary"]
    assert summary.n_written == 1
    reasons = {Path(s.what).name: s.reason for s in summary.skipped}
    assert "pipe, socket or device" in reasons["img000.png"]
    assert "not an image" in reasons["img001.png"]
    assert "pipe, socket or device" in reasons["zero"]
    assert sorted(tree(tmp_path / "out")) == ["cat/img002.png"]


KILLED_EXPORT = """
import shutil, sys, time
from desktop.core.folders_export import export_class_folders
from desktop.core.store import Project

def slow_copy(src, dst, length=0):  # a slow USB stick: the kill lands inside a copy
    while chunk := src.read(128 * 1024):
        dst.write(chunk)
        dst.flush()
        print("partial", flush=True)
        time.sleep(0.05)

shutil.copyfileobj = slow_copy
with Project.open(sys.argv[1]) as project:
    export_class_folders(project, sys.argv[2],
                         progress=lambda done, total: print(done, flush=True))
"""


def test_an_export_killed_midway_leaves_no_truncated_file_under_a_real_name(tmp_path) -> None:
    """SIGKILL a real export process mid-copy: every file under its real name is complete, and
    the next export clears the temporary file the kill left behind."""
    from PIL import Image

    sources = []
    for i in range(8):
        path = tmp_path / "pics" / f"big{i}.bmp"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (600, 600), (i * 30, 80, 160)).save(path)  # ~1 MB each
        sources.append(path)
    db = tmp_path / "p.pigeonhole"
    with Project.open(db) as project:
        project.add_class("cat")
        project.set_labels(project.add_images(sources), project.class_by_name("cat").id)
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(db), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        while child.stdout.readline().strip() != "2":  # two files done
            assert child.poll() is None, "the export child ended early"
        assert child.stdout.readline().strip() == "partial"  # the third is being written
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    originals = {p.name: p.read_bytes() for p in sources}
    real = [p for p in (out / "cat").iterdir() if not p.name.startswith(".")]
    assert len(real) >= 2
    assert all(p.read_bytes() == originals[p.name] for p in real), "a truncated copy kept its name"
    leftovers = [p for p in (out / "cat").iterdir() if p.name.startswith(".")]
    assert leftovers, "the kill should have caught a copy under way"
    with Project.open(db) as project:
        summary = export_class_folders(project, out)
    assert summary.n_written == 8
    assert not [p for p in (out / "cat").iterdir() if p.name.startswith(".")]
    for path in (out / "cat").iterdir():
        base = path.name.replace(" (2)", "")
        assert path.read_bytes() == originals[base]


def test_long_names_are_cut_to_255_bytes_instead_of_skipping_the_class(project, tmp_path) -> None:
    """A 100-character CJK class name is 300 bytes, past NAME_MAX; a 255-byte file name plus
    " (2)" too. Both used to be skipped with "File name too long"."""
    long_name = "猫" * 83 + "ab.png"  # 255 bytes
    first = make_image(tmp_path / "a" / long_name, (10, 20, 30))
    second = make_image(tmp_path / "b" / long_name, (40, 50, 60))
    project.add_class("长" * 100)
    cjk = project.class_by_name("长" * 100).id
    project.set_labels(project.add_images([first, second]), cjk)
    summary = export_class_folders(project, tmp_path / "out")
    assert summary.skipped == [] and summary.n_written == 2 and summary.n_renamed == 1
    copies = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert {p.read_bytes() for p in copies} == {first.read_bytes(), second.read_bytes()}
    names = [p.name for p in copies] + [copies[0].parent.name]
    assert all(len(name.encode("utf-8")) <= 255 for name in names)
    assert long_name in names and copies[0].parent.name.startswith("长" * 50)
