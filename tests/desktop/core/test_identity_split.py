"""The split the app hands the trainer: unchanged by moves, one split per duplicate group, and old
projects keep the test images their versions were scored on (issue 14)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.core.csv_io import write_training_manifest
from desktop.core.queries import parted_by_lock
from desktop.core.records import PredictionRow
from desktop.core.relink import FilesChecked, check_files
from desktop.core.scanner import import_class_folders, scan_all
from desktop.core.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from desktop.core.store import Project
from tests.desktop.core.core_helpers import fresh_rows
from tests.imagegen import write_dataset
from trainer.data import load_training_data
from trainer.split import assign_splits, write_split_csv

SIZE = 16


def add_and_check(project: Project, folder: Path) -> FilesChecked:
    project.add_images(scan_all([folder]).files)
    return [i for i in check_files(project) if isinstance(i, FilesChecked)][-1]


def splits_by_image(project: Project, manifest: Path) -> dict[int, str]:
    write_training_manifest(project, manifest)
    data = load_training_data(manifest, SIZE)
    ids = project.image_ids_by_path([str(s.path) for s in data.samples])
    return {ids[str(s.path)]: data.splits[s.rel] for s in data.samples}


def test_moving_the_images_changes_no_split(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=15, side=SIZE)
    with Project.open(tmp_path / "p.pigeonhole") as project:
        add_and_check(project, root)
        import_class_folders(project, root)
        before = splits_by_image(project, tmp_path / "run1.csv")
        moved = tmp_path / "archive" / "shapes-2024"
        moved.parent.mkdir()
        shutil.move(root, moved)
        assert len(add_and_check(project, moved).relinked) == 45
        after = splits_by_image(project, tmp_path / "run2.csv")
    assert len(before) == 45 and after == before


def test_no_duplicate_group_spans_two_splits(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=20, side=SIZE)
    for path in sorted(root.glob("*/*.*")):  # a copy of every image, under another name
        shutil.copy(path, path.with_name("copy-" + path.name))
    with Project.open(tmp_path / "p.pigeonhole") as project:
        add_and_check(project, root)
        import_class_folders(project, root)
        splits = splits_by_image(project, tmp_path / "run.csv")
        groups = project.duplicate_groups()
    assert len(groups) == 60 and len(splits) == 120
    assert all(len({splits[i] for i in g.image_ids}) == 1 for g in groups)
    assert {"train", "val", "test"} <= set(splits.values())


def write_old_project(db: Path, root: Path, run_dir: Path) -> dict[str, str]:
    """A project file as Pigeonhole wrote it before content keys (format 1), with one trained
    version whose split.csv used the old rule (SHA-1 of the absolute path); returns that split."""
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    files = sorted(root.glob("*/*.*"))
    classes = sorted({p.parent.name for p in files})
    now = time.time()
    for position, name in enumerate(classes):
        conn.execute(
            "INSERT INTO classes VALUES (?, ?, '#1f77b4', ?)", (position + 1, name, position)
        )
    for image_id, path in enumerate(files, start=1):
        stat = path.stat()
        conn.execute(
            "INSERT INTO images (id, path, size, mtime, status, added) "
            "VALUES (?, ?, ?, ?, 'ok', ?)",
            (image_id, str(path), stat.st_size, stat.st_mtime, now),
        )
        class_id = classes.index(path.parent.name) + 1
        conn.execute("INSERT INTO labels VALUES (?, ?, 'user', ?)", (image_id, class_id, now))
    old = assign_splits((str(p), p.parent.name) for p in files)  # the path rule
    run_dir.mkdir()
    write_split_csv(run_dir / "split.csv", [(str(p), p.parent.name, old[str(p)]) for p in files])
    (run_dir / "history.json").write_text(json.dumps({"data_root": str(run_dir)}))
    conn.execute(
        "INSERT INTO models (path, info, metrics, created, n_labels) VALUES (?, ?, ?, ?, ?)",
        (
            str(run_dir / "model.onnx"),
            json.dumps({"classes": sorted({p.parent.name for p in files})}),
            json.dumps({"source": "trainer"}),
            now,
            len(files),
        ),
    )
    conn.commit()
    conn.close()
    return old


def test_an_old_project_keeps_its_test_images_in_test(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_dataset(root, per_class=20, side=SIZE)
    db = tmp_path / "old.pigeonhole"
    old = write_old_project(db, root, tmp_path / "run-old")
    with Project.open(db) as project:
        assert fresh_rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert fresh_rows(db, "SELECT count(*) FROM locked_splits") == [(60,)]
        add_and_check(project, root)  # keys the old images
        splits = splits_by_image(project, tmp_path / "next-run.csv")
        paths = {i: project.image(i).path for i in splits}
    assert {paths[i]: split for i, split in splits.items()} == old
    assert fresh_rows(db, "SELECT value FROM meta WHERE key = 'lock_old_splits'") == [("done: 60",)]
    with Project.open(db) as again:  # the lock is taken once, not again on every open
        assert len(again.locked_splits()) == 60


def plant_embeddings(project: Project, near: dict[int, int], dim: int = 64) -> None:
    """A model whose cached embeddings are random (far apart) except that image ``b`` of each
    ``near[a] = b`` is a near copy of ``a`` (cosine ~0.9999), as a resized copy would be."""
    rng = np.random.default_rng(0)
    ids = sorted(row.id for row in project.image_rows())
    vectors = {i: rng.standard_normal(dim).astype(np.float32) for i in ids}
    for a, b in near.items():
        vectors[b] = vectors[a] + np.float32(0.01) * rng.standard_normal(dim).astype(np.float32)
    model = project.add_model(project.path.parent / "m.onnx", {"classes": ["a", "b", "c"]})
    project.set_predictions(
        model, [PredictionRow(i, 0, 0.9, [(0, 0.9)], vectors[i].tobytes()) for i in ids]
    )


def labelled_shapes_with_big_copies(project: Project, root: Path) -> dict[int, int]:
    """60 labelled shapes, every other one with a copy at twice the size (other bytes, other
    content key): the 30 (original id, copy id) pairs."""
    write_dataset(root, per_class=20, side=SIZE)
    originals = sorted(root.glob("*/*.*"))[::2]
    for path in originals:
        with Image.open(path) as image:
            image.resize((SIZE * 2, SIZE * 2)).save(path.with_name("big-" + path.stem + ".png"))
    add_and_check(project, root)
    import_class_folders(project, root)
    by_path = project.image_ids_by_path([str(p) for p in sorted(root.glob("*/*.*"))])
    return {by_path[str(p)]: by_path[str(p.with_name("big-" + p.stem + ".png"))] for p in originals}


def test_near_copies_share_a_group_in_the_manifest_and_never_cross_splits(tmp_path: Path) -> None:
    """Resized copies (other bytes, other content key) of 30 images: without the near groups
    the path-free content split puts many pairs in different splits; with them, none."""
    with Project.open(tmp_path / "p.pigeonhole") as project:
        pairs = labelled_shapes_with_big_copies(project, tmp_path / "shapes")
        exact_only = splits_by_image(project, tmp_path / "before.csv")
        plant_embeddings(project, pairs)
        manifest = tmp_path / "run.csv"
        splits = splits_by_image(project, manifest)
        groups = {row["path"]: row["group"] for row in csv.DictReader(manifest.open())}
        paths = {i: project.image(i).path for i in splits}
    assert len(pairs) == 30 and len(splits) == 90
    assert sum(exact_only[a] != exact_only[b] for a, b in pairs.items()) > 5  # can fail
    assert all(splits[a] == splits[b] for a, b in pairs.items())
    assert all(groups[paths[a]] == groups[paths[b]] for a, b in pairs.items())
    assert len(set(groups.values())) == 60  # 30 merged pairs + 30 images on their own
    report = load_training_data(manifest, SIZE).merged_groups()
    assert report == {"groups_merged": 30, "files_in_merged_groups": 60}


def register_trained_version(project: Project, run_dir: Path, splits: dict[int, str]) -> int:
    """A version as a training run registers it: model.onnx beside the run's split.csv."""
    run_dir.mkdir()
    rows = [
        (project.image(i).path, Path(project.image(i).path).parent.name, s)
        for i, s in splits.items()
    ]
    write_split_csv(run_dir / "split.csv", rows)
    (run_dir / "history.json").write_text(json.dumps({"data_root": str(run_dir)}))
    return project.add_model(run_dir / "model.onnx", {"classes": ["a", "b", "c"]})


def test_the_next_version_keeps_the_images_in_the_splits_of_the_last(tmp_path: Path) -> None:
    """A new model's embeddings make new near-duplicate groups; without the lock taken at
    registration (and near groups parted by it) the next training would move images between
    train and test, and score the new version on other test images."""
    with Project.open(tmp_path / "p.pigeonhole") as project:
        pairs = labelled_shapes_with_big_copies(project, tmp_path / "shapes")
        first = splits_by_image(project, tmp_path / "run1.csv")
        register_trained_version(project, tmp_path / "run1", first)
        plant_embeddings(project, pairs)  # the new version's embeddings join the pairs
        second = splits_by_image(project, tmp_path / "run2.csv")
    assert sum(first[a] != first[b] for a, b in pairs.items()) > 5  # new groups cross (can fail)
    assert second == first


def test_a_new_near_copy_of_a_test_image_is_tested_too() -> None:
    locks = {1: "train", 2: "test", 3: "val"}
    assert parted_by_lock([1, 2, 3, 4, 5], locks) == [[1], [2, 4, 5], [3]]
    assert parted_by_lock([1, 4], locks) == [[1, 4]]  # one locked split: nothing to part
    assert parted_by_lock([4, 5], locks) == [[4, 5]]
