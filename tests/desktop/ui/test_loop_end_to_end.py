"""The whole loop in the window: label, train from the app, evaluate, review, quick retrain.

One real trainer run (small_cnn, 32 px, a few epochs) is started from the training dialog for
the module; each test then works on its own copy of the trained project in a fresh window.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
from desktop.core.training_run import TrainSettings
from desktop.core.uncertainty import top2_margin
from desktop.core.version_data import label_names, predicted_names
from desktop.ui.loop import RUNS_SETTING, IdsFilter, Loop
from desktop.ui.main_window import MainWindow
from tests.imagegen import write_dataset
from trainer.contract import decode_for_model

pytestmark = pytest.mark.slow  # one real training run

PER_CLASS = 35
UNLABELLED_PER_CLASS = 5
PLANTED = 5
SETTINGS = TrainSettings(backbone="small_cnn", epochs=4, image_size=32, batch_size=16)


@dataclass(frozen=True)
class Trained:
    project: Path
    model_id: int
    planted: frozenset[int]
    n_labels: int
    epochs_plotted: int
    eta_seen: bool


def build_window(folder: Path) -> MainWindow:
    folder.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("classify/workers", 0)
    settings.setValue(RUNS_SETTING, str(folder / "runs"))
    window = MainWindow(settings, thumbnail_cache=folder / "thumbs")
    window.errors, window.answers = [], []
    window.ask = lambda title, question: window.answers.pop(0) if window.answers else True
    window.show_error = window.errors.append
    window.inform = lambda title, text: None
    window.resize(1000, 700)
    window.show()
    return window


def loop_of(window: MainWindow) -> Loop:
    return window.loop


def wait_until(bot: QtBot, condition, timeout: float = 120.0) -> None:
    """pytest-qt's waitUntil, with seconds (the module fixture has no function-scoped qtbot)."""
    bot.waitUntil(condition, timeout=int(timeout * 1000))


def idle(window: MainWindow) -> bool:
    return window.jobs.is_idle()


def label_by_folder(bot: QtBot, window: MainWindow, root: Path) -> frozenset[int]:
    """Label all but a few images per class by folder, PLANTED of them with the next class."""
    window.answers = [False]  # do not import folder names: label through the session
    window.ingest.add_paths([root])
    wait_until(bot, lambda: idle(window))
    session = window.session
    names = sorted(p.name for p in root.iterdir())
    by_class = {name: [] for name in names}
    for tile in window.grid.tiles():
        by_class[folder_of(window, tile.image_id)].append(tile.image_id)
    labelled = []
    for name in names:
        session.add_class(name)
        ids = by_class[name][UNLABELLED_PER_CLASS:]
        session.label(ids, session.project.class_by_name(name).id)
        labelled += ids
    planted = np.random.default_rng(1).choice(labelled, PLANTED, replace=False)
    for image_id in planted.tolist():
        wrong = names[(names.index(folder_of(window, image_id)) + 1) % len(names)]
        session.label([image_id], session.project.class_by_name(wrong).id)
    return frozenset(planted.tolist())


def folder_of(window: MainWindow, image_id: int) -> str:
    return Path(window.grid.tile_by_id(image_id).path).parent.name


@pytest.fixture(scope="module")
def trained(qapp, tmp_path_factory, request) -> Trained:
    """Label a generated dataset and train from the dialog, as a user would; keep the project."""
    folder = tmp_path_factory.mktemp("loop_e2e")
    write_dataset(folder / "images", per_class=PER_CLASS, side=32, seed=3)
    window = build_window(folder)
    bot = QtBot(request)
    try:
        assert window.project_files.open_path(folder / "trained.pigeonhole")
        planted = label_by_folder(bot, window, folder / "images")
        loop = loop_of(window)
        window.actions["Train"].trigger()
        loop.dialog.set_options(SETTINGS)
        etas: list[str] = []
        assert loop.dialog.start_training()
        wait_until(bot, lambda: _note_eta(loop, etas) and not loop.dialog.is_running(), 900)
        assert loop.dialog.run.status == "done", window.errors
        wait_until(bot, lambda: idle(window) and loop.review_panel.data is not None, 180)
        assert window.errors == []
        model_id = window.session.project.current_model_id()
        return Trained(
            folder / "trained.pigeonhole",
            model_id,
            planted,
            len(window.session.project.labelled_images()),
            loop.dialog.loss_plot.points(),
            any(text.startswith("Time left: about") for text in etas),
        )
    finally:
        loop_of(window).shutdown()
        window.shutdown()
        window.deleteLater()


def _note_eta(loop: Loop, etas: list[str]) -> bool:
    etas.append(loop.dialog.eta_label.text())
    return True


@pytest.fixture
def opened(trained: Trained, tmp_path: Path, qtbot):
    """A fresh window on a copy of the trained project (the model files are shared, read-only)."""
    copy = tmp_path / "copy.pigeonhole"
    shutil.copy(trained.project, copy)
    window = build_window(tmp_path)
    qtbot.addWidget(window)
    assert window.project_files.open_path(copy)
    loop = loop_of(window)
    yield window, loop
    loop.shutdown()
    window.shutdown()


def test_training_from_the_app_registers_a_scored_version(trained: Trained, opened, qtbot) -> None:
    window, loop = opened
    assert trained.epochs_plotted >= 1  # live curves were drawn
    assert trained.eta_seen
    project = window.session.project
    (record,) = project.models()
    assert record.id == trained.model_id and record.metrics["source"] == "trainer"
    assert record.n_labels == trained.n_labels == 3 * (PER_CLASS - UNLABELLED_PER_CLASS)
    versions = loop.models_panel.versions
    row = {
        versions.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole): (
            versions.index(0, c).data()
        )
        for c in range(versions.columnCount())
    }
    assert row["Version"] == f"● v{record.id}" and row["Source"] == "trained"
    assert row["Accuracy"] == f"{record.metrics['accuracy']:.1%}"
    assert row["Macro F1"] == f"{record.metrics['macro_f1']:.3f}"
    assert row["ECE"] == f"{record.metrics['ece']:.3f}"  # calibration error on the test split
    assert row["Labels seen"] == f"{trained.n_labels}"
    assert row["Recipe"].startswith("small_cnn at 32 px")
    assert window.classifier.model_id == record.id  # loaded
    assert len(project.predictions(record.id)) == window.grid.rowCount()  # reclassified

    # The accuracy the trainer reported (the models panel) is the accuracy the app measures itself
    # on the locked test split with the model it loaded: same pixels, same labels, same images
    # (to one image, where a near tie may fall the other way). And the model learned something.
    loop.evaluate()
    qtbot.waitUntil(lambda: loop.evaluation_view.score is not None and idle(window), timeout=60_000)
    summary = loop.evaluation_view.summary.text()
    assert "on the locked test split" in summary
    measured = float(re.search(r"accuracy ([0-9.]+)%", summary).group(1)) / 100
    n_test = int(re.search(r"split \(([0-9,]+) labelled", summary).group(1).replace(",", ""))
    reported = float(row["Accuracy"].rstrip("%")) / 100
    assert abs(measured - reported) <= 1 / n_test + 0.001, (summary, row["Accuracy"])
    assert measured > 1 / 3, summary  # better than guessing among three shapes


def test_clicking_a_confusion_cell_filters_the_grid(opened, qtbot) -> None:
    window, loop = opened
    loop.evaluate()
    qtbot.waitUntil(lambda: loop.evaluation_view.score is not None and idle(window), timeout=60_000)
    view = loop.evaluation_view
    assert "locked test split" in view.summary.text()
    assert view.curves_note.text().startswith("Training curves from")
    assert view.loss_plot.points() == view.accuracy_plot.points() == SETTINGS.epochs
    classes = view.score.evaluation.classes
    assert view.matrix.rowCount() == len(classes) == view.per_class.rowCount()
    project = window.session.project
    labels, predicted = label_names(project), predicted_names(project, project.current_model_id())
    row, column = 0, 0  # the diagonal cell always has images: true 0, predicted 0
    item = view.matrix.item(row, column)
    expected = sorted(view.cell_ids(classes[row], classes[column]))
    assert expected and int(item.text()) == len(expected)
    with qtbot.waitSignal(view.cellChosen) as signal:
        rect = view.matrix.visualItemRect(item)
        qtbot.mouseClick(view.matrix.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args[:2] == [classes[row], classes[column]]
    shown = sorted(window.proxy.image_id(r) for r in range(window.proxy.rowCount()))
    assert shown == expected
    assert all(labels[i] == classes[row] and predicted[i] == classes[column] for i in shown)
    assert isinstance(window.proxy.current_filter, IdsFilter)


def test_review_queue_puts_planted_labels_first_and_decisions_undo(
    trained: Trained, opened, qtbot
) -> None:
    window, loop = opened
    loop.review()
    qtbot.waitUntil(lambda: loop.review_panel.data is not None and idle(window), timeout=60_000)
    panel = loop.review_panel
    top = [s.image_id for s in panel.data.suspects[:10]]
    assert len(set(top) & trained.planted) >= 4, (top, sorted(trained.planted))
    assert panel.suspects.currentRow() == 0
    first = panel.data.suspects[0]
    assert panel.suspects.item(0).text().endswith(first.describe())
    project = window.session.project
    before = label_names(project)[first.image_id]

    panel.suspects.setFocus()
    qtbot.keyClick(panel.suspects, Qt.Key.Key_A)  # accept the suggestion
    assert label_names(project)[first.image_id] == first.looks_like
    assert panel.suspects.currentRow() == 1  # auto-advance
    assert window.current_image_id() == panel.data.suspects[1].image_id
    second = panel.data.suspects[1]
    qtbot.keyClick(panel.suspects, Qt.Key.Key_K)  # keep the label
    assert label_names(project)[second.image_id] == second.labelled
    assert [s.image_id for s in panel.pending()][:1] == [panel.data.suspects[2].image_id]

    window.actions["Undo"].trigger()  # undo "keep"
    window.actions["Undo"].trigger()  # undo "accept"
    assert label_names(project)[first.image_id] == before
    assert panel.pending()[:2] == panel.data.suspects[:2]
    assert panel.suspects.currentRow() == 0


def test_label_next_and_uncertain_lists(opened, qtbot) -> None:
    window, loop = opened
    loop.review()
    qtbot.waitUntil(lambda: loop.review_panel.data is not None and idle(window), timeout=60_000)
    panel = loop.review_panel
    project = window.session.project
    predictions = project.predictions()
    labelled = label_names(project, readable_only=False)
    unlabelled = [i for i in predictions if i not in labelled]
    ids = [int(panel.next_list.item(r).data(Qt.ItemDataRole.UserRole))
           for r in range(panel.next_list.count())]  # fmt: skip
    assert sorted(ids) == sorted(unlabelled)
    margins = [predictions[i].margin for i in ids]
    assert margins == sorted(margins)
    assert panel.uncertain_note.text()
    assert set(panel.data.uncertain) <= set(unlabelled)
    qtbot.mouseClick(panel.show_next, Qt.MouseButton.LeftButton)
    assert window.proxy.rowCount() == len(unlabelled)


def test_quick_retrain_adds_a_version_that_loads_and_churn_matches_a_hand_count(
    trained: Trained, opened, qtbot
) -> None:
    window, loop = opened
    project = window.session.project
    old = trained.model_id
    # Opening a project rebuilds the review queue in the background; a second job waits for it.
    qtbot.waitUntil(lambda: idle(window), timeout=60_000)
    window.actions["Quick Retrain"].trigger()
    qtbot.waitUntil(lambda: len(project.models()) == 2 and idle(window), timeout=60_000)
    qtbot.waitUntil(lambda: loop.review_panel.data is not None and idle(window), timeout=60_000)
    new = project.current_model_id()
    assert new != old and window.classifier.model_id == new  # loaded
    assert window.errors == []
    assert loop.models_panel.versions.index(0, 1).data() == "quick retrain"
    assert loop.models_panel.versions.index(0, 0).data() == f"● v{new}"

    # The new file, run by ONNX Runtime on the images, agrees with the numpy head's predictions
    # that quick retrain stored from the cached embeddings.
    checked = check_model_file(project.model(new).path)
    tiles = window.grid.tiles()[:6]
    pixels = np.stack([decode_for_model(t.path, checked.input_size) for t in tiles])
    probs, _ = open_session(checked, "cpu").run(pixels)
    stored = project.predictions(new)
    for tile, row in zip(tiles, probs, strict=True):
        assert int(row.argmax()) == stored[tile.image_id].class_index
        assert abs(float(row.max()) - stored[tile.image_id].confidence) < 1e-3
    assert (top2_margin(probs) >= 0).all()

    labels = label_names(project)
    before, after = predicted_names(project, old), predicted_names(project, new)
    hand = {"fixed": 0, "broken": 0, "changed": 0}
    for image_id in before.keys() & after.keys():
        label = labels.get(image_id)
        if label is None:
            hand["changed"] += before[image_id] != after[image_id]
        else:
            hand["fixed"] += before[image_id] != label and after[image_id] == label
            hand["broken"] += before[image_id] == label and after[image_id] != label
    panel = loop.review_panel
    assert panel.churn_counts() == hand
    assert panel.fixed_button.text() == f"Fixed: {hand['fixed']}"
    assert panel.broken_button.text() == f"Broke: {hand['broken']}"
    for kind, button in panel._churn_buttons().items():
        if hand[kind]:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            assert window.proxy.rowCount() == hand[kind]


def test_a_quick_retrain_asked_during_another_job_starts_after_it(
    trained: Trained, opened, qtbot
) -> None:
    """A click while a background job runs (the review rebuild after opening) waits, not fails."""
    window, _loop = opened
    project = window.session.project
    qtbot.waitUntil(lambda: idle(window), timeout=60_000)
    window.actions["Review"].trigger()
    assert window.jobs.busy()  # the review job holds the window's one job slot
    window.actions["Quick Retrain"].trigger()
    assert "starts when the current job ends" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: len(project.models()) == 2 and idle(window), timeout=120_000)
    assert window.errors == []


def test_switching_versions_from_the_models_panel(trained: Trained, opened, qtbot) -> None:
    window, loop = opened
    project = window.session.project
    qtbot.waitUntil(lambda: idle(window), timeout=60_000)  # the review rebuild after opening
    window.actions["Quick Retrain"].trigger()
    qtbot.waitUntil(lambda: len(project.models()) == 2 and idle(window), timeout=60_000)
    panel = loop.models_panel
    row = panel.versions.row_of(trained.model_id)
    panel.table.selectRow(row)
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: idle(window), timeout=60_000)
    assert project.current_model_id() == trained.model_id
    assert window.classifier.model_id == trained.model_id
    assert panel.versions.index(panel.versions.row_of(trained.model_id), 0).data().startswith("●")


def test_answers_outlast_a_restart_and_a_new_version_and_the_queue_comes_back_by_itself(
    trained: Trained, tmp_path: Path, qtbot
) -> None:
    copy = tmp_path / "copy.pigeonhole"
    shutil.copy(trained.project, copy)
    window = build_window(tmp_path / "before")
    qtbot.addWidget(window)
    assert window.project_files.open_path(copy)
    loop = loop_of(window)
    loop.review()
    qtbot.waitUntil(lambda: loop.review_panel.data is not None and idle(window), timeout=60_000)
    kept = loop.review_panel.data.suspects[0]
    loop.review_panel.suspects.setCurrentRow(0)
    loop.review_panel.suspects.setFocus()
    qtbot.keyClick(loop.review_panel.suspects, Qt.Key.Key_K)
    loop.shutdown()
    window.shutdown()

    window = build_window(tmp_path / "after")  # a restart: a new window on the same file
    qtbot.addWidget(window)
    assert window.project_files.open_path(copy)
    loop = loop_of(window)
    panel = loop.review_panel
    qtbot.waitUntil(lambda: panel.data is not None and idle(window), timeout=60_000)  # no click
    assert kept.image_id not in [s.image_id for s in panel.data.suspects]
    assert panel.data.settled == 1 and "1 answered before" in panel.heading.text()
    assert panel.noise_label.text().endswith("labels look wrong.")

    # The queue came back without moving the grid; a click on a suspect shows it there, and
    # the number next to it is the one the preview shows for that image and version.
    first = panel.data.suspects[0]
    assert window.current_image_id() is None
    window.loop_docks["Review"].show()
    window.loop_docks["Review"].raise_()
    panel.tabs.setCurrentIndex(0)
    rect = panel.suspects.visualItemRect(panel.suspects.item(0))
    qtbot.mouseClick(panel.suspects.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_image_id() == first.image_id
    bars = dict(window.preview.bars.rows())
    if first.probability is None:
        assert first.looks_like not in bars
    else:
        assert bars[first.looks_like] == pytest.approx(first.probability)
        assert f"(v{first.model_id}: {first.probability:.1%})" in panel.suspects.item(0).text()

    project = window.session.project
    qtbot.waitUntil(lambda: idle(window), timeout=60_000)
    window.actions["Quick Retrain"].trigger()  # a new version
    qtbot.waitUntil(lambda: len(project.models()) == 2 and idle(window), timeout=60_000)
    qtbot.waitUntil(
        lambda: panel.data.model_id != trained.model_id and idle(window), timeout=60_000
    )
    assert kept.image_id not in [s.image_id for s in panel.data.suspects]
    assert panel.data.settled == 1  # same embeddings, so flagged again, and not asked again
    assert window.errors == []
    loop.shutdown()
    window.shutdown()


def start_training_behind_a_closed_dialog(window: MainWindow, loop: Loop) -> None:
    """Model → Train…, start a run, and close the dialog as a user who goes on working would."""
    window.actions["Train"].trigger()
    loop.dialog.set_options(SETTINGS)
    assert loop.dialog.start_training()
    loop.dialog.hide()


def test_training_behind_a_closed_dialog_shows_in_the_status_bar_and_is_offered(
    trained: Trained, opened, qtbot
) -> None:
    """A second run: its progress is in the main window, and v1 stays in use until the user
    takes the new version from the offer bar, which shows both scores."""
    window, loop = opened
    project = window.session.project
    start_training_behind_a_closed_dialog(window, loop)
    status = loop.training_status
    seen: list[str] = []
    wait_until(qtbot, lambda: seen.append(status.label.text()) or not loop.dialog.is_running(), 900)
    assert loop.dialog.run.status == "done", window.errors
    assert any(text.startswith("Training: epoch ") for text in seen), seen
    assert not status.isVisible()
    new = max(record.id for record in project.models())
    assert new != trained.model_id
    assert project.current_model_id() == trained.model_id == window.classifier.model_id
    offer = loop.offer
    assert offer.isVisible()
    assert offer.label.text().startswith(f"v{new} is trained: test accuracy ")
    assert f"In use: v{trained.model_id}, test accuracy " in offer.label.text()
    qtbot.mouseClick(offer.use_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: idle(window) and window.classifier.model_id == new, 180)
    assert project.current_model_id() == new and not offer.isVisible()
    assert window.errors == []
    for dock in window.docks:  # after a training with Evaluation open, it still fits a laptop
        dock.show()
    loop.evaluate()
    wait_until(qtbot, lambda: idle(window) and loop.evaluation_view.score is not None, 120)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700, hint


def test_cancel_in_the_status_bar_stops_the_trainer(trained: Trained, opened, qtbot) -> None:
    window, loop = opened
    project = window.session.project
    start_training_behind_a_closed_dialog(window, loop)
    status = loop.training_status
    assert status.isVisible() and status.cancel_button.isEnabled()  # while the list is written
    wait_until(qtbot, lambda: loop.dialog.process is not None, 60)  # the trainer has started
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: not loop.dialog.is_running(), 60)
    assert loop.dialog.run.status == "cancelled"
    assert [record.id for record in project.models()] == [trained.model_id]
    assert not status.isVisible() and not loop.offer.isVisible()
