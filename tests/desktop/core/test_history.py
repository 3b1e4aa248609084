"""Undo and redo live in the project file: they replay exactly and survive closing the project."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from core_helpers import fresh_rows, labels_in_file, make_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.errors import InvalidAction
from desktop.core.store import Project


def state(project: Project) -> tuple:
    """What the user sees: classes in order, and every label with its source."""
    classes = [(c.id, c.name, c.colour, c.position) for c in project.classes()]
    labels = sorted((r.id, r.label_id, r.label_source) for r in project.image_rows())
    return classes, labels


def test_undo_and_redo_survive_closing_the_project(tmp_path: Path) -> None:
    db = tmp_path / "p.pigeonhole"
    paths = make_images(tmp_path / "pics", 3)
    with Project.open(db) as project:
        ids = project.add_images(paths)
        project.add_class("cat")
        project.add_class("dog")
        cat, dog = (c.id for c in project.classes())
        project.set_labels(ids, cat)
        project.set_labels(ids[:1], dog)
    with Project.open(db) as project:
        assert [a.text for a in project.history()] == [
            "Add class cat",
            "Add class dog",
            "Label 3 images as cat",
            "Label 1 image as dog",
        ]
        assert project.history_index() == 4
        assert project.undo().text == "Label 1 image as dog"
    assert labels_in_file(db) == {str(p): "cat" for p in paths}
    with Project.open(db) as project:
        assert project.can_undo() and project.can_redo()
        assert project.redo().text == "Label 1 image as dog"
        assert not project.can_redo()
    assert labels_in_file(db)[str(paths[0])] == "dog"


def test_a_new_action_after_undo_drops_the_redo_tail(tmp_path: Path) -> None:
    with Project.open(tmp_path / "p.pigeonhole") as project:
        project.add_class("cat")
        project.add_class("dog")
        project.undo()
        assert project.can_redo()
        project.add_class("bird")
        assert not project.can_redo()
        assert [a.text for a in project.history()] == ["Add class cat", "Add class bird"]
        with pytest.raises(InvalidAction, match="nothing to redo"):
            project.redo()


def test_undoing_a_delete_brings_back_the_class_and_its_labels(tmp_path: Path) -> None:
    db = tmp_path / "p.pigeonhole"
    with Project.open(db) as project:
        ids = project.add_images(make_images(tmp_path / "pics", 2))
        project.add_class("cat")
        project.add_class("dog")
        cat = project.class_by_name("cat").id
        project.set_labels(ids, cat)
        before = state(project)
        project.delete_class(cat)
        assert fresh_rows(db, "SELECT count(*) FROM labels") == [(0,)]
        project.undo()
        assert state(project) == before
        assert fresh_rows(db, "SELECT count(*) FROM labels") == [(2,)]


def test_undo_everything_down_to_an_empty_history(tmp_path: Path) -> None:
    with Project.open(tmp_path / "p.pigeonhole") as project:
        project.add_class("cat")
        project.undo()
        assert not project.can_undo() and project.history_index() == 0
        with pytest.raises(InvalidAction, match="nothing to undo"):
            project.undo()


NAMES = st.sampled_from(["cat", "dog", "bird", "Cat", "fish", "owl"])
PICK = st.integers(min_value=0, max_value=7)
OPS = st.one_of(
    st.tuples(st.just("label"), st.sets(st.integers(0, 4), min_size=1), PICK, st.booleans()),
    st.tuples(st.just("add"), NAMES),
    st.tuples(st.just("rename"), PICK, NAMES),
    st.tuples(st.just("recolour"), PICK, st.sampled_from(["#000000", "#ff00aa"])),
    st.tuples(st.just("merge"), PICK, PICK),
    st.tuples(st.just("delete"), PICK),
    st.tuples(st.just("reorder"), st.randoms(use_true_random=False)),
    st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
)


def apply(project: Project, ids: list[int], op: tuple) -> str:
    """Run one random operation; returns 'action', 'undo', 'redo' or 'refused'."""
    classes = [c.id for c in project.classes()]

    def pick(i: int) -> int:
        return classes[i % len(classes)] if classes else 999

    kind = op[0]
    try:
        if kind == "label":
            project.set_labels([ids[i] for i in op[1]], None if op[3] else pick(op[2]))
        elif kind == "add":
            project.add_class(op[1])
        elif kind == "rename":
            project.rename_class(pick(op[1]), op[2])
        elif kind == "recolour":
            project.recolour_class(pick(op[1]), op[2])
        elif kind == "merge":
            project.merge_classes(pick(op[1]), pick(op[2]))
        elif kind == "delete":
            project.delete_class(pick(op[1]))
        elif kind == "reorder":
            op[1].shuffle(classes)
            project.reorder_classes(classes)
        elif kind == "undo":
            project.undo()
            return "undo"
        else:
            project.redo()
            return "redo"
    except InvalidAction:
        return "refused"
    return "action"


def check_invariants(project: Project) -> None:
    classes = project.classes()
    assert [c.position for c in classes] == list(range(len(classes)))
    assert len({c.name.casefold() for c in classes}) == len(classes)
    known = {c.id for c in classes}
    assert all(r.label_id in known for r in project.image_rows() if r.label_id is not None)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, max_size=25))
def test_random_edits_undo_and_redo_exactly(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "p.pigeonhole"
        with Project.open(db) as project:
            ids = project.add_images([Path(folder) / f"{i}.png" for i in range(5)])
            timeline, pos = [state(project)], 0
            for op in ops:
                before = state(project)
                outcome = apply(project, ids, op)
                check_invariants(project)
                if outcome == "refused":
                    assert state(project) == before
                elif outcome == "action":
                    timeline, pos = [*timeline[: pos + 1], state(project)], pos + 1
                else:
                    pos += -1 if outcome == "undo" else 1
                    assert state(project) == timeline[pos]
                assert project.history_index() == pos
        with Project.open(db) as project:  # undo all, after a restart
            while project.can_undo():
                project.undo()
            assert state(project) == timeline[0]
        with Project.open(db) as project:  # redo all, after another restart
            while project.can_redo():
                project.redo()
            assert state(project) == timeline[-1]
            check_invariants(project)
