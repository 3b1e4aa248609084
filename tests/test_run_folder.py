"""The trainer–app contract: one manifest reader (strict, or forgiving for a person's CSV), the
manifest the app writes read back by the trainer, and progress events both sides name alike."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.training_run import TrainingRun
from trainer.progress import JsonLinesProgress
from trainer.run_folder import Event, ManifestError, read_manifest, write_manifest


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_manifest_the_app_writes_is_what_the_trainer_reads(tmp_path: Path) -> None:
    odd = os.fsdecode(b"caf\xe9.png")  # a name that is not UTF-8 keeps its exact bytes
    rows = [(str(tmp_path / odd), "=cat", "key1", ""), (str(tmp_path / "b.png"), "dog", "", "test")]
    manifest = tmp_path / "manifest.csv"
    assert write_manifest(manifest, rows) == 2
    read = read_manifest(manifest)
    assert [(r.path, r.label, r.group, r.split) for r in read.rows] == rows
    assert [r.line for r in read.rows] == [2, 3] and read.skipped == []


def test_both_sides_take_the_same_classes_from_folders(tmp_path: Path) -> None:
    from desktop.core.scanner import detect_class_folders
    from tests.imagegen import write_dataset
    from trainer.data import list_labelled_files

    write_dataset(tmp_path, per_class=2, side=32, classes=["circle", "square"])
    picture = next((tmp_path / "circle").iterdir())
    for folder in (os.fsdecode(b"caf\xe9"), ".hidden"):  # not UTF-8; hidden: no class
        (tmp_path / folder).mkdir()
        shutil.copy(picture, tmp_path / folder / "x.png")
    _, _, trainer_classes, _ = list_labelled_files(tmp_path)
    app_classes = detect_class_folders(tmp_path)
    assert sorted(trainer_classes) == sorted(app_classes) == ["caf\ufffd", "circle", "square"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "lacks column(s) path, label"),
        (b"file;class\r\na.png;cat\r\n", "lacks column(s) path, label"),
        (b"path,label\na.png,\n", "line 2 has an empty label: fill it in"),
        (b"path,label\n,cat\n", "line 2 has an empty path: fill it in"),
        (b"path,label\n\xe9.png,cat\n", "is not UTF-8 text"),
    ],
)
def test_strict_reading_refuses_what_it_cannot_use(tmp_path: Path, content, message) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(write(tmp_path / "m.csv", content))


def test_forgiving_reading_takes_a_spreadsheet_and_says_what_it_left_out(tmp_path: Path) -> None:
    made = write(
        tmp_path / "m.csv",
        "File;Class\r\ncaf\xe9.png;cat\r\n;dog\r\nb.png\r\nc.png;\r\n".encode("cp1252"),
    )
    read = read_manifest(made, forgiving=True)
    assert read.encoding == "cp1252" and read.n_rows == 4
    assert [(r.path, r.label) for r in read.rows] == [("café.png", "cat")]
    assert [(s.what, s.reason) for s in read.skipped] == [
        ("m.csv line 3", "no path"),
        ("m.csv line 4", "missing label column"),
        ("m.csv line 5: c.png", "no label"),
    ]
    headerless = write(tmp_path / "h.csv", b"a.png,cat\n")
    assert [r.label for r in read_manifest(headerless, forgiving=True).rows] == ["cat"]


def test_progress_events_are_named_alike_on_both_sides(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = JsonLinesProgress(out)
    progress.stage("decoding")
    progress.start(epochs=1, fine_tune_epochs=0)
    progress.epoch(phase="head", epoch=1, loss=0.5)
    progress.done(str(tmp_path), {"accuracy": 1.0})
    run = TrainingRun(tmp_path)
    kinds = [run.feed(line).kind for line in out.getvalue().splitlines()]
    assert kinds == [Event.STAGE, Event.START, Event.EPOCH, Event.DONE]
    assert (run.status, run.stage, run.report) == ("done", "decoding", {"accuracy": 1.0})


def test_the_contract_module_needs_only_the_standard_library() -> None:
    code = (
        "import sys, trainer.run_folder; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'PIL', 'tensorflow'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
