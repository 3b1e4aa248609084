"""The loop on a real project: the trainer's tiny model, real images, a real SQLite file.

Labels come from the tiny dataset's folders, a few of them planted wrong; the review queue must
put them first, quick retrain must register a version whose model agrees with its numpy head,
and churn, evaluation, label-next and calibration must read the same store.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from desktop.core.churn import churn_between
from desktop.core.classify import ClassifyOptions, classify_images
from desktop.core.evaluation import evaluate_version, read_report, score_version
from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
from desktop.core.prediction_cache import PredictionCache
from desktop.core.quick_retrain import quick_retrain_version
from desktop.core.records import PredictionRow
from desktop.core.review import review_project
from desktop.core.store import Project
from desktop.core.uncertainty import calibrate_version, label_next_in_project
from desktop.core.version_data import label_names, split_image_ids
from desktop.core.version_review import gather_review
from trainer.contract import decode_for_model

PLANTED = 3
UNLABELLED_PER_CLASS = 4


def classify_into(project: Project, model_id: int, model_path: Path) -> None:
    """Classify every image with the real classify code and store predictions with embeddings."""
    session = open_session(check_model_file(model_path), "cpu")
    items = [(row.id, row.path) for row in project.image_rows()]
    rows = []
    for batch in classify_images(session, items, ClassifyOptions(workers=0)):
        for i, key in enumerate(batch.keys):
            topk = list(
                zip(batch.top_k_index[i].tolist(), batch.top_k_prob[i].tolist(), strict=True)
            )
            blob = batch.embedding[i].astype(np.float32).tobytes()
            rows.append(PredictionRow(key, int(batch.class_index[i]), float(batch.confidence[i]),
                                      topk, blob))  # fmt: skip
    project.set_predictions(model_id, rows)


@pytest.fixture
def loop(tmp_path: Path, tiny_dataset_dir: Path, tiny_model_path: Path):
    """A project with the tiny dataset labelled (PLANTED labels wrong) and classified."""
    project = Project.open(tmp_path / "loop.pigeonhole")
    files = sorted(tiny_dataset_dir.glob("*/*.*"))
    labelled, unlabelled = [], []
    for name in sorted({f.parent.name for f in files}):
        members = [f for f in files if f.parent.name == name]
        unlabelled += members[:UNLABELLED_PER_CLASS]
        labelled += [(f, name) for f in members[UNLABELLED_PER_CLASS:]]
    classes = sorted({name for _, name in labelled})
    rng = np.random.default_rng(0)
    wrong = {int(i) for i in rng.choice(len(labelled), PLANTED, replace=False)}
    pairs = [
        (f, classes[(classes.index(name) + 1) % len(classes)] if i in wrong else name)
        for i, (f, name) in enumerate(labelled)
    ]
    project.import_labels(pairs, create_classes=True)
    project.add_images(unlabelled)
    model_id = project.add_model(tiny_model_path, check_model_file(tiny_model_path).info)
    classify_into(project, model_id, tiny_model_path)
    planted = set(project.image_ids_by_path([pairs[i][0] for i in wrong]).values())
    yield project, model_id, planted
    project.close()


def test_review_queue_puts_planted_errors_first(loop) -> None:
    project, model_id, planted = loop
    suspects = review_project(project, model_id).suspects
    top = {s.image_id for s in suspects[: len(planted) + 2]}
    assert len(top & planted) >= len(planted) - 1
    labels = label_names(project)
    assert all(labels[s.image_id] == s.labelled for s in suspects)


def test_quick_retrain_registers_a_version_that_agrees_with_its_head(
    loop, tmp_path: Path, tiny_dataset_dir: Path
) -> None:
    project, model_id, _ = loop
    version = quick_retrain_version(project, tmp_path / "quick", model_id)

    record = project.model(version.model_id)
    assert record.metrics["source"] == "quick_retrain"
    assert project.current_model_id() == version.model_id
    assert version.predicted == len(project.image_rows())
    # The written ONNX, run end to end on decoded images, agrees with its numpy head.
    checked = check_model_file(record.path)
    paths = sorted(tiny_dataset_dir.glob("*/*.*"))[:12]
    pixels = np.stack([decode_for_model(p, checked.input_size) for p in paths])
    probs, embeddings = open_session(checked, "cpu").run(pixels)
    reference = version.result.head.probabilities(embeddings)
    assert np.abs(probs - reference).max() < 1e-4
    np.testing.assert_array_equal(probs.argmax(axis=1), reference.argmax(axis=1))

    churn = churn_between(project, model_id, version.model_id)
    old, new = project.predictions(model_id), project.predictions(version.model_id)
    labels = label_names(project)
    names_old, names_new = project.model(model_id).classes, record.classes
    hand_changed = sum(
        1 for i in old if i not in labels
        and names_old[old[i].class_index] != names_new[new[i].class_index]
    )  # fmt: skip
    assert len(churn.changed) == hand_changed
    assert churn.compared == len(old)


def test_evaluation_cells_hold_image_ids_and_report_reads(loop, tiny_run_dir: Path) -> None:
    project, model_id, _ = loop
    test_ids = split_image_ids(project, model_id, "test")
    assert test_ids
    evaluation = evaluate_version(project, model_id)
    total = sum(len(ids) for ids in evaluation.cells.values())
    assert total == int(evaluation.confusion.sum()) == len(label_names(project))
    for (true, predicted), ids in evaluation.cells.items():
        assert evaluation.count(true, predicted) == len(ids)
    report = read_report(tiny_run_dir / "report.json")
    assert 0.0 <= report.accuracy <= 1.0 and report.classes == tuple(
        project.model(model_id).classes
    )


def test_label_next_and_calibration_use_the_store(loop) -> None:
    project, model_id, _ = loop
    queue = label_next_in_project(project, model_id)
    labels = label_names(project, readable_only=False)
    assert len(queue) == UNLABELLED_PER_CLASS * 3 and not set(queue) & labels.keys()
    predictions = project.predictions(model_id)
    margins = [predictions[i].margin for i in queue]
    assert margins == sorted(margins)
    calibration = calibrate_version(project, model_id, target_precision=0.5)
    assert 0.0 <= calibration.coverage <= 1.0


def test_quick_retrain_scores_itself_on_the_locked_test_images_only(loop, tmp_path: Path) -> None:
    """Never a training-set score: the version's accuracy is on the source's test split, which
    the new split.csv keeps, and its head was calibrated on the val images."""
    project, model_id, _ = loop
    test_ids = set(split_image_ids(project, model_id, "test"))

    version = quick_retrain_version(project, tmp_path / "quick", model_id)

    metrics = project.model(version.model_id).metrics
    labels = label_names(project)
    scored = sorted(test_ids & labels.keys())
    assert metrics["evaluated_on"] == "test" and metrics["test_images"] == len(scored) > 0
    names = project.model(version.model_id).classes
    rows = project.predictions(version.model_id)
    right = [names[rows[i].class_index] == labels[i] for i in scored]
    assert metrics["accuracy"] == pytest.approx(np.mean(right))
    assert "training_accuracy" not in metrics
    assert set(split_image_ids(project, version.model_id, "test")) == test_ids
    assert metrics["temperature"] > 0 and "calibrated on" in metrics["recipe"]
    assert evaluate_version(project, version.model_id, scored).accuracy == metrics["accuracy"]


FULL_READ = re.compile(r"class_index, confidence, topk, embedding FROM predictions WHERE model_id")


def full_prediction_reads(project: Project) -> list[str]:
    """Every statement from now on that reads a version's predictions with their embeddings,
    as SQLite runs them (the store's own connection, not a mock)."""
    seen: list[str] = []
    project._conn.set_trace_callback(
        lambda sql: seen.append(sql) if FULL_READ.search(sql) and "image_id =" not in sql else None
    )
    return seen


@pytest.fixture
def two_versions(loop, tiny_model_path: Path):
    """The loop's project with a second version (same model and run folder), so churn runs."""
    project, old_id, _ = loop
    new_id = project.add_model(tiny_model_path, check_model_file(tiny_model_path).info)
    project.set_predictions(new_id, project.predictions(old_id).values())
    return project, old_id, new_id


def test_one_read_of_the_predictions_serves_scores_review_and_churn(two_versions) -> None:
    project, old_id, new_id = two_versions
    uncached_reads = full_prediction_reads(project)
    expected_review = gather_review(project, new_id)
    expected_score = score_version(project, new_id)
    assert len(uncached_reads) > 3  # what the app did after each training before the cache

    cache = PredictionCache()
    reads = full_prediction_reads(project)
    score = score_version(project, new_id, cache)
    review = gather_review(project, new_id, cache)

    assert len(reads) == 1
    assert review == expected_review and review.churn is not None and review.suspects
    assert review.churn.compared == len(project.predicted_classes(old_id))
    assert score.scope == expected_score.scope
    assert score.evaluation.accuracy == expected_score.evaluation.accuracy
    assert score.evaluation.cells == expected_score.evaluation.cells
    gather_review(project, new_id, cache)
    assert len(reads) == 1  # nothing changed: asked again, read again never


def test_a_label_change_makes_the_cache_read_again(two_versions) -> None:
    project, _, new_id = two_versions
    cache = PredictionCache()
    first = gather_review(project, new_id, cache)
    suspect = first.suspects[0]
    relabelled = project.class_by_name(suspect.looks_like)
    reads = full_prediction_reads(project)

    project.set_labels([suspect.image_id], relabelled.id)
    after = gather_review(project, new_id, cache)

    assert len(reads) == 1
    assert after == gather_review(project, new_id)  # the same as reading everything afresh
    assert suspect.image_id not in {s.image_id for s in after.suspects}


def test_another_process_writing_changes_the_data_generation(loop) -> None:
    """A read-only window's cache must also notice what the writing window changed."""
    project, _, _ = loop
    reader = Project.open(project.path, read_only=True)
    try:
        before = reader.data_generation()
        assert reader.data_generation() == before
        image_id = project.image_rows()[0].id
        project.set_labels([image_id], None)
        assert reader.data_generation() != before
    finally:
        reader.close()
