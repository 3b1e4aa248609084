"""Help → Open Sample Project: a ready project to try the whole loop on, offered at first start.

The sample (Fashion-MNIST photos in class folders and a model trained on them, see
``resources/sample``) is added to its own project in the user's data folder; the bundled images
are only read, never copied or changed. The class folders are offered as labels like any dropped
folder, and once the scan is done the model classifies what it has not seen yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.paths import PROJECT_SUFFIX, data_dir
from desktop.resources import MissingResource, sample_project

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

SAMPLE_PROJECT = "Sample" + PROJECT_SUFFIX
FIRST_RUN_KEY = "app/first_run_done"


def open_sample(window: MainWindow, folder: Path | None = None) -> bool:
    """Open (or reopen) the sample project, add its images, load its model and classify.

    The project file goes in ``folder`` (default: the user's data folder).
    """
    try:
        sample = sample_project()
    except MissingResource as exc:
        window.show_error(f"The sample project is not available: {exc}")
        return False
    if not window.project_files.open_path((folder or data_dir()) / SAMPLE_PROJECT):
        return False
    window.ingest.add_paths([sample.images])
    if window.classifier.model is None and not window.classifier.open_model(sample.model):
        return False
    window.jobs.when_idle(window.classifier.classify_added)
    return True


def offer_on_first_run(window: MainWindow) -> None:
    """Once per user: an empty first project gets the offer to open the sample instead."""
    settings = window.settings
    if settings.value(FIRST_RUN_KEY, False, type=bool):
        return
    settings.setValue(FIRST_RUN_KEY, True)
    project = window.session.project
    if project is not None and project.counts().images == 0:
        question = (
            "Welcome to Pigeonhole. Open the sample project (400 Fashion-MNIST photos and a "
            "model) to try it? You can also drop your own folders on the window at any time."
        )
        if window.ask("Open the sample project?", question):
            open_sample(window)
