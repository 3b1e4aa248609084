"""Hugging Face imagefolder and ImageNet-style exports: the documented layouts, the project's own
split (the version's split.csv first, the trainer's rule for the rest), never overwriting, and
cancel keeping what was written."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from core_helpers import make_image, make_images

from desktop.core.errors import ExportError
from desktop.core.split_export import LAYOUTS, export_split_folders, project_splits
from desktop.core.store import Project
from tests.desktop.core.head_models import build_head_model
from tests.imagefolder import imagefolder_files
from trainer.contract import ModelInfo
from trainer.split import assign_splits, write_split_csv

HF_SPLITS = {"train", "validation", "test"}


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        for name in ("cat", "dog"):
            opened.add_class(name)
        cat, dog = (c.id for c in opened.classes())
        ids = opened.add_images(make_images(tmp_path / "pics" / "c", 30, "cat"))
        opened.set_labels(ids, cat)
        ids = opened.add_images(make_images(tmp_path / "pics" / "d", 30, "dog"))
        opened.set_labels(ids, dog)
        yield opened


def expected_by_rule(project: Project) -> dict[str, tuple[str, str]]:
    rows = project.training_rows()
    splits = assign_splits(
        ((p, label) for p, label, _, _ in rows), groups={p: g for p, _, g, _ in rows if g}
    )
    return {Path(p).name: (label, splits[p]) for p, label, _, _ in rows}


def test_huggingface_layout_holds_every_labelled_image_in_the_trainers_split(
    project: Project, tmp_path: Path
) -> None:
    summary = export_split_folders(project, tmp_path / "hf", "huggingface")
    found = imagefolder_files(tmp_path / "hf", HF_SPLITS)
    expected = expected_by_rule(project)
    assert summary.n_written == len(found) == len(expected) == 60
    names = LAYOUTS["huggingface"]
    assert found == {name: (names[split], label) for name, (label, split) in expected.items()}
    assert {split for split, _ in found.values()} == HF_SPLITS  # 60 images fill all three


def test_imagenet_layout_puts_train_and_val_in_train_and_test_in_val(
    project: Project, tmp_path: Path
) -> None:
    export_split_folders(project, tmp_path / "inet", "imagenet")
    found = imagefolder_files(tmp_path / "inet", {"train", "val"})
    for name, (label, split) in expected_by_rule(project).items():
        assert found[name] == ("val" if split == "test" else "train", label)


def test_the_current_versions_split_csv_wins(project: Project, tmp_path: Path) -> None:
    """A model trained elsewhere must be scored on the test images our version was scored on."""
    rows = project.training_rows()
    chosen = {path for path, _, _, _ in rows[:10]}  # the version put these in test
    run = tmp_path / "run"
    run.mkdir()
    model = build_head_model(run / "model.onnx", ["cat", "dog"])
    write_split_csv(
        run / "split.csv",
        [(p, label, "test" if p in chosen else "train") for p, label, _, _ in rows],
    )
    project.add_model(model, ModelInfo(["cat", "dog"], 8, "test", "test"))
    assert {p for p, (_, split) in project_splits(project).items() if split == "test"} == chosen
    export_split_folders(project, tmp_path / "hf", "huggingface")
    found = imagefolder_files(tmp_path / "hf", HF_SPLITS)
    assert {name for name, (split, _) in found.items() if split == "test"} == {
        Path(p).name for p in chosen
    }


def test_nothing_is_overwritten_and_symlinks_work(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    expected = expected_by_rule(project)
    label, split = expected["cat000.png"]
    taken = out / LAYOUTS["huggingface"][split] / label / "cat000.png"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"mine")
    summary = export_split_folders(project, out, "huggingface")
    assert taken.read_bytes() == b"mine"
    assert (taken.parent / "cat000 (2).png").is_file()
    assert summary.n_renamed == 1 and summary.n_written == 60
    linked = export_split_folders(project, tmp_path / "links", "imagenet", mode="symlink")
    assert linked.n_written == 60
    assert all(p.is_symlink() for p in (tmp_path / "links").rglob("*.png"))


def test_cancel_stops_and_says_so(project: Project, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 5:
            cancel.set()

    summary = export_split_folders(
        project, tmp_path / "hf", "huggingface", cancel=cancel, progress=progress
    )
    assert summary.cancelled and summary.n_written == 5
    assert seen[0] == (0, 60)
    assert len(list((tmp_path / "hf").rglob("*.png"))) == 5


def test_unreadable_labelled_images_are_listed_and_bad_requests_refused(
    project: Project, tmp_path: Path
) -> None:
    broken = make_image(tmp_path / "pics" / "broken.png")
    (image_id,) = project.add_images([broken])
    project.set_labels([image_id], project.class_by_name("cat").id)
    project.mark_unreadable(image_id, "cannot identify image file")
    summary = export_split_folders(project, tmp_path / "hf", "huggingface")
    assert summary.n_written == 60
    assert [s.what for s in summary.skipped] == [str(broken)]
    with pytest.raises(ExportError, match="Unknown layout"):
        export_split_folders(project, tmp_path / "x", "coco")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ExportError, match="is a file"):
        export_split_folders(project, tmp_path / "file", "imagenet")
    assert not (tmp_path / "x").exists()
