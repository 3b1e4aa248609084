"""The bad-image corpus through every path that reads images.

The decode contract is tested on its own in test_contract.py; here each caller is held to the same
promise: nothing crashes or hangs, each bad file is flagged with a reason a person understands,
nothing in the user's folder is deleted or changed, and EXIF orientation gives the same upright
pixels everywhere.
"""

from __future__ import annotations

import csv
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from PySide6.QtGui import QImage

from desktop.cli_classify import main as classify_main
from desktop.core.scanner import scan, scan_all
from desktop.ui.thumbnails import ThumbKey, ThumbnailLoader
from tests.badimages import BadCase, fingerprint, good_controls, make_bad_corpus
from trainer.contract import (
    EMBEDDING_OUTPUT,
    INPUT_NAME,
    PROBS_OUTPUT,
    ModelInfo,
    decode_for_model,
    open_image,
)
from trainer.data import load_labelled_data, read_images

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")

THUMB_SIDE = 48
"""Thumbnail size as large as every corpus image, so no resize hides a wrong orientation."""


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user photos")


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> list[BadCase]:
    return make_bad_corpus(corpus_dir) + good_controls(corpus_dir / "controls")


@pytest.fixture
def untouched(corpus: list[BadCase], corpus_dir: Path):
    """Fails the test if anything in the user's folder was deleted, added or changed."""
    before = fingerprint(corpus_dir)
    yield
    assert fingerprint(corpus_dir) == before


def runnable(cases: list[BadCase]) -> list[BadCase]:
    return [case for case in cases if case.skip is None]


def rgb_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), -1)
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def flag_mismatches(case: BadCase, reason: str | None, where: str) -> list[str]:
    """What is wrong with how ``where`` handled ``case`` (empty when it behaved)."""
    if case.readable and reason is not None:
        return [f"{where}: {case.kind} was refused as {reason!r}"]
    if not case.readable and reason is None:
        return [f"{where}: {case.kind} was accepted"]
    if not case.readable and case.reason not in reason.lower():
        return [f"{where}: {case.kind} gave {reason!r}, expected a reason with {case.reason!r}"]
    return []


# ---------------------------------------------------------------------------------------------
# Thumbnails (desktop/ui/thumbnails.py)


def test_thumbnails_flag_bad_files_and_show_good_ones_upright(
    corpus: list[BadCase], untouched: None, qtbot, tmp_path: Path
) -> None:
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=2)
    keys = {case.kind: ThumbKey(str(case.path), THUMB_SIDE) for case in runnable(corpus)}
    for key in keys.values():
        loader.pixmap(key)
    qtbot.waitUntil(lambda: loader.pending_count() == 0, timeout=60_000)
    loader.shutdown()

    wrong: list[str] = []
    for case in runnable(corpus):
        key = keys[case.kind]
        wrong += flag_mismatches(case, loader.errors.get(key), "thumbnail")
        if case.readable and key not in loader.errors:
            shown = rgb_array(loader.pixmap(key).toImage())
            if (
                shown.shape != case.expected.shape
                or max_diff(shown, case.expected) > case.tolerance
            ):
                wrong.append(f"thumbnail: {case.kind} does not show the upright picture")
    assert not wrong, "\n".join(wrong)


def test_thumbnails_show_the_orientation_the_model_sees(
    corpus: list[BadCase], qtbot, tmp_path: Path
) -> None:
    loader = ThumbnailLoader(cache_dir=tmp_path / "cache", threads=2)
    oriented = [case for case in corpus if case.kind.startswith("EXIF orientation")]
    keys = [ThumbKey(str(case.path), THUMB_SIDE) for case in oriented]
    for key in keys:
        loader.pixmap(key)
    qtbot.waitUntil(lambda: loader.pending_count() == 0, timeout=60_000)
    loader.shutdown()
    for case, key in zip(oriented, keys, strict=True):
        shown = rgb_array(loader.pixmap(key).toImage())
        assert np.array_equal(shown, np.asarray(open_image(case.path))), case.kind


# ---------------------------------------------------------------------------------------------
# The scanner (desktop/core/scanner.py)


def test_the_scanner_finds_every_image_once_and_flags_filesystem_traps(
    corpus: list[BadCase], corpus_dir: Path, untouched: None
) -> None:
    found = scan_all([corpus_dir])
    paths = [Path(f.path) for f in found.files]
    skipped = {Path(s.what): s.reason for s in found.skipped}
    assert len(paths) == len(set(paths)), "a file was found twice (a link loop followed?)"
    for case in runnable(corpus):
        if case.readable:
            assert case.path in paths, f"scanner lost {case.kind}"
    loop = next(case for case in corpus if case.kind == "symlink loop")
    assert "symbolic link" in skipped[loop.path]
    pipe = next(case for case in corpus if case.kind == "named pipe named .jpg")
    assert pipe.path not in paths and "not a file" in skipped[pipe.path]
    assert all(reason for reason in skipped.values())


def test_files_deleted_while_being_scanned_are_flagged_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(5):
        Image.new("RGB", (8, 8), (n * 40, 0, 0)).save(folder / f"img_{n}.png")
    batches = scan(folder.parent.glob("photos"), batch_size=1)
    first = next(batches)
    for path in folder.iterdir():  # the user empties the folder while the scan runs
        if str(path) not in {f.path for f in first.files}:
            path.unlink()
    rest = list(batches)
    found = [f for batch in [first, *rest] for f in batch.files]
    skipped = [s for batch in rest for s in batch.skipped]
    assert len(found) + len(skipped) == 5
    assert skipped and all("disappeared" in s.reason for s in skipped)


# ---------------------------------------------------------------------------------------------
# The trainer's data loading (trainer/data.py)


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BadCase]]:
    """DATA with class folders: 'messy' holds the corpus, 'plain' two ordinary images."""
    data = tmp_path_factory.mktemp("data")
    cases = make_bad_corpus(data / "messy") + good_controls(data / "plain")
    return data, cases


def test_training_data_skips_bad_files_with_reasons_and_keeps_good_ones(
    class_folders: tuple[Path, list[BadCase]],
) -> None:
    data, cases = class_folders
    before = fingerprint(data)
    loaded = load_labelled_data(data, 32)
    kept = {sample.path for sample in loaded.samples}
    reasons = {data / item.what: item.reason for item in loaded.skipped}
    wrong: list[str] = []
    for case in runnable(cases):
        if case.readable:
            wrong += [] if case.path in kept else [f"trainer: {case.kind} was not kept"]
        elif case.path in kept:
            wrong.append(f"trainer: {case.kind} was kept for training")
        elif case.path in reasons:
            wrong += flag_mismatches(case, reasons[case.path], "trainer")
    assert not wrong, "\n".join(wrong)
    assert fingerprint(data) == before


def test_training_sees_the_same_upright_pixels(
    class_folders: tuple[Path, list[BadCase]],
) -> None:
    data, cases = class_folders
    loaded = load_labelled_data(data, 32)
    by_path = {sample.path: sample for sample in loaded.samples}
    oriented = [case for case in cases if case.kind.startswith("EXIF orientation")]
    batch = read_images([by_path[case.path] for case in oriented], 32)
    for case, pixels in zip(oriented, batch, strict=True):
        assert np.array_equal(pixels, batch[0]), case.kind
        assert np.array_equal(pixels, decode_for_model(case.path, 32).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Headless classify (desktop/cli_classify.py)

CLASSES = ["left", "middle", "right"]


def position_sensitive_model(path: Path, size: int = 32) -> Path:
    """A real ONNX model in the Pigeonhole contract whose output changes if the image is turned.

    Flatten -> one random linear layer -> softmax: a wrongly oriented image gets other
    probabilities, so equal rows mean equal pixels.
    """
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(size * size * 3, len(CLASSES))).astype(np.float32) / 1300.0
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "grey"], ["centred"]),
        helper.make_node("Flatten", ["centred"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Identity", ["logits"], [EMBEDDING_OUTPUT]),
        helper.make_node("Softmax", ["logits"], [PROBS_OUTPUT], axis=-1),
    ]
    k = len(CLASSES)
    graph = helper.make_graph(
        nodes,
        "turn-sensitive",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info(PROBS_OUTPUT, TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["N", k]),
        ],
        initializer=[
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(np.array(128.0, np.float32), "grey"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    info = ModelInfo(CLASSES, size, backbone="test", trainer_version="test")
    for key, value in info.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save_model(model, path)
    return path


def test_headless_classify_writes_a_row_per_file_with_reasons(
    corpus: list[BadCase], corpus_dir: Path, untouched: None, tmp_path: Path
) -> None:
    model = position_sensitive_model(tmp_path / "model.onnx")
    out = tmp_path / "predictions.csv"
    argv = [str(corpus_dir), "--model", str(model), "--out", str(out), "--workers", "0"]
    assert classify_main([*argv, "--provider", "cpu"]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {Path(row["path"]): row for row in csv.DictReader(handle)}
    wrong: list[str] = []
    for case in runnable(corpus):
        row = rows.get(case.path)
        if row is None:
            wrong += [f"classify: no row for {case.kind}"] if case.readable else []
            continue
        wrong += flag_mismatches(case, row["error"] or None, "classify")
        if case.readable and not row["prediction"]:
            wrong.append(f"classify: {case.kind} has no prediction")
    assert not wrong, "\n".join(wrong)

    oriented = [rows[case.path] for case in corpus if case.kind.startswith("EXIF orientation")]
    assert len({row["top_k"] for row in oriented}) == 1, "orientation changed the prediction"
    assert len({row["top_k"] for row in rows.values() if row["top_k"]}) > 3, "model is not looking"
