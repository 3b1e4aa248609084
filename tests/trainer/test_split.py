"""The stable stratified split: hash bands, tiny-class repairs, stability when files are added."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trainer.split import (
    MIN_FILES_FOR_TEST,
    assign_splits,
    base_split,
    read_split_csv,
    write_split_csv,
)

names = st.lists(
    st.text(alphabet="abcdefghij0123456789_", min_size=1, max_size=8), unique=True, max_size=30
)


def test_bands_are_about_70_15_15() -> None:
    counts = Counter(base_split(f"class/img_{i:05d}.jpg") for i in range(6000))
    assert abs(counts["train"] / 6000 - 0.70) < 0.03
    assert abs(counts["val"] / 6000 - 0.15) < 0.03
    assert abs(counts["test"] / 6000 - 0.15) < 0.03


def test_split_ignores_labels_and_other_classes() -> None:
    rels = [f"x/{i}.png" for i in range(40)]
    alone = assign_splits((rel, "cat") for rel in rels)
    with_others = assign_splits(
        [*((rel, "cat") for rel in rels), *((f"y/{i}", "dog") for i in range(99))]
    )
    assert all(with_others[rel] == split for rel, split in alone.items())
    assert alone == {rel: base_split(rel) for rel in rels}  # 40 files need no repair


@given(names.filter(lambda n: len(n) >= 2))
def test_every_class_of_two_or_more_gets_train_and_val(stems: list[str]) -> None:
    splits = assign_splits((f"c/{stem}.png", "c") for stem in stems)
    counts = Counter(splits.values())
    assert counts["train"] >= 1 and counts["val"] >= 1
    if len(stems) >= MIN_FILES_FOR_TEST:
        assert counts["test"] >= 1


@pytest.mark.xfail(
    strict=True,
    reason="known defect: when a class of 5+ files without a test file gains a second val file, "
    "the test repair switches from train[-1] to val[-1] and moves a file that sat in its own band",
)
@settings(max_examples=200)
@given(names, names)
@example(old=["0", "1", "3", "0000", "10j1294"], added=["024"])  # found by hypothesis
def test_adding_files_moves_only_repaired_files(old: list[str], added: list[str]) -> None:
    """A file that sat in its own hash band keeps its split when others join its class."""
    new = old + [stem for stem in added if stem not in old]
    before = assign_splits((f"c/{stem}.png", "c") for stem in old)
    after = assign_splits((f"c/{stem}.png", "c") for stem in new)
    # Repairs start at 2 files (train, val) and at 5 (test): growing past those may pick anyone.
    if len(old) < 2 <= len(new):
        return
    crossing = len(old) < MIN_FILES_FOR_TEST <= len(new)
    for rel, split in before.items():
        if split == base_split(rel) and not crossing:
            assert after[rel] == split, rel


def test_split_csv_round_trip(tmp_path: Path) -> None:
    rows = [("b/2.png", "b", "val"), ("a/1.png", "a", "train"), ("a/é,x.png", "a", "test")]
    write_split_csv(tmp_path / "split.csv", rows)
    assert read_split_csv(tmp_path / "split.csv") == sorted(rows)
    assert (tmp_path / "split.csv").read_text().splitlines()[0] == "path,label,split"
