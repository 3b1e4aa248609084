"""Help → Open Sample Project: a ready project to try the whole loop on, offered at first start.

The sample (Fashion-MNIST photos in class folders and a model trained on them, see
``resources/sample``) is added to its own project in the user's data folder; the bundled images
are only read, never copied or changed. The class folders are offered as labels like any dropped
folder, and once the scan is done the model classifies what it has not seen yet.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from desktop.core.paths import PROJECT_SUFFIX, data_dir
from desktop.resources import MissingResource, sample_project
from desktop.ui.classifying import Classifier
from desktop.ui.dialogs import Dialogs
from desktop.ui.ingest import Ingest
from desktop.ui.jobs import Jobs
from desktop.ui.project_files import ProjectFiles
from desktop.ui.session import Session

SAMPLE_PROJECT = "Sample" + PROJECT_SUFFIX
FIRST_RUN_KEY = "app/first_run_done"


class Sample:
    """Help → Open Sample Project: the project files, the ingest and the classifier in turn."""

    def __init__(
        self,
        session: Session,
        project_files: ProjectFiles,
        ingest: Ingest,
        classifier: Classifier,
        jobs: Jobs,
        dialogs: Dialogs,
        settings: QSettings,
    ) -> None:
        self.session = session
        self.project_files = project_files
        self.ingest = ingest
        self.classifier = classifier
        self.jobs = jobs
        self.dialogs = dialogs
        self.settings = settings

    def open(self, folder: Path | None = None) -> bool:
        """Open (or reopen) the sample project, add its images, load its model and classify.

        The project file goes in ``folder`` (default: the user's data folder).
        """
        try:
            sample = sample_project()
        except MissingResource as exc:
            self.dialogs.show_error(f"The sample project is not available: {exc}")
            return False
        if not self.project_files.open_path((folder or data_dir()) / SAMPLE_PROJECT):
            return False
        self.ingest.add_paths([sample.images])
        if self.classifier.model is None and not self.classifier.open_model(sample.model):
            return False
        self.jobs.when_idle(self.classifier.classify_added)
        return True

    def offer_on_first_run(self) -> None:
        """Once per user: an empty first project gets the offer to open the sample instead."""
        if self.settings.value(FIRST_RUN_KEY, False, type=bool):
            return
        self.settings.setValue(FIRST_RUN_KEY, True)
        project = self.session.project
        if project is not None and project.counts().images == 0:
            question = (
                "Welcome to Pigeonhole. Open the sample project (400 Fashion-MNIST photos and a "
                "model) to try it? You can also drop your own folders on the window at any time."
            )
            if self.dialogs.ask("Open the sample project?", question):
                self.open()
