"""Class names that are the same to a person, or to macOS and Windows, are one class and one folder.

"café" can be written two ways in Unicode (NFC: one é; NFD: e + a combining accent) and SQLite's
NOCASE only folds ASCII, so "Été" and "été" used to be two classes that APFS or NTFS would then
merge into one export folder.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

import pytest
from core_helpers import labels_in_file, make_images

from desktop.core.csv_io import import_label_csv
from desktop.core.errors import InvalidAction
from desktop.core.folders_export import export_class_folders
from desktop.core.store import Project

NFC = "caf\u00e9"
NFD = "cafe\u0301"


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "p.pigeonhole") as opened:
        yield opened


TWINS = [(NFC, NFD), (NFD, NFC), ("Été", "été"), ("STRASSE", "straße"), ("Ωmega", "ωMEGA")]


@pytest.mark.parametrize(("first", "twin"), TWINS)
def test_a_twin_of_an_existing_class_is_refused(project, first, twin) -> None:
    project.add_class(first)
    with pytest.raises(InvalidAction, match="already a class"):
        project.add_class(twin)
    assert len(project.classes()) == 1
    assert project.class_by_name(twin).id == project.classes()[0].id


def test_names_are_stored_in_nfc_and_renames_check_twins(project) -> None:
    project.add_class(NFD)
    project.add_class("Été")
    stored = [c.name for c in project.classes()]
    assert stored == [NFC, "Été"] and unicodedata.is_normalized("NFC", stored[0])
    with pytest.raises(InvalidAction, match="already a class"):
        project.rename_class(project.class_by_name("Été").id, NFD.upper())
    project.rename_class(project.class_by_name("Été").id, "été")  # its own case may change
    assert [c.name for c in project.classes()] == [NFC, "été"]


def test_csv_labels_in_another_form_or_case_find_the_existing_class(project, tmp_path) -> None:
    pics = make_images(tmp_path / "pics", 3)
    project.add_class(NFC)
    project.add_class("Été")
    table = tmp_path / "labels.csv"
    table.write_text(f"path,label\npics/img000.png,{NFD}\npics/img001.png,ÉTÉ\n"
                     "pics/img002.png,été\n", encoding="utf-8")  # fmt: skip
    summary = import_label_csv(project, table, create_classes=True)
    assert (summary.n_labelled, summary.n_classes_created) == (3, 0)
    assert labels_in_file(project.path) == {
        str(pics[0]): NFC,
        str(pics[1]): "Été",
        str(pics[2]): "Été",
    }


def test_twins_from_an_older_project_file_export_to_distinct_folders(tmp_path) -> None:
    """A project made before this check may hold both; each keeps a folder of its own."""
    db = tmp_path / "old.pigeonhole"
    pics = make_images(tmp_path / "pics", 4)
    with Project.open(db) as project:
        ids = project.add_images(pics)
    with sqlite3.connect(db) as conn:  # what an older Pigeonhole could write
        for n, name in enumerate([NFC, NFD, "Été", "été"], start=1):
            conn.execute("INSERT INTO classes VALUES (?, ?, '#123456', ?)", (n, name, n))
            conn.execute("INSERT INTO labels VALUES (?, ?, 'user', 0)", (ids[n - 1], n))
    with Project.open(db) as project:
        summary = export_class_folders(project, tmp_path / "out")
    assert summary.n_written == 4
    folders = [p.name for p in (tmp_path / "out").iterdir()]
    keys = {unicodedata.normalize("NFC", name).casefold() for name in folders}
    assert len(folders) == len(keys) == 4
    assert all(unicodedata.is_normalized("NFC", name) for name in folders)
