"""The split follows content: copies share a split, moves change nothing, locked groups stay."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.imagegen import write_dataset
from trainer.data import load_training_data
from trainer.errors import TrainerError
from trainer.identity import content_key
from trainer.split import assign_splits, merged_groups

SIZE = 16


def write_manifest(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_ten_thousand_identical_pairs_never_straddle_splits() -> None:
    items, groups = [], {}
    for i in range(10_000):
        for copy in ("a", "b"):
            rel = f"{copy}/{i:05d}.png"
            items.append((rel, "cat" if i % 2 else "dog"))
            groups[rel] = f"key{i}"
    splits = assign_splits(items, groups)
    across = sum(splits[f"a/{i:05d}.png"] != splits[f"b/{i:05d}.png"] for i in range(10_000))
    assert across == 0
    counts = Counter(splits.values())
    assert 0.6 < counts["train"] / 20_000 < 0.8 and counts["test"] > 0
    assert merged_groups(groups) == {"groups_merged": 10_000, "files_in_merged_groups": 20_000}


def test_without_groups_the_split_is_the_old_path_rule() -> None:
    items = [(f"c/{i}.png", "c") for i in range(50)]
    assert assign_splits(items) == assign_splits(items, {rel: rel for rel, _ in items})


def test_moving_a_folder_changes_no_split(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, per_class=12, side=SIZE)
    before = load_training_data(root, SIZE)
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    # Rename every file too: the rel paths all change, the contents do not.
    for path in sorted(moved.rglob("*.*")):
        path.rename(path.with_name("renamed_" + path.name))
    after = load_training_data(moved, SIZE)
    by_key_before = {before.groups[s.rel]: before.splits[s.rel] for s in before.samples}
    by_key_after = {after.groups[s.rel]: after.splits[s.rel] for s in after.samples}
    assert by_key_after == by_key_before
    assert len(by_key_after) == 36


def test_a_folder_with_copies_keeps_each_copy_with_its_original(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, per_class=30, side=SIZE)
    for path in sorted(root.glob("*/*.*")):
        shutil.copy(path, path.with_name("copy_of_" + path.name))
    data = load_training_data(root, SIZE)
    by_group: dict[str, set[str]] = {}
    for sample in data.samples:
        by_group.setdefault(data.groups[sample.rel], set()).add(data.splits[sample.rel])
    assert all(len(splits) == 1 for splits in by_group.values())
    assert data.merged_groups() == {"groups_merged": 90, "files_in_merged_groups": 180}


def test_manifest_group_and_split_columns_are_honoured(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, per_class=10, side=SIZE)
    files = sorted(root.glob("*/*.*"))
    plain = load_training_data(root, SIZE)
    rows = [[str(p), p.parent.name, "one" if p.parent.name == "circle" else "", ""] for p in files]
    first_square = next(i for i, p in enumerate(files) if p.parent.name == "square")
    rel = files[first_square].relative_to(root).as_posix()
    wanted = "val" if plain.splits[rel] == "test" else "test"
    rows[first_square][3] = wanted
    manifest = write_manifest(root / "m.csv", ["path", "label", "group", "split"], rows)
    data = load_training_data(manifest, SIZE)
    circles = {data.splits[s.rel] for s in data.samples if s.label == "circle"}
    assert len(circles) == 1  # one named group: one split for all ten
    assert data.splits[rel] == wanted
    assert data.groups[rel] == content_key(files[first_square])


def test_a_bad_split_value_is_refused_with_its_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, per_class=3, side=SIZE)
    rows = [[str(p), p.parent.name, "", "testing"] for p in sorted(root.glob("*/*.*"))]
    manifest = write_manifest(root / "m.csv", ["path", "label", "group", "split"], rows)
    with pytest.raises(TrainerError, match="line 2 has split 'testing'"):
        load_training_data(manifest, SIZE)


def test_locked_test_wins_within_a_group() -> None:
    items = [(f"c/{i}.png", "c") for i in range(20)]
    groups = {"c/0.png": "g", "c/1.png": "g"}
    splits = assign_splits(items, groups, {"c/0.png": "train", "c/1.png": "test"})
    assert splits["c/0.png"] == splits["c/1.png"] == "test"


def test_content_key_is_size_and_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    data = np.random.default_rng(0).bytes(100_000)
    a.write_bytes(data)
    b.write_bytes(data)
    c.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert content_key(a) == content_key(b) != content_key(c)
    assert content_key(a).startswith("b2:100000:")


def test_a_large_file_is_keyed_in_chunks_to_the_same_digest(tmp_path: Path) -> None:
    import hashlib

    data = np.random.default_rng(1).bytes(3 << 20)
    path = tmp_path / "big.tif"
    path.write_bytes(data)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    assert content_key(path) == f"b2:{len(data)}:{digest}"


def test_a_run_reports_its_merged_groups_and_lists_each_files_group(tiny_run_dir: Path) -> None:
    import json

    from trainer.split import GROUPS_FILE, read_groups_csv, read_split_csv

    report = json.loads((tiny_run_dir / "report.json").read_text())
    groups = read_groups_csv(tiny_run_dir / GROUPS_FILE)
    assert set(groups) == {rel for rel, _, _ in read_split_csv(tiny_run_dir / "split.csv")}
    assert report["duplicate_groups"] == merged_groups(groups)
    assert all(key.startswith("b2:") for key in groups.values())
