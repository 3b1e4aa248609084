"""Export as class folders: copies, never overwrites, never touches the originals."""

from __future__ import annotations

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
