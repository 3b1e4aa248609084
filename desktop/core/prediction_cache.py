"""One version's predictions with their embeddings, read from the project once, not per step.

After a training the app scores the new version, builds its review queue, its label-next and
uncertain lists and its churn; each step wants every prediction with its embedding (about 0.5 GB
at 100,000 images), and each used to read them again. The loop keeps one ``PredictionCache`` and
passes it to those steps: the rows are read once per project, version and data generation
(``Project.data_generation``), so any change to the file (a label, a new classification)
makes the next step read them afresh, and two steps never see different rows.

Only the last version asked for is kept: holding two would double the memory for the one step
(churn) that compares versions, and that step needs only the old version's class indices.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.core.records import PredictionRow
    from desktop.core.store import Project


class PredictionCache:
    """The predictions of the last (project, version) asked for, while the project is unchanged.

    Safe to share between the GUI thread and a worker: one lock around the check and the read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._rows: Mapping[int, PredictionRow] = MappingProxyType({})

    def predictions(self, project: Project, model_id: int) -> Mapping[int, PredictionRow]:
        """All predictions of ``model_id`` by image id (read-only: shared by every step)."""
        with self._lock:
            # The generation is read BEFORE the rows: a write in between makes the next call
            # read again rather than keep rows older than their key.
            key = (project, model_id, project.data_generation())
            if key != self._key:
                self._rows = MappingProxyType({})  # let the old rows go before reading new ones
                self._rows = MappingProxyType(project.predictions(model_id))
                self._key = key
            return self._rows

    def clear(self) -> None:
        """Forget what was read (a project was closed or another one opened)."""
        with self._lock:
            self._key, self._rows = None, MappingProxyType({})


def predictions_of(
    project: Project, model_id: int, cache: PredictionCache | None = None
) -> Mapping[int, PredictionRow]:
    """A version's predictions, through ``cache`` when a caller keeps one."""
    if cache is None:
        return project.predictions(model_id)
    return cache.predictions(project, model_id)
