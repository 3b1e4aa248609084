"""``python -m desktop classify``: one CSV row per image file found; bad input is one line and
exit code 2 with nothing written."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from desktop.cli_classify import CSV_COLUMNS, PROG, main
from desktop.core.csv_io import parse_topk

ROOT = Path(__file__).resolve().parents[2]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list of what a spreadsheet may run


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nested folder: images, a broken JPEG, a text file and hidden files."""
    folder = tmp_path_factory.mktemp("holiday")
    (folder / "day 2").mkdir()
    (folder / ".thumbnails").mkdir()
    rng = np.random.default_rng(11)
    for i, name in enumerate(
        ["a.jpg", "b.png", "day 2/c.JPG", "day 2/d.webp", ".thumbnails/x.jpg"]
    ):
        Image.fromarray(rng.integers(0, 256, (24 + i, 36, 3), dtype=np.uint8)).save(folder / name)
    (folder / "day 2" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (folder / "notes.txt").write_text("not an image")
    (folder / "._a.jpg").write_bytes(b"macOS resource fork")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def classes_of(model_path: Path) -> list[str]:
    props = {p.key: p.value for p in onnx.load(model_path).metadata_props}
    return json.loads(props["pigeonhole.classes"])


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{PROG}: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_a_folder_becomes_one_row_per_image_file(
    photos: Path, tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "predictions.csv"
    code = main([str(photos), "--model", str(tiny_model_path), "--out", str(out), "--workers", "0"])
    assert code == 0
    rows = read_csv(out)
    names = [Path(row["path"]).relative_to(photos).as_posix() for row in rows]
    assert names == ["a.jpg", "b.png", "day 2/broken.jpg", "day 2/c.JPG", "day 2/d.webp"]
    classes = classes_of(tiny_model_path)
    for row in rows:
        if row["path"].endswith("broken.jpg"):
            assert (row["prediction"], row["confidence"], row["top_k"]) == ("", "", "")
            assert row["error"]
            continue
        assert row["error"] == "" and row["prediction"] in classes
        assert 0.0 <= float(row["confidence"]) <= 1.0
        top = parse_topk(row["top_k"])
        assert top[0][0] == row["prediction"] and len(top) == min(3, len(classes))
    stderr = capsys.readouterr().err
    assert "wrote" in stderr and "4 classified, 1 unreadable" in stderr
    assert not list(tmp_path.glob(".*partial"))


def test_files_and_folders_mix_and_each_file_appears_once(
    photos: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.csv"
    args = [str(photos / "a.jpg"), str(photos), str(photos / "notes.txt")]
    assert (
        main(
            [
                *args,
                "--model",
                str(tiny_model_path),
                "--out",
                str(out),
                "--batch-size",
                "2",
                "--top-k",
                "1",
                "--provider",
                "cpu",
            ]
        )
        == 0
    )
    rows = read_csv(out)
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)) == 6
    assert paths[0] == str(photos / "a.jpg")
    notes = next(row for row in rows if row["path"].endswith("notes.txt"))
    assert notes["error"] and not notes["prediction"]
    assert all(";" not in row["top_k"] for row in rows)


def test_class_names_that_look_like_formulas_are_written_as_text(
    photos: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    """A model from someone else names its classes '=cmd|...': the CSV must not run them."""
    hostile = ['=cmd|" /C calc"!A0', "@SUM(1+1)", "-1;+2"]
    model = onnx.load(tiny_model_path)
    for prop in model.metadata_props:
        if prop.key == "pigeonhole.classes":
            prop.value = json.dumps(hostile)
    onnx.save(model, tmp_path / "hostile.onnx")
    out = tmp_path / "p.csv"
    argv = [str(photos), "--model", str(tmp_path / "hostile.onnx"), "--out", str(out)]
    assert main([*argv, "--workers", "0"]) == 0
    with out.open(newline="", encoding="utf-8") as stream:
        cells = [cell for row in list(csv.reader(stream))[1:] for cell in row]
    assert cells and not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    rows = read_csv(out)
    predicted = [row for row in rows if row["prediction"]]
    assert predicted and all(
        parse_topk(row["top_k"])[0][0] in hostile and len(parse_topk(row["top_k"])) == 3
        for row in predicted
    )


def test_missing_folder_is_one_line_exit_2_and_writes_nothing(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    code = main([str(tmp_path / "nope"), "--model", str(tiny_model_path), "--out", str(out)])
    assert code == 2
    assert "not found" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"definitely not onnx" * 50])
def test_bad_model_is_one_line_exit_2_and_writes_nothing(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(content)
    out = tmp_path / "p.csv"
    assert main([str(photos), "--model", str(model), "--out", str(out)]) == 2
    assert "model.onnx" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_output_in_a_missing_folder_is_refused(
    photos: Path, tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no such folder" / "p.csv"
    assert main([str(photos), "--model", str(tiny_model_path), "--out", str(out)]) == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)
    assert main([str(photos), "--model", str(tiny_model_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "extra", [["--batch-size", "0"], ["--workers", "-1"], ["--provider", "tpu"]]
)
def test_bad_options_exit_2(photos: Path, tiny_model_path: Path, extra: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([str(photos), "--model", str(tiny_model_path), "--out", "p.csv", *extra])
    assert caught.value.code == 2


def test_as_a_command_with_worker_processes_and_without_tensorflow(
    photos: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    """The real command line: worker processes, progress on stderr, no TensorFlow imported."""
    out = tmp_path / "p.csv"
    argv = [str(photos), "--model", str(tiny_model_path), "--out", str(out)]
    argv += ["--workers", "2", "--batch-size", "2"]
    script = textwrap.dedent(
        f"""
        import sys
        from desktop.cli_classify import main
        code = main({argv!r})
        assert "tensorflow" not in sys.modules, "the headless classify imported TensorFlow"
        sys.exit(code)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "classifying 5 images" in done.stderr and "5/5 images" in done.stderr
    assert len(read_csv(out)) == 5

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop",
            "classify",
            str(photos),
            "--model",
            str(photos / "a.jpg"),
            "--out",
            str(tmp_path / "q.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert bad.returncode == 2
    one_error_line(bad.stderr)
