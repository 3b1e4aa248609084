"""Which number key labels which class: a class named like a key gets that key.

Digits 1-9 and 0 are the labelling keys, in the keyboard's order. A class whose name is one of
them ("0" … "9", as digit classes are) takes that key, so pressing 7 always labels "7". The other
classes take the keys left over, in the user's class order. Classes past the tenth key have none;
Edit → Label As… (and the tile menu) reach every class. Backspace and Delete clear a label.
"""

from __future__ import annotations

from collections.abc import Sequence

from desktop.core.records import ClassRecord

KEY_ORDER = (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)
"""The number keys in the order a keyboard's top row has them; the tenth class gets 0."""


def named_key(name: str) -> int | None:
    """The key a class claims by its name ("7" claims 7; "7 up" and "seven" claim none)."""
    text = name.strip()
    return int(text) if len(text) == 1 and text in "0123456789" else None


def class_keys(classes: Sequence[ClassRecord]) -> dict[int, int]:
    """Class id -> number key, for ``classes`` in the user's order."""
    keys: dict[int, int] = {}
    for record in classes:
        key = named_key(record.name)
        if key is not None and key not in keys.values():
            keys[record.id] = key
    free = iter(k for k in KEY_ORDER if k not in keys.values())
    for record in classes:
        if record.id not in keys:
            key = next(free, None)
            if key is None:
                break
            keys[record.id] = key
    return keys


def class_for_key(classes: Sequence[ClassRecord], key: int) -> ClassRecord | None:
    """The class that ``key`` labels with, or None when no class has it."""
    keys = class_keys(classes)
    return next((c for c in classes if keys.get(c.id) == key), None)
