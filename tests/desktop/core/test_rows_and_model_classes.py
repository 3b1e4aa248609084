"""Grid rows read for a few ids, and predictions that stay with a class through renames."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_helpers import make_images

from desktop.core.records import PredictionRow
from desktop.core.scanner import scan
from desktop.core.store import Project


@pytest.fixture
def project(tmp_path: Path):
    with Project.open(tmp_path / "rows.pigeonhole") as opened:
        yield opened


def predict(project: Project, ids: list[int], classes: list[str], indices: list[int]) -> int:
    """Register a model with ``classes`` and store one prediction per image."""
    model_id = project.add_model("/models/m.onnx", {"classes": classes})
    rows = []
    for image_id, index in zip(ids, indices, strict=True):
        probs = [0.1] * len(classes)
        probs[index] = 1.0 - 0.1 * (len(classes) - 1)
        rows.append(PredictionRow.from_probs(image_id, probs, k=2))
    project.set_predictions(model_id, rows)
    return model_id


def test_rows_for_some_ids_are_the_same_rows_as_the_full_query(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 8))
    project.add_class("cat")
    cat = project.class_by_name("cat").id
    project.set_labels(ids[1:3], cat)
    predict(project, ids[:6], ["cat", "dog"], [0, 1, 0, 1, 0, 1])
    project.mark_unreadable(ids[7], "corrupt image data")
    everything = {row.id: row for row in project.image_rows()}

    wanted = [ids[6], ids[2], ids[7], ids[1], 999_999]  # any order; unknown ids are ignored
    some = project.image_rows(ids=wanted)

    assert [row.id for row in some] == sorted(ids[i] for i in (1, 2, 6, 7))  # order added
    assert all(row == everything[row.id] for row in some)
    assert project.image_rows(ids=[]) == []


def test_a_prediction_for_a_class_the_project_lacks_still_has_its_name(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 3))
    project.add_class("Cat")
    predict(project, ids[:2], ["cat", "bird"], [0, 1])
    rows = project.image_rows()
    cat = project.class_by_name("cat").id
    assert (rows[0].predicted_id, rows[0].predicted_name) == (cat, "Cat")  # the project's spelling
    assert (rows[1].predicted_id, rows[1].predicted_name) == (None, "bird")
    assert (rows[2].predicted_id, rows[2].predicted_name) == (None, None)


def test_renaming_a_class_keeps_its_predictions_and_undo_too(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 2))
    project.add_class("cat")
    project.add_class("dog")
    cat = project.class_by_name("cat").id
    predict(project, ids, ["cat", "dog"], [0, 1])

    project.rename_class(cat, "kitten")
    assert project.image_rows()[0].predicted_id == cat
    assert project.model_class_ids()[0] == cat
    project.accept_predictions(ids[:1])  # "Enter" still finds the renamed class
    assert project.image(ids[0]).label_id == cat

    project.undo()  # the acceptance
    project.undo()  # the rename
    assert project.classes()[0].name == "cat"
    assert project.image_rows()[0].predicted_id == cat
    project.redo()
    assert project.image_rows()[0].predicted_id == cat

    # Reopening (a restart) keeps the link: it lives in the project file.
    path = project.path
    project.close()
    with Project.open(path) as reopened:
        assert reopened.image_rows()[0].predicted_id == cat
        assert reopened.image_rows()[0].predicted_name == "kitten"  # the name the user sees


def test_a_new_class_does_not_inherit_a_deleted_class_s_predictions(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 1))
    project.add_class("dog")
    project.add_class("cat")
    cat = project.class_by_name("cat").id
    predict(project, ids, ["cat", "dog"], [0])
    project.rename_class(cat, "kitten")
    project.delete_class(cat)
    project.relink_model_classes()  # what the window does after every class change
    project.add_class("fish")  # may get the deleted class's id back
    row = project.image_rows()[0]
    assert row.predicted_id is None and row.predicted_name == "cat"


def test_a_class_added_after_the_model_is_matched_by_name_then_kept(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 1))
    predict(project, ids, ["cat", "dog"], [0])
    assert project.image_rows()[0].predicted_id is None
    project.add_class("CAT")
    cat = project.class_by_name("cat").id
    assert project.image_rows()[0].predicted_id == cat
    project.relink_model_classes()
    project.rename_class(cat, "felix")
    assert project.image_rows()[0].predicted_id == cat


def test_labels_touched_by_an_action(project, tmp_path) -> None:
    ids = project.add_images(make_images(tmp_path / "imgs", 3))
    added = project.add_class("cat")
    cat = project.class_by_name("cat").id
    labelled = project.set_labels(ids[:2], cat)
    assert sorted(project.labels_touched_by(labelled.id)) == ids[:2]
    assert project.labels_touched_by(added.id) is None  # a class change: reload everything
    assert project.labels_touched_by(12345) is None


def test_a_scan_can_send_a_small_first_batch(tmp_path) -> None:
    make_images(tmp_path / "imgs", 7)
    sizes = [len(batch.files) for batch in scan([tmp_path / "imgs"], batch_size=3, first_batch=1)]
    assert sizes == [1, 3, 3, 0]
