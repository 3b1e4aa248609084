"""File names of any bytes through every path: scan, the store, thumbnails, classify, exports and
the trainer's manifest.

The names are real files on disk (Linux file systems take any bytes but '/' and NUL): a name that
is not UTF-8 (old archives, Samba shares), a backslash, a newline, a 255-byte name and a long
CJK name. Each must be found, stored, read back by a fresh connection, decoded and handed on with
its exact bytes; on screen its stray bytes show as U+FFFD.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.cli_classify import main as classify_main
from desktop.core.csv_io import export_csv, import_label_csv
from desktop.core.folders_export import export_class_folders
from desktop.core.scanner import scan, scan_all
from desktop.core.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from desktop.core.store import Project
from desktop.core.training_run import TrainSettings, prepare_run
from desktop.ui.grid_model import Tile
from desktop.ui.ingest import FIRST_BATCH
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader
from tests.conftest import run_trainer
from trainer.data import list_labelled_files
from trainer.file_names import PATH_BYTES_COLUMN, path_from_cells, shown
from trainer.split import assign_splits, read_split_csv, write_split_csv

NOT_UTF8 = os.fsdecode(b"caf\xe9.png")
ODD_NAMES = [
    NOT_UTF8,
    "back\\slash.png",
    "new\nline.png",
    "a" * 251 + ".png",  # 255 bytes, the most ext4 allows
    "猫" * 80 + ".png",  # 244 bytes of UTF-8
    "plain.png",
]
CJK_CLASS = "长" * 100  # 300 bytes of UTF-8: too long for one folder name


def new_class(project: Project, name: str) -> int:
    project.add_class(name)
    return next(c.id for c in project.classes() if c.name == name)


def write_picture(path: Path, seed: int) -> Path:
    """A real 16x16 PNG of its own colours, so no two files are alike."""
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return path


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """One folder holding a picture under each odd name, one in a folder that is not UTF-8."""
    folder = tmp_path / "photos"
    (folder / os.fsdecode(b"\xff\xfeold")).mkdir(parents=True)
    for seed, name in enumerate(ODD_NAMES):
        write_picture(folder / name, seed)
    write_picture(folder / os.fsdecode(b"\xff\xfeold") / "inside.png", 99)
    return folder


def odd_paths(folder: Path) -> set[str]:
    return {os.fspath(folder / name) for name in ODD_NAMES} | {
        os.fspath(folder / os.fsdecode(b"\xff\xfeold") / "inside.png")
    }


def test_names_on_disk_are_what_the_test_claims(odd_folder: Path) -> None:
    names = set(os.listdir(os.fsencode(odd_folder)))
    assert b"caf\xe9.png" in names and len(b"a" * 251 + b".png") == 255
    assert max(len(os.fsencode(name)) for name in ODD_NAMES) == 255


def test_the_scanner_finds_every_name(odd_folder: Path) -> None:
    found = scan_all([odd_folder])
    assert {item.path for item in found.files} == odd_paths(odd_folder)
    assert not found.skipped


def test_the_store_keeps_every_name_and_a_fresh_connection_reads_the_bytes(
    odd_folder: Path, tmp_path: Path
) -> None:
    db = tmp_path / "p.pigeonhole"
    with Project.open(db) as project:
        ids = project.add_images(scan_all([odd_folder]).files)
        cat = new_class(project, "cat")
        project.set_labels(ids, cat)
    assert len(set(ids)) == len(odd_paths(odd_folder))
    with Project.open(db) as project:
        rows = project.image_rows()
        assert {row.path for row in rows} == odd_paths(odd_folder)
        assert all(os.path.isfile(row.path) for row in rows)
        assert project.image(ids[0]).path in odd_paths(odd_folder)
        assert {path for path, _ in project.labelled_images()} == odd_paths(odd_folder)
        by_path = project.image_ids_by_path([odd_folder / NOT_UTF8])
        assert project.image(by_path[os.fspath(odd_folder / NOT_UTF8)]).path.endswith(NOT_UTF8)
        project.add_images([odd_folder / NOT_UTF8])  # the same file again: no second row
        assert len(project.image_rows()) == len(ids)
    conn = sqlite3.connect(db)
    stored = {value for (value,) in conn.execute("SELECT path FROM images")}
    conn.close()
    assert os.fsencode(odd_folder / NOT_UTF8) in stored  # exact bytes, as a BLOB
    assert os.fspath(odd_folder / "plain.png") in stored  # valid UTF-8 stays TEXT


def test_a_drop_of_1201_files_with_one_bad_name_adds_all_1201(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(1200):
        (folder / f"img{i:04d}.png").write_bytes(b"")  # adding never decodes: empty files do
    (folder / NOT_UTF8).write_bytes(b"")
    with Project.open(tmp_path / "p.pigeonhole") as project:
        for batch in scan([folder], first_batch=FIRST_BATCH):  # as a drop on the window does
            project.add_images(batch.files)
        assert project.counts().images == 1201
        assert os.fspath(folder / NOT_UTF8) in {row.path for row in project.image_rows()}


def test_a_stray_byte_is_shown_as_a_replacement_character(odd_folder: Path) -> None:
    tile = Tile(1, os.fspath(odd_folder / NOT_UTF8))
    assert shown(tile.name) == "caf\ufffd.png"
    assert shown("new\nline.png") == "new\nline.png"  # valid text is shown as it is
    assert os.path.isfile(tile.path)


def test_thumbnails_of_every_name(odd_folder: Path, qtbot, tmp_path: Path) -> None:
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=2)
    keys = [ThumbKey(path, 32) for path in sorted(odd_paths(odd_folder))]
    for key in keys:
        loader.pixmap(key)
    qtbot.waitUntil(lambda: loader.pending_count() == 0, timeout=60_000)
    loader.shutdown()
    assert loader.errors == {}
    assert all(not loader.pixmap(key).isNull() for key in keys)


def test_classify_cli_writes_a_row_for_every_name(
    odd_folder: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.csv"
    args = [str(odd_folder), "--model", str(tiny_model_path), "--out", str(out), "--workers", "0"]
    assert classify_main(args) == 0
    with out.open(newline="", encoding="utf-8") as stream:  # strict: the CSV is valid UTF-8
        rows = list(csv.DictReader(stream))
    assert {path_from_cells(r["path"], r[PATH_BYTES_COLUMN]) for r in rows} == odd_paths(odd_folder)
    assert all(row["prediction"] and not row["error"] for row in rows)
    bad = next(row for row in rows if row[PATH_BYTES_COLUMN].endswith("caf%E9.png"))
    assert bad["path"] == shown(os.fspath(odd_folder / NOT_UTF8))


def test_csv_export_then_import_keeps_every_label(odd_folder: Path, tmp_path: Path) -> None:
    files = sorted(odd_paths(odd_folder))
    with Project.open(tmp_path / "a.pigeonhole") as source:
        ids = source.add_images(files)
        for i, image_id in enumerate(ids):
            source.set_labels([image_id], new_class(source, f"class {i}"))
        expected = dict(source.labelled_images())
        export_csv(source, tmp_path / "labels.csv")
    (tmp_path / "labels.csv").read_bytes().decode("utf-8")  # valid UTF-8 for spreadsheets
    with Project.open(tmp_path / "b.pigeonhole") as target:
        summary = import_label_csv(target, tmp_path / "labels.csv", create_classes=True)
        assert not summary.skipped
        assert dict(target.labelled_images()) == expected


def test_folder_export_copies_every_name_and_a_long_cjk_class(
    odd_folder: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    twin.mkdir()
    long_name = "a" * 251 + ".png"
    write_picture(twin / long_name, 7)  # collides with the 255-byte name: gets " (2)"
    files = [*sorted(odd_paths(odd_folder)), os.fspath(twin / long_name)]
    with Project.open(tmp_path / "p.pigeonhole") as project:
        ids = dict(zip(files, project.add_images(files), strict=True))
        twins = [ids.pop(os.fspath(odd_folder / long_name)), ids.pop(os.fspath(twin / long_name))]
        project.set_labels(twins, new_class(project, "plain"))
        project.set_labels(list(ids.values()), new_class(project, CJK_CLASS))
        summary = export_class_folders(project, tmp_path / "out")
    assert summary.skipped == [] and summary.n_written == len(files)
    assert summary.n_renamed == 1
    copies = [Path(root, name) for root, _, names in os.walk(tmp_path / "out") for name in names]
    assert len(copies) == len(files)
    assert all(len(os.fsencode(copy.name)) <= 255 for copy in copies)
    assert all(len(os.fsencode(copy.parent.name)) <= 255 for copy in copies)
    assert b"caf\xe9.png" in {os.fsencode(copy.name) for copy in copies}
    originals = {Path(f).read_bytes() for f in files}
    assert {copy.read_bytes() for copy in copies} == originals


def test_the_training_manifest_hands_every_name_to_the_trainer(
    odd_folder: Path, tmp_path: Path
) -> None:
    files = sorted(odd_paths(odd_folder))
    with Project.open(tmp_path / "p.pigeonhole") as project:
        ids = project.add_images(files)
        project.set_labels(ids[::2], new_class(project, "cat"))
        project.set_labels(ids[1::2], new_class(project, "dog"))
        prepared = prepare_run(project, TrainSettings(backbone="small_cnn"), tmp_path / "runs")
    prepared.manifest.read_bytes().decode("utf-8")  # the manifest is valid UTF-8
    _, samples, classes, skipped = list_labelled_files(prepared.manifest)
    assert classes == ["cat", "dog"] and skipped == []
    assert {os.fspath(sample.path) for sample in samples} == set(files)
    splits = assign_splits((sample.rel, sample.label) for sample in samples)
    write_split_csv(tmp_path / "split.csv", [(s.rel, s.label, splits[s.rel]) for s in samples])
    assert {(rel, split) for rel, _, split in read_split_csv(tmp_path / "split.csv")} == set(
        splits.items()
    )


@pytest.mark.slow
def test_the_trainer_trains_on_a_manifest_of_odd_names(odd_folder: Path, tmp_path: Path) -> None:
    """The real trainer: split.csv and report.json survive names that are not UTF-8."""
    for seed in range(3):
        write_picture(odd_folder / f"more{seed}.png", 50 + seed)
    files = sorted(odd_paths(odd_folder) | {str(odd_folder / f"more{s}.png") for s in range(3)})
    with Project.open(tmp_path / "p.pigeonhole") as project:
        ids = project.add_images(files)
        project.set_labels(ids[::2], new_class(project, "cat"))
        project.set_labels(ids[1::2], new_class(project, "dog"))
        settings = TrainSettings(backbone="small_cnn", epochs=1, image_size=16, batch_size=4)
        prepared = prepare_run(project, settings, tmp_path / "runs")
    result = run_trainer(*prepared.command[prepared.command.index("train") :])
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_split_csv(prepared.run_dir / "split.csv")
    assert {os.path.join(prepared.run_dir, rel) for rel, _, _ in rows} == set(files)


def test_a_version_1_project_is_upgraded_and_then_takes_any_name(
    odd_folder: Path, tmp_path: Path
) -> None:
    """A project made before paths could be BLOBs keeps its rows and labels; its version goes up
    so an older Pigeonhole refuses it rather than misread a BLOB path."""
    db = tmp_path / "old.pigeonhole"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + f"PRAGMA application_id = {APPLICATION_ID};")
    conn.execute("PRAGMA user_version = 1")
    plain = os.fspath(odd_folder / "plain.png")
    conn.execute("INSERT INTO images (path, added) VALUES (?, 0)", (plain,))
    conn.execute("INSERT INTO classes (name, colour, position) VALUES ('cat', '#112233', 0)")
    conn.execute("INSERT INTO labels VALUES (1, 1, 'user', 0)")
    conn.commit()
    conn.close()
    with Project.open(db) as project:
        assert project.labelled_images(readable_only=False) == [(plain, "cat")]
        project.add_images([odd_folder / NOT_UTF8])
        assert len(project.image_rows()) == 2
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
    conn.close()
