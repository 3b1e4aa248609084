"""Reading labelled data: folders and CSV manifests agree, odd files are skipped, bad input is
refused with a message that says what to fix. None of this imports TensorFlow."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import trainer
from tests.badimages import fingerprint, good_controls, make_bad_corpus
from tests.imagegen import write_dataset, write_image
from trainer.data import list_labelled_files, load_labelled_data, load_training_data
from trainer.split import base_split

SIZE = 16


def write_manifest(path: Path, rows: list[tuple[str, str]], columns=("path", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_dataset(root, per_class=8, side=SIZE)
    return root


def test_folder_and_csv_give_the_same_samples_and_split(small_dataset: Path) -> None:
    from_folder = load_training_data(small_dataset, SIZE)
    rows = [(s.rel, s.label) for s in from_folder.samples]
    manifest = write_manifest(small_dataset / "labels.csv", rows[::-1])
    from_csv = load_training_data(manifest, SIZE)
    assert [(s.rel, s.label) for s in from_csv.samples] == rows
    assert [s.path for s in from_csv.samples] == [s.path for s in from_folder.samples]
    assert from_csv.splits == from_folder.splits
    assert from_csv.classes == from_folder.classes == ["circle", "square", "triangle"]


def test_adding_files_keeps_every_existing_files_split(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, per_class=20, side=SIZE)
    first = load_training_data(root, SIZE)
    before = first.splits
    write_dataset(root, per_class=15, side=SIZE, seed=1, start=20)
    after = load_training_data(root, SIZE).splits
    assert len(after) == len(before) + 45
    kept = [rel for rel, split in before.items() if split == base_split(first.groups[rel])]
    assert len(kept) >= len(before) - 3  # only repairs of empty splits may differ
    assert all(after[rel] == before[rel] for rel in kept)


def test_odd_files_are_skipped_with_reasons_and_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "data"
    cases = make_bad_corpus(root / "odd") + good_controls(root / "good")
    before = fingerprint(root)
    _, listed, _, _ = list_labelled_files(root)
    listed_paths = {s.path for s in listed}
    data = load_labelled_data(root, SIZE)
    assert fingerprint(root) == before
    skipped = {item.what: item.reason for item in data.skipped}
    readable = {s.rel for s in data.samples}
    checked = 0
    for case in cases:
        if case.skip or case.path not in listed_paths:
            continue
        rel = case.path.relative_to(root).as_posix()
        checked += 1
        if case.readable:
            assert rel in readable, case.kind
        else:
            assert case.reason in skipped[rel].lower(), (case.kind, skipped.get(rel))
    assert checked >= 10


def test_loose_images_and_hidden_files_are_not_trained_on(small_dataset: Path) -> None:
    write_image(small_dataset / "loose.png", "circle", np.random.default_rng(0))
    (small_dataset / "circle" / ".hidden.png").write_bytes(b"x")
    (small_dataset / "circle" / "notes.txt").write_text("not an image")
    data = load_labelled_data(small_dataset, SIZE)
    assert {"path": "loose.png", "reason": "not inside a class folder"} in [
        s.as_dict() for s in data.skipped
    ]
    assert not any(s.rel.endswith((".hidden.png", "notes.txt")) for s in data.samples)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, dict, str]]:
    """Each bad input: (DATA, options, words the message must contain)."""
    good = tmp_path / "good"
    write_dataset(good, per_class=3, side=SIZE)
    empty = tmp_path / "empty"
    empty.mkdir()
    one_class = tmp_path / "one_class"
    write_dataset(one_class, per_class=3, side=SIZE, classes=["circle"])
    thin = tmp_path / "thin"
    write_dataset(thin, per_class=3, side=SIZE, classes=["circle", "square"])
    write_dataset(thin, per_class=1, side=SIZE, classes=["triangle"])
    (thin / "triangle" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return {
        "missing folder": (tmp_path / "nowhere", {}, "does not exist"),
        "empty folder": (empty, {}, "no images found"),
        "one class": (one_class, {}, "only one class"),
        "class with one readable image": (
            thin,
            {},
            "class 'triangle' has 1 readable image(s) (1 unreadable)",
        ),
        "csv without label column": (
            write_manifest(tmp_path / "a.csv", [("good/circle/circle_000.png",)], ("path",)),
            {},
            "lacks column(s) label",
        ),
        "csv with a missing file": (
            write_manifest(
                tmp_path / "b.csv", [("good/circle/circle_000.png", "c"), ("gone.png", "c")]
            ),
            {},
            "1 listed file(s) do not exist (first: line 3, gone.png)",
        ),
        "csv with an empty label": (
            write_manifest(tmp_path / "c.csv", [("good/circle/circle_000.png", "")]),
            {},
            "line 2 has an empty label",
        ),
        "csv with conflicting labels": (
            write_manifest(
                tmp_path / "d.csv",
                [("good/circle/circle_000.png", "a"), ("good/circle/circle_000.png", "b")],
            ),
            {},
            "twice with different labels",
        ),
        "empty csv": (write_manifest(tmp_path / "e.csv", []), {}, "lists no images"),
        "not data": (write_manifest(tmp_path / "f.txt", []), {}, "neither a folder"),
        "unknown backbone": (good, {"backbone": "resnet"}, "unknown backbone 'resnet'"),
        "tiny image size": (good, {"image_size": 4}, "--image-size 4 is out of range"),
        "no epochs": (good, {"epochs": -1}, "--epochs must be 0 (the default) or more"),
        "no patience": (good, {"patience": 0}, "--patience must be at least 1"),
        "unknown option": (good, {"colour": "red"}, "unknown training option(s) colour"),
    }


CASES = [
    "missing folder", "empty folder", "one class", "class with one readable image",
    "csv without label column", "csv with a missing file", "csv with an empty label",
    "csv with conflicting labels", "empty csv", "not data", "unknown backbone",
    "tiny image size", "no epochs", "no patience", "unknown option",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_trainer_error_and_writes_nothing(case: str, tmp_path: Path) -> None:
    data, options, words = bad_inputs(tmp_path)[case]
    before = fingerprint(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(trainer.TrainerError) as raised:
        trainer.train(data, out, **options)
    message = str(raised.value)
    assert words in message
    assert "\n" not in message
    assert not out.exists()
    assert fingerprint(tmp_path) == before


def test_a_backslash_is_a_name_on_posix_and_a_separator_from_windows(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "cats").mkdir(parents=True)
    rng = np.random.default_rng(0)
    literal = write_image(root / "back\\slash.png", "circle", rng, SIZE)
    windows = write_image(root / "cats" / "a.png", "square", rng, SIZE)
    manifest = write_manifest(root / "labels.csv", [("back\\slash.png", "x"), ("cats\\a.png", "y")])
    _, samples, _, _ = list_labelled_files(manifest)
    assert {s.rel: s.path for s in samples} == {"back\\slash.png": literal, "cats/a.png": windows}
