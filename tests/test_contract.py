"""The decode contract against the bad-image corpus, and the model metadata's round trip.

``decode_for_model`` is the one door every image goes through (training, classify, thumbnails
via ``open_image``), so its promises are checked here on the files that break image tools.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.badimages import BadCase, fingerprint, good_controls, make_bad_corpus
from trainer.contract import (
    FORMAT_VERSION,
    METADATA_PREFIX,
    InvalidModelInfo,
    ModelInfo,
    UnreadableImage,
    decode_for_model,
    open_image,
)

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[BadCase]:
    folder = tmp_path_factory.mktemp("bad images")
    return make_bad_corpus(folder) + good_controls(folder / "controls")


def runnable(cases: list[BadCase]) -> list[BadCase]:
    return [case for case in cases if case.skip is None]


def resized(pixels: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def reason_for(case: BadCase) -> str | None:
    """The reason decode gives for ``case``, or None when it decodes."""
    try:
        decode_for_model(case.path, 32)
    except UnreadableImage as exc:
        return str(exc)
    return None


def test_corpus_has_at_least_fifteen_kinds(corpus: list[BadCase]) -> None:
    kinds = {case.kind for case in corpus}
    assert len(kinds) >= 15
    assert sum(case.readable for case in corpus) >= 5
    assert sum(not case.readable for case in corpus) >= 5


def test_unreadable_files_are_flagged_with_a_reason_a_person_understands(
    corpus: list[BadCase],
) -> None:
    wrong = []
    for case in runnable(corpus):
        if case.readable:
            continue
        reason = reason_for(case)
        if reason is None or case.reason not in reason.lower():
            wrong.append(f"{case.kind}: expected a reason with {case.reason!r}, got {reason!r}")
        elif "\n" in reason or "Traceback" in reason or len(reason) > 300:
            wrong.append(f"{case.kind}: reason is not one short line: {reason!r}")
    assert not wrong, "\n".join(wrong)


def test_readable_files_decode_to_the_pixels_a_person_sees(corpus: list[BadCase]) -> None:
    wrong = []
    for case in runnable(corpus):
        if not case.readable:
            continue
        try:
            full = np.asarray(open_image(case.path))
            model = decode_for_model(case.path, 32)
        except UnreadableImage as exc:
            wrong.append(f"{case.kind}: refused as {exc}")
            continue
        if full.shape != case.expected.shape:
            wrong.append(f"{case.kind}: shape {full.shape}, expected {case.expected.shape}")
        elif max_diff(full, case.expected) > case.tolerance:
            wrong.append(f"{case.kind}: pixels differ by {max_diff(full, case.expected)}")
        elif max_diff(model, resized(case.expected, 32)) > case.tolerance + 1:
            wrong.append(f"{case.kind}: model input differs from the resized upright image")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("size", [8, 21, 32, 64])
def test_model_input_is_always_size_by_size_rgb_uint8(corpus: list[BadCase], size: int) -> None:
    for case in runnable(corpus):
        if case.readable:
            pixels = decode_for_model(case.path, size)
            assert pixels.shape == (size, size, 3), case.kind
            assert pixels.dtype == np.uint8, case.kind


def test_every_exif_orientation_gives_the_same_upright_pixels(corpus: list[BadCase]) -> None:
    oriented = [case for case in corpus if case.kind.startswith("EXIF orientation")]
    assert len(oriented) == 8
    for size in (16, 32):
        first, *others = (decode_for_model(case.path, size) for case in oriented)
        for case, pixels in zip(oriented[1:], others, strict=True):
            assert np.array_equal(pixels, first), f"{case.kind} at size {size}"
    first, *others = (np.asarray(open_image(case.path)) for case in oriented)
    for case, pixels in zip(oriented[1:], others, strict=True):
        assert np.array_equal(pixels, first), case.kind
    red_corner = first[:8, :8].reshape(-1, 3).mean(axis=0)
    assert red_corner[0] > 200 and red_corner[1] < 60, "the picture is not upright"


def test_decoding_the_corpus_deletes_and_changes_nothing(corpus: list[BadCase]) -> None:
    folder = corpus[0].path.parent
    before = fingerprint(folder)
    for case in corpus:
        for call in (lambda p: decode_for_model(p, 16), open_image):
            with contextlib.suppress(UnreadableImage):  # flagged: checked elsewhere
                call(case.path)
    assert fingerprint(folder) == before


def test_no_permission_is_flagged(corpus: list[BadCase]) -> None:
    case = next(case for case in corpus if case.kind == "no read permission")
    if case.skip:
        pytest.skip(case.skip)
    assert "permission" in (reason_for(case) or "")


def test_a_file_deleted_between_listing_and_decoding_says_so(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(path)
    path.unlink()
    with pytest.raises(UnreadableImage, match="not found"):
        decode_for_model(path, 8)


# ---------------------------------------------------------------------------------------------
# ModelInfo


def an_info(**changes: object) -> ModelInfo:
    fields = {
        "classes": ["cat", "dog", "bird"],
        "input_size": 224,
        "backbone": "efficientnet_lite0",
        "trainer_version": "0.1.0",
    }
    fields.update(changes)
    return ModelInfo(**fields)


def test_model_info_round_trips_through_props() -> None:
    info = an_info(extra={"trained_at": "2025-01-01"})
    props = info.to_props()
    assert all(key.startswith(METADATA_PREFIX) for key in props)
    assert all(isinstance(value, str) for value in props.values())
    assert ModelInfo.from_props(props) == info


def test_model_info_ignores_other_tools_metadata() -> None:
    props = an_info().to_props() | {"producer": "tf2onnx", "author": "someone"}
    assert ModelInfo.from_props(props) == an_info()


@settings(max_examples=40, deadline=None)
@given(
    classes=st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=8, unique=True),
    input_size=st.integers(min_value=8, max_value=2048),
)
def test_model_info_round_trips_any_class_names(classes: list[str], input_size: int) -> None:
    info = an_info(classes=classes, input_size=input_size)
    assert ModelInfo.from_props(info.to_props()) == info


def props_with(**changes: str | None) -> dict[str, str]:
    props = an_info().to_props()
    for key, value in changes.items():
        if value is None:
            props.pop(METADATA_PREFIX + key)
        else:
            props[METADATA_PREFIX + key] = value
    return props


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "no Pigeonhole class names"),
        ({"producer": "tf2onnx"}, "no Pigeonhole class names"),
        (props_with(classes=None), "no Pigeonhole class names"),
        (props_with(classes="[cat, dog"), "damaged"),
        (props_with(input_size=None), "damaged"),
        (props_with(input_size="big"), "damaged"),
        (props_with(format_version="one"), "damaged"),
        (props_with(classes='"cat"'), "at least two classes"),
        (props_with(classes='["cat"]'), "at least two classes"),
        (props_with(classes='["cat", ""]'), "at least two classes"),
        (props_with(classes='["cat", 3]'), "at least two classes"),
        (props_with(classes='["cat", "cat"]'), "duplicate"),
        (props_with(input_size="4"), "out of range"),
        (props_with(input_size="100000"), "out of range"),
        (props_with(format_version=str(FORMAT_VERSION + 1)), "newer Pigeonhole"),
    ],
)
def test_model_info_refuses_what_it_cannot_use(props: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidModelInfo, match=message):
        ModelInfo.from_props(props)
