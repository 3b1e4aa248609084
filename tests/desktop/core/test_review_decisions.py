"""Keep / Accept answers live in the project file: they outlast a new version and a restart, stop
counting once the label changes, and undo like any label."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desktop.core.records import PredictionRow
from desktop.core.review import review_project
from desktop.core.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from desktop.core.store import Project
from tests.desktop.core.core_helpers import fresh_rows, labels_in_file, make_images

CLASSES = ["cat", "dog", "fish"]
PER_CLASS = 40


def _add_version(project: Project, embeddings: np.ndarray, ids: list[int]) -> int:
    """A model version whose cached embeddings are ``embeddings`` (no ONNX file needed)."""
    model_id = project.add_model(project.path.parent / "m.onnx", {"classes": CLASSES})
    rng = np.random.default_rng(model_id)
    rows = [
        PredictionRow.from_probs(i, rng.dirichlet(np.ones(3)), k=3, embedding=e)
        for i, e in zip(ids, embeddings, strict=True)
    ]
    project.set_predictions(model_id, rows)
    return model_id


@pytest.fixture
def noisy(tmp_path: Path):
    """A project whose labels have 6 planted errors, with one version's embeddings."""
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), PER_CLASS)
    centres = rng.normal(0, 2.5, size=(3, 12))
    embeddings = (centres[truth] + rng.normal(0, 1, size=(len(truth), 12))).astype(np.float32)
    given = truth.copy()
    wrong = rng.choice(len(truth), 6, replace=False)
    given[wrong] = (truth[wrong] + 1) % 3
    files = make_images(tmp_path / "images", len(truth))
    path = tmp_path / "p.pigeonhole"
    project = Project.open(path)
    project.import_labels(
        [(f, CLASSES[g]) for f, g in zip(files, given, strict=True)], create_classes=True
    )
    ids = [project.image_ids_by_path([str(f)])[str(f)] for f in files]
    model_id = _add_version(project, embeddings, ids)
    yield project, path, embeddings, ids, model_id
    project.close()


def test_a_kept_label_stays_out_of_later_versions_and_after_a_restart(noisy) -> None:
    project, path, embeddings, ids, v1 = noisy
    first = review_project(project, v1)
    kept = first.suspects[0]
    class_id = project.class_by_name(kept.labelled).id
    project.decide_review(kept.image_id, class_id, "kept", v1)

    v2 = _add_version(project, embeddings, ids)  # a new version that flags the same images
    again = review_project(project, v2)
    assert kept.image_id not in [s.image_id for s in again.suspects]
    assert kept.image_id in [s.image_id for s in again.flagged]
    assert again.settled == 1
    assert [s.image_id for s in again.suspects] == [
        s.image_id for s in first.suspects if s.image_id != kept.image_id
    ]

    project.close()
    assert fresh_rows(
        path, "SELECT image_id, class_id, decision, model_id FROM review_decisions"
    ) == [(kept.image_id, class_id, "kept", v1)]
    with Project.open(path) as reopened:
        after = review_project(reopened, v2)
        assert kept.image_id not in [s.image_id for s in after.suspects]
        assert after.settled == 1


def test_accepting_relabels_and_is_remembered_for_the_new_label(noisy) -> None:
    project, path, _, _, v1 = noisy
    suspect = review_project(project, v1).suspects[0]
    target = project.class_by_name(suspect.looks_like).id
    project.decide_review(suspect.image_id, target, "accepted", v1)
    image_path = next(r.path for r in project.image_rows() if r.id == suspect.image_id)
    assert labels_in_file(path)[image_path] == suspect.looks_like
    assert project.settled_image_ids() == {suspect.image_id}


def test_changing_the_label_reopens_the_question(noisy) -> None:
    project, _, _, _, v1 = noisy
    suspect = review_project(project, v1).suspects[0]
    project.decide_review(suspect.image_id, project.class_by_name(suspect.labelled).id, "kept", v1)
    assert project.settled_image_ids() == {suspect.image_id}
    other = next(name for name in CLASSES if name != suspect.labelled)
    project.set_labels([suspect.image_id], project.class_by_name(other).id)
    assert project.settled_image_ids() == set()
    assert suspect.image_id in project.review_decisions()  # remembered, but no longer matching


def test_undo_and_redo_take_back_the_answer_with_the_label(noisy) -> None:
    project, path, _, _, v1 = noisy
    suspect = review_project(project, v1).suspects[0]
    before = labels_in_file(path)
    action = project.decide_review(
        suspect.image_id, project.class_by_name(suspect.looks_like).id, "accepted", v1
    )
    assert action.text == f"Review: Accept suggestion {suspect.looks_like}"
    assert project.labels_touched_by(action.id) == [suspect.image_id]
    project.undo()
    assert labels_in_file(path) == before
    assert fresh_rows(path, "SELECT count(*) FROM review_decisions") == [(0,)]
    assert suspect.image_id in [s.image_id for s in review_project(project, v1).suspects]
    project.redo()
    assert fresh_rows(path, "SELECT decision FROM review_decisions") == [("accepted",)]


def test_an_unknown_decision_changes_nothing(noisy) -> None:
    project, path, _, ids, _ = noisy
    before = labels_in_file(path)
    with pytest.raises(Exception, match="Unknown review decision"):
        project.decide_review(ids[0], project.classes()[0].id, "ignored")
    assert labels_in_file(path) == before
    assert project.history_index() == 1  # only the import


def test_a_version_1_file_gains_the_decisions_table_and_keeps_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "old.pigeonhole"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO classes (id, name, colour, position) VALUES (1, 'cat', '#112233', 0)")
    conn.execute("INSERT INTO images (id, path, added) VALUES (1, '/x/a.png', 0)")
    conn.execute("INSERT INTO labels VALUES (1, 1, 'user', 0)")
    conn.commit()
    conn.close()
    with Project.open(path) as project:
        assert project.review_decisions() == {}
        assert labels_in_file(path) == {"/x/a.png": "cat"}
    assert fresh_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
