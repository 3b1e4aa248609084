"""A project file from someone else is checked before it is trusted: extra triggers, views in place
of tables and odd settings are refused with a message and the file is left byte for byte as it was;
a clean copy with the data can be made beside it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from desktop.core.clean_copy import make_clean_copy
from desktop.core.project_check import BadSetting, ForeignSchema, UntrustedProject
from desktop.core.store import Project


def make_project(folder: Path) -> Path:
    """A real project: two classes, three images, two labels, one model record."""
    path = folder / "shared.pigeonhole"
    images = []
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (8, 8), "red").save(folder / name)
        images.append(folder / name)
    with Project.open(path) as project:
        project.add_class("cat")
        project.add_class("dog")
        project.import_labels([(images[0], "cat"), (images[1], "dog")])
        project.add_images([images[2]])
        project.add_model(folder / "model.onnx", {"classes": ["cat", "dog"]})
    return path


def tamper(path: Path, *statements: str) -> str:
    """Change the file as someone else's tool would, then return its fingerprint."""
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    return fingerprint(path)


def fingerprint(path: Path) -> str:
    """The file's bytes and its write-ahead log's: reading may create an empty -wal, no more."""
    wal = path.with_name(path.name + "-wal")
    written = wal.read_bytes() if wal.exists() else b""
    return hashlib.sha256(path.read_bytes()).hexdigest() + f" wal {len(written)} bytes"


def labels_of(path: Path) -> dict[str, str]:
    with Project.open(path) as project:
        names = {c.id: c.name for c in project.classes()}
        rows = project.image_rows()
        return {Path(r.path).name: names[r.label_id] for r in rows if r.label_id is not None}


TRIGGER = (
    "CREATE TRIGGER forget AFTER INSERT ON labels "
    "BEGIN DELETE FROM labels WHERE image_id != new.image_id; END"
)
VIEW = ("DROP TABLE labels", "CREATE VIEW labels AS SELECT 1 AS image_id, 1 AS class_id")


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        ((TRIGGER,), "an unknown trigger 'forget'"),
        (VIEW, "an unknown view 'labels'"),
        (("CREATE TABLE extra (x)",), "an unknown table 'extra'"),
        (("DROP INDEX labels_by_class",), "no index 'labels_by_class'"),
        (
            (
                "PRAGMA writable_schema = ON",
                "UPDATE sqlite_master SET sql = replace(sql, ', ''missing''', '') "
                "WHERE name = 'images'",
            ),
            "a changed table 'images'",
        ),
    ],
    ids=["trigger", "view", "table", "dropped-index", "changed-table"],
)
def test_parts_we_never_create_are_refused_and_the_file_is_untouched(
    tmp_path: Path, statements: tuple[str, ...], problem: str
) -> None:
    path = make_project(tmp_path)
    before = tamper(path, *statements)
    with pytest.raises(ForeignSchema) as caught:
        Project.open(path)
    assert str(caught.value).startswith(
        f"shared.pigeonhole contains things Pigeonhole never creates ({problem}"
    )
    with pytest.raises(ForeignSchema):
        Project.open(path, read_only=True)
    assert fingerprint(path) == before


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE meta SET value = 'abc' WHERE key = 'history_cursor'", "undo position ('abc')"),
        ("UPDATE meta SET value = '99' WHERE key = 'history_cursor'", "undo position ('99')"),
        ("UPDATE meta SET value = '1e3' WHERE key = 'current_model'", "current model ('1e3')"),
        ("UPDATE meta SET value = '7' WHERE key = 'current_model'", "current model ('7')"),
        ("UPDATE models SET info = '{not json'", "the record of model 1 cannot be read"),
        ("UPDATE models SET info = '{\"classes\": 3}'", "the record of model 1 cannot be read"),
        ("UPDATE models SET metrics = '[]'", "the record of model 1 cannot be read"),
    ],
)
def test_odd_settings_are_refused_with_what_is_wrong(
    tmp_path: Path, statement: str, message: str
) -> None:
    path = make_project(tmp_path)
    before = tamper(path, statement)
    with pytest.raises(BadSetting) as caught:
        Project.open(path)
    assert str(caught.value).startswith(f"shared.pigeonhole is damaged: its {message}") or (
        f"shared.pigeonhole is damaged: {message}" in str(caught.value)
    )
    assert fingerprint(path) == before


def test_a_clean_copy_keeps_the_data_and_drops_the_trigger(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    expected = labels_of(path)
    before = tamper(path, TRIGGER, "UPDATE meta SET value = 'x' WHERE key = 'current_model'")
    copy = make_clean_copy(path)
    assert fingerprint(path) == before
    assert copy.path == tmp_path / "shared (clean copy).pigeonhole"
    assert labels_of(copy.path) == expected == {"a.png": "cat", "b.png": "dog"}
    with Project.open(copy.path) as project:
        rows = project.image_rows()
        assert len(rows) == 3
        assert [m.classes for m in project.models()] == [["cat", "dog"]]
        assert project.current_model_id() is None  # the odd value was reset, not kept
        project.set_labels([rows[2].id], project.classes()[0].id)
        assert project.counts().labelled == 3  # no trigger took the other labels away
        project.undo()
        project.undo()  # the user's earlier actions came along and still undo
        assert [c.name for c in project.classes()] == ["cat", "dog"]
    assert make_clean_copy(path).path.name == "shared (clean copy 2).pigeonhole"


def test_a_clean_copy_never_copies_a_view(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    tamper(path, *VIEW)
    copy = make_clean_copy(path)
    assert labels_of(copy.path) == {}
    assert copy.copied["images"] == 3 and "labels" not in copy.copied
    with pytest.raises(UntrustedProject):
        Project.open(path)


def test_rows_breaking_our_constraints_are_left_out_of_the_copy(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    tamper(
        path,
        "DROP TABLE labels",
        "CREATE TABLE labels (image_id INTEGER PRIMARY KEY, class_id, source, updated)",
        "INSERT INTO labels VALUES (1, 1, 'user', 0), (2, 99, 'user', 0), (3, 2, 'evil', 0)",
    )
    copy = make_clean_copy(path)
    assert labels_of(copy.path) == {"a.png": "cat"}
    assert copy.left_out == {"labels": 2}
    assert "2 from labels" in copy.summary()
