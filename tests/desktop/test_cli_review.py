"""``python -m desktop review``: the window's queue as CSV; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop.cli_review import CSV_COLUMNS, PROG, main
from desktop.core.model_file import check_model_file
from desktop.core.review import review_project
from desktop.core.store import Project
from tests.desktop.core.test_loop_on_project import classify_into

ROOT = Path(__file__).resolve().parents[2]
PLANTED = 4


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{PROG}: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def noisy_labels(tiny_dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A path,label CSV of the tiny dataset with PLANTED labels moved to the next class."""
    files = sorted(tiny_dataset_dir.glob("*/*.*"))
    classes = sorted({f.parent.name for f in files})
    wrong = set(np.random.default_rng(5).choice(len(files), PLANTED, replace=False).tolist())
    pairs = [
        (str(f), classes[(classes.index(f.parent.name) + 1) % 3] if i in wrong else f.parent.name)
        for i, f in enumerate(files)
    ]
    manifest = tmp_path_factory.mktemp("labels") / "labels.csv"
    with manifest.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows([("path", "label"), *pairs])
    return manifest, pairs, {pairs[i][0] for i in wrong}


def test_the_csv_is_the_windows_queue(
    noisy_labels, tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, pairs, planted = noisy_labels
    out = tmp_path / "suspects.csv"
    argv = [str(manifest), "--model", str(tiny_model_path), "--out", str(out), "--workers", "0"]
    assert main(argv) == 0
    rows = read_csv(out)
    stderr = capsys.readouterr().err
    assert "labels look wrong" in stderr and f"wrote {out}: {len(rows)} suspects" in stderr

    with Project.open(tmp_path / "same.pigeonhole") as project:
        project.import_labels(pairs, create_classes=True)
        model_id = project.add_model(tiny_model_path, check_model_file(tiny_model_path).info)
        classify_into(project, model_id, tiny_model_path)
        queue = review_project(project, model_id).suspects
        paths = {row.id: row.path for row in project.image_rows()}
    window = [
        {
            "path": paths[s.image_id],
            "label": s.labelled,
            "suggested": s.looks_like,
            "probability": "" if s.probability is None else f"{s.probability:.4f}",
            "self_confidence": f"{s.self_confidence:.4f}",
            "rank": str(rank),
        }
        for rank, s in enumerate(queue, start=1)
    ]
    assert rows == window
    top = {row["path"] for row in rows[: PLANTED + 2]}
    assert len(top & planted) >= PLANTED - 1, (rows, planted)


def test_labels_csv_replaces_the_folder_names(
    noisy_labels, tiny_dataset_dir: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    manifest, _, _ = noisy_labels
    model = ["--model", str(tiny_model_path), "--workers", "0"]
    alone, over_folders = tmp_path / "alone.csv", tmp_path / "folders.csv"
    assert main([str(manifest), *model, "--out", str(alone)]) == 0
    argv = [str(tiny_dataset_dir), *model, "--labels", str(manifest), "--out", str(over_folders)]
    assert main(argv) == 0
    assert read_csv(over_folders) == read_csv(alone)


def test_class_folders_work_and_formula_cells_are_neutralised(
    tiny_dataset_dir: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    folders = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, folders)
    (folders / "circle").rename(folders / "=circle")
    for name in sorted(p.name for p in (folders / "square").iterdir())[:3]:
        shutil.move(folders / "square" / name, folders / "=circle" / name)  # wrong on purpose
    out = tmp_path / "suspects.csv"
    argv = [str(folders), "--model", str(tiny_model_path), "--out", str(out), "--workers", "0"]
    assert main(argv) == 0
    rows = read_csv(out)
    assert rows, "three squares filed as circles should be suspects"
    cells = [row["label"] for row in rows] + [row["suggested"] for row in rows]
    assert "'=circle" in cells
    assert not any(cell.startswith("=") for cell in cells)


def _bad_cases(tmp_path: Path, tiny_dataset_dir: Path, tiny_model_path: Path) -> dict:
    one_class = tmp_path / "one.csv"
    one_class.write_text(
        "path,label\n"
        + "".join(f"{p},circle\n" for p in sorted((tiny_dataset_dir / "circle").iterdir())),
        encoding="utf-8",
    )
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02 not text" * 40)
    wrong_model = tmp_path / "model.onnx"
    wrong_model.write_bytes(b"definitely not onnx" * 50)
    model = str(tiny_model_path)
    return {
        "fewer than 2 classes": ([str(one_class), "--model", model], "at least 2 classes"),
        "unreadable CSV": ([str(binary), "--model", model], "binary.csv"),
        "unknown model": ([str(tiny_dataset_dir), "--model", str(wrong_model)], "model.onnx"),
        "missing input": ([str(tmp_path / "nope"), "--model", model], "not found"),
        "bad labels CSV": (
            [str(tiny_dataset_dir), "--model", model, "--labels", str(binary)],
            "binary.csv",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["fewer than 2 classes", "unreadable CSV", "unknown model", "missing input", "bad labels CSV"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str,
    tmp_path: Path,
    tiny_dataset_dir: Path,
    tiny_model_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, expected = _bad_cases(tmp_path, tiny_dataset_dir, tiny_model_path)[case]
    out = tmp_path / "suspects.csv"
    assert main([*argv, "--out", str(out)]) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_as_a_command(tiny_dataset_dir: Path, tmp_path: Path) -> None:
    """``python -m desktop review`` is dispatched, and a bad model is one line and exit 2."""
    bad = subprocess.run(
        [sys.executable, "-m", "desktop", "review", str(tiny_dataset_dir), "--model",
         str(tiny_dataset_dir / "nothing.onnx"), "--out", str(tmp_path / "s.csv")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    one_error_line(bad.stderr)
