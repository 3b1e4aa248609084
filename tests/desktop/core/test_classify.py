"""The classify pipeline: every image predicted or flagged once, in order, with the same pixels as
the contract's decode; memory-bounded input, progress, and a clean cancel with no orphan processes.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.core.classify import (
    ClassifyError,
    ClassifyOptions,
    PredictionBatch,
    classify_images,
    worker_count,
)
from desktop.core.inference import ModelRunner, open_session
from desktop.core.model_file import check_model_file
from tests.badimages import fingerprint, good_controls, make_bad_corpus
from trainer.contract import decode_for_model

BROKEN = {
    "empty.jpg": (b"", "empty file"),
    "text.jpg": (b"this is not a picture", "not an image format"),
}


@pytest.fixture(scope="module")
def session(tiny_model_path: Path) -> ModelRunner:
    return open_session(check_model_file(tiny_model_path), "cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty real JPEG and PNG files of assorted sizes, a truncated JPEG and two fakes."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(7)
    for i in range(20):
        pixels = rng.integers(0, 256, (30 + 3 * i, 70 - i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.{'jpg' if i % 2 else 'png'}")
    whole = (folder / "img01.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    for name, (data, _) in BROKEN.items():
        (folder / name).write_bytes(data)
    return folder


def items_of(folder: Path) -> list[tuple[str, Path]]:
    return [(path.name, path) for path in sorted(folder.iterdir())]


def run_all(session: ModelRunner, items, **options) -> list[PredictionBatch[str]]:
    return list(classify_images(session, items, ClassifyOptions(**options)))


def no_children_left() -> bool:
    return not multiprocessing.active_children()


def test_every_file_is_predicted_or_flagged_once_in_order(
    session: ModelRunner, folder: Path
) -> None:
    items = items_of(folder)
    batches = run_all(session, items, batch_size=8, workers=2)
    predicted = [key for batch in batches for key in batch.keys]
    failed = {error.key: error.reason for batch in batches for error in batch.errors}
    assert sorted(predicted + list(failed)) == sorted(key for key, _ in items)
    assert predicted == [key for key, _ in items if key not in failed]
    assert set(failed) >= set(BROKEN)
    for name, (_, reason) in BROKEN.items():
        assert reason in failed[name]
    assert no_children_left()


def test_predictions_match_the_contract_decode_and_the_model(
    session: ModelRunner, folder: Path
) -> None:
    batches = run_all(session, items_of(folder), batch_size=8, workers=2)
    keys = [key for batch in batches for key in batch.keys]
    expected_probs, expected_embedding = session.run(
        np.stack([decode_for_model(folder / key, session.model.input_size) for key in keys])
    )
    confidence = np.concatenate([batch.confidence for batch in batches])
    top = np.concatenate([batch.class_index for batch in batches])
    embedding = np.concatenate([batch.embedding for batch in batches])
    np.testing.assert_array_equal(top, expected_probs.argmax(axis=1))
    np.testing.assert_allclose(confidence, expected_probs.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(embedding, expected_embedding, rtol=1e-4, atol=1e-5)


def test_top_k_is_sorted_and_capped_by_the_class_count(session: ModelRunner, folder: Path) -> None:
    classes = len(session.model.classes)
    for batch in run_all(session, items_of(folder), batch_size=8, workers=0, top_k=99):
        assert batch.top_k_index.shape == (len(batch.keys), classes)
        assert (np.diff(batch.top_k_prob, axis=1) <= 0).all()
        np.testing.assert_array_equal(batch.top_k_index[:, 0], batch.class_index)
        np.testing.assert_array_equal(batch.top_k_prob[:, 0], batch.confidence)


def test_in_process_and_worker_processes_agree(session: ModelRunner, folder: Path) -> None:
    def flat(batches: list[PredictionBatch[str]]) -> tuple[list[str], np.ndarray, list[str]]:
        keys = [key for batch in batches for key in batch.keys]
        probs = np.concatenate([batch.top_k_prob for batch in batches])
        errors = sorted(error.key for batch in batches for error in batch.errors)
        return keys, probs, errors

    inline = flat(run_all(session, items_of(folder), batch_size=5, workers=0))
    pooled = flat(run_all(session, items_of(folder), batch_size=5, workers=2, chunk_size=2))
    assert inline[0] == pooled[0] and inline[2] == pooled[2]
    np.testing.assert_allclose(inline[1], pooled[1], rtol=1e-6)


def test_progress_counts_up_to_the_total(session: ModelRunner, folder: Path) -> None:
    items = items_of(folder)
    batches = run_all(session, items, batch_size=4, workers=2)
    done = [batch.done for batch in batches]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert done[-1] == len(items)
    assert {batch.total for batch in batches} == {len(items)}
    assert all(len(batch.keys) <= 4 for batch in batches)


def test_unsized_input_is_read_lazily(session: ModelRunner, folder: Path) -> None:
    """However long the input, only a bounded number of images is in flight."""
    path = folder / "img00.png"
    pulled = 0

    def endless_folder() -> Iterator[tuple[int, Path]]:
        nonlocal pulled
        for i in range(400):
            pulled += 1
            yield i, path

    stream = classify_images(
        session, endless_folder(), ClassifyOptions(batch_size=8, workers=1, chunk_size=4)
    )
    first = next(stream)
    assert first.total is None and first.done == 8
    assert pulled <= 8 + 4 * 6, f"{pulled} of 400 read before the first batch"
    stream.close()
    assert no_children_left()


def test_cancel_stops_early_and_leaves_no_processes(session: ModelRunner, folder: Path) -> None:
    items = items_of(folder) * 20
    cancel = threading.Event()
    seen = 0
    for batch in classify_images(
        session, items, ClassifyOptions(batch_size=4, workers=2, chunk_size=2), cancel
    ):
        seen = batch.done
        cancel.set()
    assert 0 < seen < len(items)
    assert no_children_left()


def test_a_cancel_before_starting_does_nothing(session: ModelRunner, folder: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    assert list(classify_images(session, items_of(folder), None, cancel)) == []
    assert no_children_left()


def test_only_unreadable_files_and_no_files(session: ModelRunner, tmp_path: Path) -> None:
    for name, (data, _) in BROKEN.items():
        (tmp_path / name).write_bytes(data)
    batches = run_all(session, items_of(tmp_path), workers=0)
    assert [len(batch.keys) for batch in batches] == [0]
    assert batches[0].embedding.shape == (0, session.model.embedding_dim)
    assert sorted(error.key for error in batches[0].errors) == sorted(BROKEN)
    assert run_all(session, [], workers=2) == []


def test_the_bad_image_corpus_is_flagged_and_left_untouched(
    session: ModelRunner, tmp_path: Path
) -> None:
    cases = make_bad_corpus(tmp_path / "corpus") + good_controls(tmp_path / "corpus" / "ok")
    cases = [case for case in cases if case.skip is None]
    before = fingerprint(tmp_path / "corpus")
    batches = run_all(session, [(case.kind, case.path) for case in cases], workers=2)
    failed = {error.key: error.reason for batch in batches for error in batch.errors}
    predicted = {key for batch in batches for key in batch.keys}
    wrong = [
        case.kind
        for case in cases
        if (case.readable and case.kind not in predicted)
        or (not case.readable and case.reason not in failed.get(case.kind, "").lower())
    ]
    assert not wrong, f"mishandled: {wrong}"
    assert fingerprint(tmp_path / "corpus") == before


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"workers": -1}, {"top_k": 0}, {"chunk_size": 0}],
)
def test_bad_options_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ClassifyError):
        ClassifyOptions(**options)


def test_small_jobs_start_no_processes() -> None:
    assert worker_count(ClassifyOptions(workers=4), total=3) == 0
    assert worker_count(ClassifyOptions(workers=4, chunk_size=8), total=17) == 3
    assert worker_count(ClassifyOptions(workers=2), total=None) == 2


def test_the_default_batch_suits_the_device(session: ModelRunner, folder: Path) -> None:
    """On CPU, batches of 8 (as fast per image as 32, a quarter of ONNX Runtime's arena)."""
    assert session.report.name == "CPU"
    batches = run_all(session, items_of(folder), workers=0)
    sizes = [len(batch.keys) for batch in batches]  # images per model call
    assert sizes[:-1] == [8] * (len(sizes) - 1) and 0 < sizes[-1] <= 8
