"""The heat map overlay in a real window with the trained tiny model: toggled by View → Heat Map
(key H), drawn for the predicted class and for a clicked top-k class, kept in the settings, shown
beside a Review suspect, and replaced by a message for a model that cannot have one."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from desktop.core.class_activation import NO_HEAT_MAP
from desktop.core.review import Suspect
from desktop.core.version_review import ReviewData
from desktop.ui.heat_map_overlay import ENABLED_KEY, OPACITY_KEY
from tests.desktop.core.head_models import build_head_model

pytestmark = pytest.mark.slow  # needs the trained tiny model


@pytest.fixture
def classified(classified):
    """The conftest's classified window, with its first image in the preview."""
    classified.view.select_row(0)
    classified.show_current()
    return classified


def preview_image(window, qtbot) -> QImage:
    label = window.preview.image
    qtbot.waitUntil(lambda: label.pixmap() is not None and not label.pixmap().isNull())
    return label.pixmap().toImage()


def test_the_overlay_toggles_and_follows_the_clicked_class(classified, qtbot) -> None:
    window = classified
    overlay, preview = window.heat_map, window.preview
    plain_picture = preview_image(window, qtbot)
    assert not overlay.enabled and overlay.shown is None
    assert window.actions["Heat Map"].shortcut().toString() == "H"

    window.actions["Heat Map"].trigger()
    tile = preview.tile
    predicted = preview.bars.rows()[0][0]
    qtbot.waitUntil(lambda: overlay.shown == (tile.path, predicted))
    assert preview_image(window, qtbot) != plain_picture
    assert overlay.note.text() == predicted
    assert str(window.settings.value(ENABLED_KEY)).lower() == "true"

    other = preview.bars.rows()[1][0]
    line = preview.bars.height() // len(preview.bars.rows())
    qtbot.mouseClick(preview.bars, Qt.MouseButton.LeftButton, pos=QPoint(10, line + line // 2))
    qtbot.waitUntil(lambda: overlay.shown == (tile.path, other))

    faint = preview_image(window, qtbot)
    overlay.opacity.setValue(95)
    assert int(window.settings.value(OPACITY_KEY)) == 95
    assert preview_image(window, qtbot) != faint

    window.actions["Heat Map"].trigger()
    assert overlay.shown is None and preview.decorate is None
    assert preview_image(window, qtbot) == plain_picture
    assert str(window.settings.value(ENABLED_KEY)).lower() == "false"


def test_moving_to_another_image_shows_its_predicted_class(classified, qtbot) -> None:
    window = classified
    overlay = window.heat_map
    window.actions["Heat Map"].trigger()
    qtbot.waitUntil(lambda: overlay.shown is not None)
    window.view.select_row(1)
    window.show_current()
    tile = window.preview.tile
    qtbot.waitUntil(lambda: overlay.shown == (tile.path, window.preview.bars.rows()[0][0]))


def test_a_review_suspect_shows_where_it_looks_like_the_other_class(classified, qtbot) -> None:
    window = classified
    panel = window.loop.review_panel
    tile = window.grid.tile_by_id(window.proxy.image_id(2))
    suspect = Suspect(tile.image_id, "circle", "square", 0.6, 0.1, window.classifier.model_id)
    panel.set_data(ReviewData(window.classifier.model_id, [suspect], names={tile.image_id: "x"}))
    qtbot.waitUntil(
        lambda: panel.heat_view.pixmap() is not None and not panel.heat_view.pixmap().isNull()
    )
    assert panel.heat_note.text() == "where the model sees square"


def test_an_older_model_says_retrain(window, tiny_dataset_dir, tmp_path, qtbot, wait_idle) -> None:
    window.answers = [False]
    window.ingest.add_paths([tiny_dataset_dir])
    wait_idle(window)
    old = build_head_model(tmp_path / "old.onnx", ["circle", "square", "triangle"])
    assert window.classifier.open_model(old)
    window.view.select_row(0)
    window.show_current()
    window.actions["Heat Map"].trigger()
    qtbot.waitUntil(lambda: window.heat_map.note.text() == NO_HEAT_MAP)
    assert window.heat_map.shown is None and window.preview.decorate is None
    assert not window.errors  # a note beside the preview, not an error box
    assert Path(old).exists()


def test_the_overlay_follows_a_new_head(classified, qtbot, tiny_model_path, tmp_path) -> None:
    """A quick retrain writes the same graph with a new head: the map must be the new head's."""
    import onnx

    from desktop.core.onnx_head import Head, read_head, replace_head

    window = classified
    overlay = window.heat_map
    window.actions["Heat Map"].trigger()
    qtbot.waitUntil(lambda: overlay.shown is not None)
    model = onnx.load_model(str(tiny_model_path))
    old = read_head(model)
    flipped = Head(-old.weight, -old.bias, old.classes)  # the least likely class now wins
    retrained = tmp_path / "retrained.onnx"
    onnx.save_model(replace_head(model, flipped), str(retrained))
    before = overlay.shown
    assert window.classifier.open_model(retrained)
    window.show_current()
    tile = window.preview.tile
    qtbot.waitUntil(lambda: overlay.shown is not None and overlay.shown != before, timeout=20_000)
    maps = overlay.maps.cached(tile.path)
    assert maps is not None and maps.maps.head.weight[0, 0] == -old.weight[0, 0]
    assert overlay.shown == (tile.path, old.classes[maps.maps.predicted()])


def test_a_renamed_class_keeps_its_map_under_its_new_name(classified, qtbot) -> None:
    """The preview names a renamed class by its new name; clicking it finds the model's class."""
    window = classified
    overlay, preview = window.heat_map, window.preview
    window.actions["Heat Map"].trigger()
    second = preview.bars.rows()[1][0]
    window.session.rename_class(window.session.project.class_by_name(second).id, "renamed")
    window.show_current()
    tile = preview.tile
    assert preview.bars.rows()[1][0] == "renamed"
    line = preview.bars.height() // len(preview.bars.rows())
    qtbot.mouseClick(preview.bars, Qt.MouseButton.LeftButton, pos=QPoint(10, line + line // 2))
    qtbot.waitUntil(lambda: overlay.shown == (tile.path, "renamed"))
    assert overlay.note.text() == "renamed"
