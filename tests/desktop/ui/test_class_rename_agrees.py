"""After a class rename every view names a version's classes the same way.

Predictions are stored with the model's class index; the grid, the preview's top-k, the CSV
export, the review queue and the evaluation each turn it into a name. They once did it five
ways, and after a rename the preview, the CSV and the review still said the old name (and the
evaluation scored every renamed-class image wrong). No ONNX model is needed: the version is
registered with stored predictions and embeddings, as a classification leaves them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.core.evaluation import evaluate_version
from desktop.core.records import PredictionRow

CLASSES = ["cat", "dog"]
PER_CLASS = 30
PLANTED = [0, 1, 2]  # cats labelled "dog": the review should say they look like the cat class


def _stored_version(window, folder: Path) -> list[int]:
    """Images labelled by the user, one model version with predictions and embeddings."""
    folder.mkdir()
    paths = []
    for i in range(2 * PER_CLASS):
        path = folder / f"img{i:03d}.png"
        Image.new("RGB", (8, 8), (i * 4, 40, 90)).save(path)
        paths.append(path)
    project = window.session.project
    ids = project.add_images(paths)
    for name in CLASSES:
        project.add_class(name)
    class_id = {c.name: c.id for c in project.classes()}
    truth = np.repeat(np.arange(len(CLASSES)), PER_CLASS)
    given = truth.copy()
    given[PLANTED] = 1
    for image_id, index in zip(ids, given, strict=True):
        project.set_labels([image_id], class_id[CLASSES[index]])
    rng = np.random.default_rng(0)
    centres = np.array([[3.0] * 8, [-3.0] * 8], dtype=np.float32)
    embeddings = centres[truth] + rng.normal(0.0, 1.0, size=(len(truth), 8)).astype(np.float32)
    model_id = project.add_model(folder / "model.onnx", {"classes": CLASSES})
    rows = [
        PredictionRow.from_probs(
            image_id,
            [0.9, 0.1] if t == 0 else [0.2, 0.8],
            k=2,
            embedding=embedding,
        )
        for image_id, t, embedding in zip(ids, truth, embeddings, strict=True)
    ]
    project.set_predictions(model_id, rows)
    window.reload_tiles()
    return ids


def test_grid_preview_csv_review_and_scores_agree_after_a_rename(window, tmp_path, wait_idle):
    ids = _stored_version(window, tmp_path / "images")
    cat = window.session.project.class_by_name("cat").id
    window.session.rename_class(cat, "kitty")

    by_id = {t.image_id: t for t in window.grid.tiles()}
    assert sorted(by_id) == sorted(ids)
    assert {t.prediction for t in by_id.values()} == {"kitty", "dog"}
    assert by_id[ids[0]].prediction == "kitty" and by_id[ids[0]].label == "dog"

    window.view.select_row(0)  # the first image: a cat the user labelled "dog"
    window.show_current()
    assert [name for name, _ in window.preview.bars.rows()] == ["kitty", "dog"]

    out = tmp_path / "export.csv"
    window.exporter.to_csv(out)
    with out.open(newline="", encoding="utf-8") as handle:
        exported = {row["path"]: row for row in csv.DictReader(handle)}
    for tile in by_id.values():
        row = exported[tile.path]
        assert (row["label"], row["prediction"]) == (tile.label, tile.prediction)
        assert json.loads(row["top_k"])[0][0] == tile.prediction

    window.loop.review()
    wait_idle(window)
    panel = window.loop.review_panel
    shown = [panel.suspects.item(i).text() for i in range(panel.suspects.count())]
    assert len(shown) >= 2, (window.errors, panel.heading.text())
    assert all("labelled dog, looks like kitty" in text for text in shown), shown
    assert not any("no probability stored" in text for text in shown), shown

    project = window.session.project
    score = evaluate_version(project, project.current_model_id())
    agree = sum(t.label == t.prediction for t in by_id.values())
    assert score.accuracy == agree / len(by_id) == 1 - len(PLANTED) / len(by_id)
    assert "cat" not in score.classes
