"""File → Export for other tools, in a real window: the menu entries, the background export, what
the user is told, and the files read back as their users would read them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from desktop.core.split_export import LAYOUTS, project_splits
from tests.imagefolder import imagefolder_files


def labelled_window(window, shapes_dir, wait_idle):
    window.ingest.add_paths([shapes_dir])  # answers yes: the class folders become labels
    wait_idle(window)
    assert len(window.session.require().training_rows()) == 9
    return window


def test_huggingface_and_imagenet_exports_from_the_menu(
    window, shapes_dir, tmp_path, wait_idle
) -> None:
    labelled_window(window, shapes_dir, wait_idle)
    names = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    assert "Export for Hugging Face (imagefolder)…" in names
    assert "Export as ImageNet-Style Folders…" in names
    splits = project_splits(window.session.require())
    menus = {
        "huggingface": ("Export for Hugging Face (imagefolder)", {"train", "validation", "test"}),
        "imagenet": ("Export as ImageNet-Style Folders", {"train", "val"}),
    }
    for layout, (entry, allowed) in menus.items():
        out = tmp_path / layout
        window.choose_folder = lambda _title, out=out: out
        window.actions[entry].trigger()
        wait_idle(window)
        found = imagefolder_files(out, allowed)
        assert found == {
            Path(path).name: (LAYOUTS[layout][split], label)
            for path, (label, split) in splits.items()
        }
        assert window.infos[-1].startswith(f"9 images copied into {out}")
    assert not window.errors


def test_results_table_from_the_menu_reads_back_with_pyarrow(
    window, shapes_dir, tmp_path, wait_idle
) -> None:
    labelled_window(window, shapes_dir, wait_idle)
    window.choose_save_file = lambda *_args: tmp_path / "results"  # no suffix given
    window.answers = [True]  # with embeddings (none cached yet: the column stays empty)
    window.actions["Export Results Table (Parquet/CSV)"].trigger()
    wait_idle(window)
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert len(rows) == 12  # 9 labelled shapes and 3 broken files
    labelled = {Path(r["path"]).parent.name: r["label"] for r in rows if r["label"]}
    assert labelled == {"circle": "circle", "square": "square", "triangle": "triangle"}
    assert all(r["embedding"] is None and r["prediction"] == "" for r in rows)
    assert window.infos[-1] == f"12 rows written to {tmp_path / 'results.parquet'}."


def test_an_export_into_a_file_says_why_and_writes_nothing(
    window, shapes_dir, tmp_path, wait_idle
) -> None:
    labelled_window(window, shapes_dir, wait_idle)
    target = tmp_path / "not-a-folder"
    target.write_bytes(b"mine")
    window.dataset_exporter.to_folders(target, "imagenet")
    wait_idle(window)
    assert window.errors and "is a file" in window.errors[-1]
    assert target.read_bytes() == b"mine"
