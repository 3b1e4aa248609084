"""The project store on real SQLite files, read back through fresh connections."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from core_helpers import fresh_rows, labels_in_file, make_image, make_images

from desktop.core.class_keys import class_keys
from desktop.core.errors import InvalidAction, ProjectError, ProjectLocked, ReadOnlyProject
from desktop.core.records import PredictionRow
from desktop.core.schema import APPLICATION_ID, SCHEMA_VERSION
from desktop.core.store import Project
from trainer.contract import ModelInfo


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "test.pigeonhole"


@pytest.fixture
def project(db: Path):
    with Project.open(db) as opened:
        yield opened


def test_a_new_project_is_a_marked_wal_file_with_a_schema_version(db: Path) -> None:
    Project.open(db).close()
    assert fresh_rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert fresh_rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert fresh_rows(db, "PRAGMA application_id") == [(APPLICATION_ID,)]


def test_every_action_is_in_the_file_before_the_method_returns(project, db, tmp_path) -> None:
    paths = make_images(tmp_path / "pics", 3)
    ids = project.add_images(paths)
    project.add_class("cat")
    cat = project.class_by_name("cat")
    project.set_labels(ids[:2], cat.id)
    assert labels_in_file(db) == {str(paths[0]): "cat", str(paths[1]): "cat"}
    assert fresh_rows(db, "SELECT source FROM labels") == [("user",), ("user",)]


def test_the_same_file_is_never_added_twice(project, db, tmp_path) -> None:
    path = make_image(tmp_path / "a.png")
    first = project.add_images([path])
    again = project.add_images([path, tmp_path / "." / "a.png", str(path)])
    assert again == first * 3
    assert fresh_rows(db, "SELECT path, size FROM images") == [(str(path), path.stat().st_size)]


def test_a_path_that_does_not_exist_is_added_flagged_missing(project, tmp_path) -> None:
    (image_id,) = project.add_images([tmp_path / "ghost.jpg"])
    record = project.image(image_id)
    assert record.status == "missing"
    assert "not found" in record.error


def test_flags_change_status_and_keep_labels(project, tmp_path) -> None:
    (image_id,) = project.add_images([make_image(tmp_path / "a.png")])
    project.add_class("cat")
    project.set_labels([image_id], project.class_by_name("cat").id)
    project.mark_unreadable(image_id, "corrupt image data")
    assert (project.image(image_id).status, project.image(image_id).error) == (
        "unreadable",
        "corrupt image data",
    )
    project.mark_unreadable_many([(image_id, "truncated")])
    assert project.image(image_id).error == "truncated"
    project.mark_missing([image_id])
    assert project.image(image_id).status == "missing"
    project.mark_present([image_id])
    row = project.image_rows()[0]
    assert (row.status, row.label_id) == ("ok", project.class_by_name("cat").id)
    with pytest.raises(InvalidAction, match="no image"):
        project.mark_unreadable(999, "x")


@pytest.mark.parametrize(
    "content",
    [b"just some text, not a database\n" * 10, bytes(range(256)) * 8],
    ids=["text", "random-bytes"],
)
def test_a_file_that_is_not_a_database_is_refused_and_untouched(tmp_path, content) -> None:
    path = tmp_path / "notes.pigeonhole"
    path.write_bytes(content)
    with pytest.raises(ProjectError, match="not a Pigeonhole project"):
        Project.open(path)
    assert path.read_bytes() == content
    assert not Path(str(path) + "-wal").exists()


def test_a_foreign_sqlite_database_is_refused_and_untouched(tmp_path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="not a Pigeonhole project"):
        Project.open(path)
    assert path.read_bytes() == before


def test_a_project_from_a_newer_version_is_refused_and_untouched(db) -> None:
    Project.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(ProjectError, match="newer Pigeonhole"):
        Project.open(db)
    with pytest.raises(ProjectError, match="newer Pigeonhole"):
        Project.open(db, read_only=True)
    assert db.read_bytes() == before


def test_bad_paths_are_refused_with_a_message(tmp_path) -> None:
    with pytest.raises(ProjectError, match="is a folder"):
        Project.open(tmp_path)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.open(tmp_path / "nope.pigeonhole", create=False)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.open(tmp_path / "no-folder" / "p.pigeonhole")
    with pytest.raises(ProjectError, match="does not exist"):
        Project.open(tmp_path / "nope.pigeonhole", read_only=True)
    Project.open(tmp_path / "p.pigeonhole").close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "p.pigeonhole")


def test_a_second_writer_is_locked_out_and_can_read_instead(db, tmp_path) -> None:
    writer = Project.open(db)
    try:
        (image_id,) = writer.add_images([make_image(tmp_path / "a.png")])
        writer.add_class("cat")
        with pytest.raises(ProjectLocked, match="read-only"):
            Project.open(db)
        with Project.open(db, read_only=True) as reader:
            assert reader.read_only
            assert [c.name for c in reader.classes()] == ["cat"]
            with pytest.raises(ReadOnlyProject):
                reader.add_class("dog")
            with pytest.raises(ReadOnlyProject):
                reader.set_labels([image_id], reader.class_by_name("cat").id)
            writer.add_class("dog")  # the writer goes on while a reader is open
            assert [c.name for c in reader.classes()] == ["cat", "dog"]
    finally:
        writer.close()
    with Project.open(db) as again:
        assert not again.read_only


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_file_without_write_permission_opens_read_only_only(db) -> None:
    Project.open(db).close()
    db.chmod(0o444)
    with pytest.raises(ReadOnlyProject, match="read-only"):
        Project.open(db)
    with Project.open(db, read_only=True) as reader:
        assert reader.classes() == []


def test_a_full_disk_rolls_back_and_says_so(project, db, tmp_path) -> None:
    project.add_images([make_image(tmp_path / "a.png")])
    # SQLite reports SQLITE_FULL ("database or disk is full") when the file may not grow.
    pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
    project._conn.execute(f"PRAGMA max_page_count = {pages}")
    many = [tmp_path / f"missing-{'x' * 200}-{i}.png" for i in range(2000)]
    with pytest.raises(ProjectError, match="disk is full"):
        project.add_images(many)
    assert fresh_rows(db, "SELECT count(*) FROM images") == [(1,)]
    assert project.image_rows()[0].path == str(tmp_path / "a.png")


def test_class_actions_and_their_shortcuts(project, db) -> None:
    for name in ["cat", "dog", "bird"]:
        project.add_class(name)
    ids = {c.name: c.id for c in project.classes()}
    project.rename_class(ids["bird"], "parrot")
    project.recolour_class(ids["dog"], "#ABCDEF")
    project.reorder_classes([ids["bird"], ids["cat"], ids["dog"]])
    keys = class_keys(project.classes())
    assert [(c.name, keys.get(c.id)) for c in project.classes()] == [
        ("parrot", 1),
        ("cat", 2),
        ("dog", 3),
    ]
    assert project.classes()[2].colour == "#abcdef"
    assert fresh_rows(db, "SELECT name FROM classes ORDER BY position") == [
        ("parrot",),
        ("cat",),
        ("dog",),
    ]


def test_only_the_first_ten_classes_get_a_key(project) -> None:
    for i in range(11):
        project.add_class(f"class {i}")
    keys = class_keys(project.classes())
    assert [keys.get(c.id) for c in project.classes()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, None]


def test_merge_moves_labels_and_delete_unlabels(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path, 4))
    for name in ["cat", "kitten", "dog"]:
        project.add_class(name)
    cat, kitten, dog = (c.id for c in project.classes())
    project.set_labels(ids[:2], cat)
    project.set_labels(ids[2:3], kitten)
    project.set_labels(ids[3:], dog)
    action = project.merge_classes(kitten, cat)
    assert action.text == "Merge kitten into cat (1 image)"
    assert [r.label_id for r in project.image_rows()] == [cat, cat, cat, dog]
    project.delete_class(cat)
    assert [r.label_id for r in project.image_rows()] == [None, None, None, dog]
    assert [(c.name, c.position) for c in project.classes()] == [("dog", 0)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, c, i: p.add_class(""), "empty"),
        (lambda p, c, i: p.add_class("  "), "empty"),
        (lambda p, c, i: p.add_class("CAT"), "already a class"),
        (lambda p, c, i: p.add_class("a\nb"), "line breaks"),
        (lambda p, c, i: p.add_class("x" * 101), "at most"),
        (lambda p, c, i: p.add_class("fox", colour="red"), "not a colour"),
        (lambda p, c, i: p.rename_class(c, "Dog"), "already a class"),
        (lambda p, c, i: p.rename_class(999, "fox"), "no class"),
        (lambda p, c, i: p.recolour_class(c, "#12345"), "not a colour"),
        (lambda p, c, i: p.merge_classes(c, c), "into itself"),
        (lambda p, c, i: p.merge_classes(c, 999), "no class"),
        (lambda p, c, i: p.delete_class(999), "no class"),
        (lambda p, c, i: p.reorder_classes([c]), "every class"),
        (lambda p, c, i: p.reorder_classes([c, c]), "every class"),
        (lambda p, c, i: p.set_labels([i], 999), "no class"),
        (lambda p, c, i: p.set_labels([i, 999], c), "not in this project"),
        (lambda p, c, i: p.set_labels([], c), "No images"),
        (lambda p, c, i: p.set_labels([i], c, source="guess"), "label source"),
        (lambda p, c, i: p.accept_predictions([i]), "open a model"),
        (lambda p, c, i: p.redo(), "nothing to redo"),
    ],
)
def test_bad_requests_change_nothing(project, db, tmp_path, call, message) -> None:
    (image_id,) = project.add_images([make_image(tmp_path / "a.png")])
    project.add_class("cat")
    project.add_class("dog")
    cat = project.class_by_name("cat").id
    project.set_labels([image_id], cat)
    before = [fresh_rows(db, f"SELECT * FROM {t}") for t in ("classes", "labels", "history")]
    with pytest.raises(InvalidAction, match=message):
        call(project, cat, image_id)
    after = [fresh_rows(db, f"SELECT * FROM {t}") for t in ("classes", "labels", "history")]
    assert after == before


def add_tiny_model(project, classes=("cat", "dog", "bird")) -> int:
    info = ModelInfo(classes=list(classes), input_size=32, backbone="tiny", trainer_version="t")
    return project.add_model("/models/tiny.onnx", info, {"accuracy": 0.5}, n_labels=10)


def test_predictions_show_in_the_grid_rows_by_class_name(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path, 3))
    project.add_class("dog")
    project.add_class("Cat")
    model_id = add_tiny_model(project)
    assert project.current_model_id() == model_id
    project.set_predictions(
        model_id,
        [
            PredictionRow.from_probs(ids[0], [0.7, 0.2, 0.1], k=3, embedding=[1.0, 2.0]),
            PredictionRow.from_probs(ids[1], [0.1, 0.3, 0.6], k=3),
        ],
    )
    rows = project.image_rows()
    _dog, cat = (c.id for c in project.classes())
    assert rows[0].predicted_id == cat  # the model's "cat" is the project's "Cat"
    assert rows[0].confidence == pytest.approx(0.7)
    assert rows[0].margin == pytest.approx(0.5)
    assert rows[1].predicted_id is None  # "bird" is not a project class
    assert rows[2].predicted_id is None and rows[2].confidence is None
    stored = project.prediction(ids[0])
    assert stored.topk[0][0] == 0 and len(stored.topk) == 3
    assert stored.embedding == PredictionRow.from_probs(0, [1], embedding=[1.0, 2.0]).embedding
    assert project.unpredicted_image_ids() == [ids[2]]
    assert project.counts().predicted == 2
    action = project.accept_predictions(ids)
    assert action.text == "Accept 1 prediction"
    assert project.image(ids[0]).label_source == "accepted_prediction"
    with pytest.raises(InvalidAction, match="outside the model"):
        project.set_predictions(model_id, [PredictionRow(ids[2], 5, 0.9, [(5, 0.9)])])


def test_counts(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path, 4))
    project.add_class("cat")
    cat = project.class_by_name("cat").id
    project.set_labels(ids[:2], cat)
    project.mark_unreadable(ids[3], "empty file")
    counts = project.counts()
    assert (counts.images, counts.labelled, counts.unlabelled, counts.unreadable) == (4, 2, 2, 1)
    assert counts.per_class == {cat: 2}


def test_save_as_copies_everything_and_refuses_to_overwrite(project, tmp_path) -> None:
    project.add_class("cat")
    copy = project.copy_to(tmp_path / "copy.pigeonhole")
    with Project.open(copy) as opened:
        assert [c.name for c in opened.classes()] == ["cat"]
        assert opened.can_undo()
    with pytest.raises(ProjectError, match="already exists"):
        project.copy_to(copy)


def test_another_process_is_locked_out_while_this_one_writes(db) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from desktop.core.errors import ProjectLocked\n"
        "from desktop.core.store import Project\n"
        "try:\n"
        "    Project.open(sys.argv[1])\n"
        "except ProjectLocked as exc:\n"
        "    print('locked:', exc)\n"
        "with Project.open(sys.argv[1], read_only=True) as reader:\n"
        "    print([c.name for c in reader.classes()])\n"
    )
    with Project.open(db) as writer:
        writer.add_class("cat")
        done = subprocess.run(
            [sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True
        )
    assert "open in another Pigeonhole window" in done.stdout
    assert done.stdout.splitlines()[-1] == "['cat']"
