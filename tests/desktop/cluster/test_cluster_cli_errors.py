"""The cluster engine's input mistakes are one line and exit code 2, and Ray stays out otherwise.

None of these start a Ray cluster, so they run with the fast tests.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.cli_classify import EXIT_USAGE, PROG, main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a.jpg", "b.png"):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / name)
    return folder


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{PROG}: error: ")
    return lines[0]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip


def test_without_the_extra_ray_is_one_line_and_exit_code_2(
    photos: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    result = run_python(
        f"""
        import sys
        sys.modules["ray"] = None  # what Python does when the package is not installed
        from desktop.cli_classify import main
        sys.exit(main([{str(photos)!r}, "--model", {str(tiny_model_path)!r},
                       "--out", {str(out)!r}, "--engine", "ray"]))
        """
    )
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "pip install 'pigeonhole[cluster]'" in one_error_line(result.stderr)
    assert not out.exists()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("address", ["nonsense", "http://head:8265", "ray://"])
def test_a_malformed_address_is_one_line_and_exit_code_2(
    address: str, photos: Path, tiny_model_path: Path, tmp_path: Path, capsys
) -> None:
    argv = [str(photos), "--model", str(tiny_model_path), "--out", str(tmp_path / "o.csv"),
            "--engine", "ray", "--address", address]  # fmt: skip
    assert main(argv) == EXIT_USAGE
    assert "is not a Ray address" in one_error_line(capsys.readouterr().err)


def test_an_address_nobody_answers_at_fails_at_once(
    photos: Path, tiny_model_path: Path, tmp_path: Path, capsys
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    address = f"ray://127.0.0.1:{closed_port()}"
    argv = [str(photos), "--model", str(tiny_model_path), "--out", str(tmp_path / "o.csv"),
            "--engine", "ray", "--address", address]  # fmt: skip
    assert main(argv) == EXIT_USAGE
    assert f"nothing answers at {address}" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.shards").exists()


@pytest.mark.parametrize(
    "extra", [["--shard-size", "5"], ["--address", "auto"], ["--gpus-per-worker", "1"]]
)
def test_the_local_engine_refuses_cluster_options(
    extra: list[str], photos: Path, tiny_model_path: Path, tmp_path: Path, capsys
) -> None:
    argv = [str(photos), "--model", str(tiny_model_path), "--out", str(tmp_path / "o.csv")]
    assert main([*argv, *extra]) == EXIT_USAGE
    assert "only work with --engine ray" in one_error_line(capsys.readouterr().err)


def test_embeddings_need_parquet(photos: Path, tiny_model_path: Path, tmp_path: Path, capsys):
    argv = [str(photos), "--model", str(tiny_model_path), "--out", str(tmp_path / "o.csv"),
            "--engine", "ray", "--embedding"]  # fmt: skip
    assert main(argv) == EXIT_USAGE
    assert "--embedding needs Parquet" in one_error_line(capsys.readouterr().err)


def test_the_app_and_the_local_engine_never_import_ray(
    photos: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    result = run_python(
        f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from desktop.cli_classify import main
        assert main([{str(photos)!r}, "--model", {str(tiny_model_path)!r},
                     "--out", {str(out)!r}, "--workers", "0"]) == 0
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from desktop.ui.main_window import MainWindow
        import desktop.app, desktop.ui.actions
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "ray")
        print(loaded)
        sys.exit(1 if loaded else 0)
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.exists()
