"""Help → Open Sample Project: the bundled photos and model give a classified project at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop.resources import sample_project
from desktop.ui.sample import SAMPLE_PROJECT


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_sample_opens_labelled_and_classified_without_touching_the_bundle(
    window, tmp_path, qtbot, wait_idle
):
    sample = sample_project()
    before = tree_digest(sample.root)

    assert window.sample.open(folder=tmp_path)
    qtbot.waitUntil(lambda: window.grid.rowCount() == len(sample.labelled_images()), timeout=60_000)
    qtbot.waitUntil(
        lambda: all(window.grid.tile(r).prediction for r in range(window.grid.rowCount())),
        timeout=120_000,
    )
    wait_idle(window)

    assert window.session.path == tmp_path / SAMPLE_PROJECT
    tiles = [window.grid.tile(r) for r in range(window.grid.rowCount())]
    assert {t.label for t in tiles} == set(sample.class_names())  # class folders became labels
    agree = sum(t.label == t.prediction for t in tiles) / len(tiles)
    assert agree > 0.5, f"the bundled model agrees with only {agree:.0%} of the sample's labels"
    assert tree_digest(sample.root) == before


def test_first_run_offers_the_sample_once(window, tmp_path, monkeypatch):
    asked: list[str] = []
    window.ask = lambda title, question: asked.append(title) or False  # the user says no
    window.sample.offer_on_first_run()
    window.sample.offer_on_first_run()
    assert asked == ["Open the sample project?"]
    assert window.grid.rowCount() == 0
