"""A model's classes reach the window's undo history as one step, and only when all are usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.desktop.core.test_hostile_models import with_classes

pytestmark = pytest.mark.slow  # needs the trained tiny model


def test_a_models_1200_classes_are_one_undo_step(window, tiny_model_path, tmp_path) -> None:
    window.session.add_class("earlier work")
    names = [f"kind {i:04d}" for i in range(1200)]
    path = with_classes(tiny_model_path, tmp_path / "many.onnx", names)
    window.answers = [True]  # yes, add the model's classes
    assert window.classifier.open_model(path)
    stack = window.session.history.stack
    assert [stack.text(i) for i in range(stack.count())] == [
        "Add class earlier work",
        "Add the classes of many.onnx",
    ]
    assert len(window.session.classes()) == 1201
    stack.undo()
    assert [c.name for c in window.session.classes()] == ["earlier work"]


def test_one_unusable_class_name_adds_no_class(window, tiny_model_path, tmp_path: Path) -> None:
    path = with_classes(tiny_model_path, tmp_path / "long.onnx", ["fine", "ok", "x" * 101])
    window.answers = [True]
    assert not window.classifier.open_model(path)
    assert window.session.classes() == []
    assert window.session.history.stack.count() == 0
    assert window.classifier.model is None
    assert "No classes were added" in window.errors[-1]
