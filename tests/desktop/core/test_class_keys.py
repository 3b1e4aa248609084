"""The key rule: a class named like a key gets that key; the others share what is left."""

from __future__ import annotations

from desktop.core.class_keys import class_for_key, class_keys, named_key
from desktop.core.records import ClassRecord


def records(*names: str) -> list[ClassRecord]:
    return [ClassRecord(i + 1, name, "#000000", i) for i, name in enumerate(names)]


def keys_by_name(*names: str) -> dict[str, int | None]:
    classes = records(*names)
    keys = class_keys(classes)
    return {c.name: keys.get(c.id) for c in classes}


def test_digit_classes_get_their_own_digit_whatever_their_order() -> None:
    names = [str(d) for d in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]
    assert keys_by_name(*names) == {name: int(name) for name in names}
    assert keys_by_name(*reversed(names)) == {name: int(name) for name in names}


def test_other_classes_take_the_keys_left_in_keyboard_order() -> None:
    assert keys_by_name("cat", "2", "dog", "bird") == {"cat": 1, "2": 2, "dog": 3, "bird": 4}


def test_the_tenth_class_gets_0_and_the_eleventh_none() -> None:
    names = [f"class {i}" for i in range(11)]
    assert list(keys_by_name(*names).values()) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, None]


def test_only_a_bare_digit_claims_a_key() -> None:
    assert [named_key(n) for n in ("7", " 7 ", "7 up", "seven", "٧", "10", "")] == [
        7, 7, None, None, None, None, None,
    ]  # fmt: skip
    assert keys_by_name("7 up", "10") == {"7 up": 1, "10": 2}


def test_class_for_key_answers_the_key_the_panel_shows() -> None:
    classes = records("cat", "3")
    assert class_for_key(classes, 3).name == "3"
    assert class_for_key(classes, 1).name == "cat"
    assert class_for_key(classes, 2) is None
