"""What got in a new user's way in the first hour, through the real window with the tiny model:
added images are classified by themselves, the grid keeps its place, and a list filter shows as
a chip that can be removed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel

from desktop.ui.filter_proxy import Show
from desktop.ui.loop import IdsFilter

pytestmark = pytest.mark.slow  # needs the trained tiny model


@pytest.fixture
def with_model(window, tiny_model_path, wait_idle):
    window.answers = [True]  # add the model's classes
    assert window.classifier.open_model(tiny_model_path)
    wait_idle(window)
    return window


def test_images_added_with_a_model_loaded_are_classified_by_themselves(
    with_model, tiny_dataset_dir, wait_idle, qtbot
):
    window = with_model
    window.answers = [False]  # the class-folder offer: no, let the model predict
    window.ingest.add_paths([tiny_dataset_dir])
    wait_idle(window)
    # Nobody asks: the classification starts by itself once the scan's job has ended.
    qtbot.waitUntil(lambda: window.classifier.last_run is not None, timeout=120_000)
    wait_idle(window)
    assert window.classifier.last_run == (60, 0, True)
    tiles = window.grid.tiles()
    assert len(tiles) == 60 and all(t.prediction is not None for t in tiles)
    project = window.session.project
    assert project.unpredicted_image_ids(window.classifier.model_id) == []
    window.view.clearSelection()
    window.actions["Classify Selection"].trigger()
    assert "Select the images to classify first" in window.statusBar().currentMessage()
    window.actions["Classify Not Yet Predicted"].trigger()
    assert "already has a prediction" in window.statusBar().currentMessage()
    assert window.errors == []


@pytest.fixture
def classified(with_model, tiny_dataset_dir, wait_idle, qtbot):
    window = with_model
    window.answers = [False]
    window.ingest.add_paths([tiny_dataset_dir])
    qtbot.waitUntil(
        lambda: (
            all(t.prediction is not None for t in window.grid.tiles())
            and window.grid.rowCount() == 60
            and window.jobs.is_idle()
        ),
        timeout=120_000,
    )
    wait_idle(window)
    return window


def scroll_to_middle(window, qtbot) -> tuple[int, list[int]]:
    """Scroll down and select two images there; returns (top image, selected images)."""
    view, proxy = window.view, window.proxy
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum() // 2)
    top = view.top_index()
    row = top.row() + 1
    view.select_row(row)
    view.selectionModel().select(proxy.index(row + 1, 0), QItemSelectionModel.SelectionFlag.Select)
    return proxy.image_id(top.row()), view.selected_ids()


def test_the_grid_keeps_its_place_after_reclassifying_a_new_version_and_a_resize(
    classified, qtbot, wait_idle
):
    window = classified
    top, selected = scroll_to_middle(window, qtbot)
    assert top != window.proxy.image_id(0)

    def place() -> tuple[int, list[int]]:
        qtbot.wait(50)  # the view lays out after a reset
        return window.proxy.image_id(window.view.top_index().row()), window.view.selected_ids()

    window.reload_tiles()  # what every new version, undo and switch does
    assert place() == (top, selected)
    window.classifier.classify_all()  # reclassification streams into the same tiles
    wait_idle(window, timeout=120_000)
    assert place() == (top, selected)
    window.loop.refresh_analysis()  # a new review queue must not pull the grid to its first row
    wait_idle(window, timeout=120_000)
    assert place() == (top, selected)
    window.resize(window.width() - 150, window.height())
    qtbot.wait(300)  # the view re-wraps its rows after a delay
    assert place() == (top, selected)


def test_a_list_filter_shows_as_a_chip_that_removes_it(classified, qtbot):
    window = classified
    chip = window.filter_chip
    assert not chip.isVisible()
    ids = [window.proxy.image_id(r) for r in (3, 5, 7)]
    window.loop.show_ids("labelled circle, predicted square", ids)
    assert window.proxy.rowCount() == 3
    assert chip.isVisible() and chip.text() == "labelled circle, predicted square · 3"
    assert window.filter_bar.show_box.currentData() is Show.ALL  # the box cannot say it
    chip.close_button.click()
    assert not chip.isVisible() and window.proxy.rowCount() == 60

    window.loop.show_ids("Review queue", ids)
    box = window.filter_bar.show_box
    box.activated.emit(box.currentIndex())  # the user picks "All images" again
    assert not chip.isVisible() and window.proxy.rowCount() == 60
    assert not isinstance(window.proxy.current_filter, IdsFilter)
