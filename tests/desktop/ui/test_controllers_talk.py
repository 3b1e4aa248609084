"""Controllers tell each other what happened by signals the window connects; the user sees the
whole story: images added with a model loaded get predictions, a dropped project file is opened,
and the tile menu's Classify Selection reaches the classifier."""

from __future__ import annotations

from pathlib import Path

from desktop.core.store import Project
from tests.imagegen import write_dataset


def test_images_added_with_a_model_loaded_are_classified_once_the_scan_ends(
    classified, tmp_path, wait_idle
):
    window = classified
    before = window.grid.rowCount()
    added = write_dataset(tmp_path / "more", per_class=2, side=32, seed=7)
    window.answers = [False]  # not the class folders
    window.ingest.add_paths([tmp_path / "more"])
    wait_idle(window, timeout=120_000)
    new = [t for t in window.grid.tiles() if Path(t.path).parent.parent == tmp_path / "more"]
    assert window.grid.rowCount() == before + len(added) == before + len(new)
    assert all(t.prediction is not None for t in new)
    assert window.errors == []


def test_a_project_file_among_dropped_paths_is_opened(window, tmp_path):
    other = tmp_path / "other.pigeonhole"
    Project.open(other).close()
    window.ingest.add_paths([other])
    assert window.session.path == other and window.errors == []


def test_classify_selection_in_the_tile_menu_classifies_just_the_selection(
    window, tiny_dataset_dir, tiny_model_path, wait_idle
):
    window.answers = [False]
    window.ingest.add_paths([tiny_dataset_dir])
    wait_idle(window)
    assert window.classifier.open_model(tiny_model_path)
    window.view.select_row(0)
    menu = window.labelling.build_context_menu()
    next(a for a in menu.actions() if a.text() == "Classify selection").trigger()
    wait_idle(window, timeout=120_000)
    predicted = [t.image_id for t in window.grid.tiles() if t.prediction is not None]
    assert predicted == [window.proxy.image_id(0)]
    assert window.classifier.last_run == (1, 0, True)
