"""File → Export for other tools: Hugging Face imagefolder, ImageNet-style folders, a results table.

The work is ``desktop.core.split_export`` and ``desktop.core.results_table``; this module asks
where (and, for the table, whether to add embeddings), runs it in the background with progress
and Cancel, like the class-folder export, and says what was written.
"""

from __future__ import annotations

from pathlib import Path

from desktop.core.records import ExportSummary
from desktop.core.results_table import export_results, parquet_available
from desktop.core.split_export import LAYOUT_NAMES, LAYOUTS, export_split_folders
from desktop.ui.exporting import BackgroundExport, describe_export

TABLE_FILTERS = "Parquet (*.parquet);;CSV (*.csv)"


class DatasetExporter(BackgroundExport):
    """File → Export for Hugging Face, ImageNet-style tools and dataframes."""

    # --- folders ------------------------------------------------------------------------------
    def choose_huggingface(self) -> None:
        self._choose_folder("huggingface")

    def choose_imagenet(self) -> None:
        self._choose_folder("imagenet")

    def _choose_folder(self, layout: str) -> None:
        folder = self.dialogs.choose_folder(
            f"Export as {LAYOUT_NAMES[layout]} (copies; nothing is overwritten)"
        )
        if folder is not None:
            self.to_folders(folder, layout)

    def to_folders(self, destination: Path, layout: str, mode: str = "copy") -> None:
        """Copy the labelled images into ``destination`` in ``layout`` (see split_export)."""
        folders = ", ".join(f"{name}/" for name in dict.fromkeys(LAYOUTS[layout].values()))
        self._start(
            f"Exporting {LAYOUT_NAMES[layout]} ({folders})…",
            lambda cancel: export_split_folders(
                self.session.require(),
                destination,
                layout,
                mode=mode,
                cancel=cancel,
                progress=self._progress.changed.emit,
            ),
            describe_export,
        )

    # --- the table ------------------------------------------------------------------------------
    def choose_table(self) -> None:
        path = self.dialogs.choose_save_file(
            "Export results table", TABLE_FILTERS, self._suggested("results.parquet")
        )
        if path is None:
            return
        if path.suffix.lower() not in (".parquet", ".csv"):
            path = path.with_suffix(".parquet" if parquet_available() else ".csv")
        embeddings = self.dialogs.ask(
            "Export results table",
            "Add each image's embedding (the model's feature vector) as columns? It makes the "
            "file much larger.",
        )
        self.to_table(path, embeddings=embeddings)

    def to_table(self, path: Path, *, embeddings: bool = False) -> None:
        table_format = "csv" if path.suffix.lower() == ".csv" else "parquet"
        self._start(
            f"Writing {path.name}…",
            lambda cancel: export_results(
                self.session.require(),
                path,
                table_format,
                embeddings=embeddings,
                cancel=cancel,
                progress=self._progress.changed.emit,
            ),
            _describe_table,
        )


def _describe_table(summary: ExportSummary) -> str:
    if summary.cancelled:
        return f"Cancelled: {summary.destination} was not written."
    return f"{summary.n_written:,} rows written to {summary.destination}."
