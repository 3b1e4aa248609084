"""``--engine ray`` on a real local Ray cluster (2 CPUs): the local engine's rows, resumable shards.

One cluster for the module (starting Ray costs seconds); each test runs the real CLI in-process,
which joins that cluster. Skipped with the reason when the ``cluster`` extra is not installed.
"""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import onnx
import pytest

from desktop.cli_classify import main
from desktop.cluster.connect import workers_at_our_priority
from tests.badimages import good_controls, make_bad_corpus

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (cluster extra)")

pytestmark = [pytest.mark.slow, pytest.mark.ray]
SHARD = 8


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of this machine with 2 CPUs, shared by the module's tests."""
    workers_at_our_priority()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The corpus of awkward files plus good controls, and a named non-image file beside it."""
    root = tmp_path_factory.mktemp("messy")
    make_bad_corpus(root / "corpus")
    good_controls(root / "corpus" / "controls")
    notes = root / "notes.txt"
    notes.write_text("not an image")
    return root / "corpus", notes


@pytest.fixture(scope="module")
def local_csv(messy_folder, tiny_model_path: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "local.csv"
    folder, notes = messy_folder
    assert main([str(folder), str(notes), "--model", str(tiny_model_path), "--out", str(out)]) == 0
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def ray_argv(messy_folder, model: Path, out: Path, *extra: str) -> list[str]:
    folder, notes = messy_folder
    return [str(folder), str(notes), "--model", str(model), "--out", str(out), "--engine", "ray",
            "--shard-size", str(SHARD), *extra]  # fmt: skip


def test_ray_csv_is_the_local_engines_csv(
    ray_cluster, messy_folder, tiny_model_path: Path, local_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "on_ray.csv"
    assert main(ray_argv(messy_folder, tiny_model_path, out)) == 0
    expected = rows(local_csv)
    assert any(r["error"] for r in expected) and any(r["prediction"] for r in expected)
    assert any(r["path"].endswith("notes.txt") and r["error"] for r in expected)
    assert out.read_bytes() == local_csv.read_bytes()
    assert not out.with_name("on_ray.csv.shards").exists()


def read_shards(folder: Path) -> list[dict]:
    tables = [pq.read_table(path) for path in sorted(folder.glob("part-*.parquet"))]
    return [row for table in tables for row in table.to_pylist()]


@pytest.fixture(scope="module")
def parquet_out(ray_cluster, messy_folder, tiny_model_path: Path, tmp_path_factory) -> Path:
    """The Ray engine's Parquet shards (with embeddings) for the messy folder: read-only."""
    out = tmp_path_factory.mktemp("ray") / "results"
    assert main(ray_argv(messy_folder, tiny_model_path, out, "--embedding")) == 0
    return out


def test_parquet_shards_hold_the_same_predictions_errors_and_embeddings(
    parquet_out: Path, local_csv: Path
) -> None:
    expected = rows(local_csv)
    got = read_shards(parquet_out)
    assert len(list(parquet_out.glob("part-*.parquet"))) == -(-len(expected) // SHARD)
    assert [r["path"] for r in got] == [r["path"] for r in expected]
    assert [r["error"] for r in got] == [r["error"] for r in expected]
    assert [r["prediction"] or "" for r in got] == [r["prediction"] for r in expected]
    assert [r["top_k"] or "" for r in got] == [r["top_k"] for r in expected]
    for row in got:
        if row["error"]:
            assert row["confidence"] is None and row["embedding"] is None
        else:
            assert len(row["embedding"]) > 0 and 0 < row["confidence"] <= 1


def test_a_rerun_skips_the_shards_already_written(
    parquet_out: Path, messy_folder, tiny_model_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    shutil.copytree(parquet_out, out)
    shards = sorted(out.glob("part-*.parquet"))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    first_rows = read_shards(out)
    (out / "part-00001.parquet").unlink()
    (out / "part-00002.parquet").write_bytes(b"killed while writing")
    capsys.readouterr()

    assert main(ray_argv(messy_folder, tiny_model_path, out, "--embedding")) == 0

    said = capsys.readouterr().err
    assert f"{len(shards) - 2} of {len(shards)} shards already written" in said
    for path in sorted(out.glob("part-*.parquet")):
        if path.name in ("part-00001.parquet", "part-00002.parquet"):
            assert path.stat().st_mtime_ns != before[path.name][0]
        else:
            assert (path.stat().st_mtime_ns, path.read_bytes()) == before[path.name]
    assert read_shards(out) == first_rows


def test_shards_of_another_model_or_other_files_are_not_done(
    parquet_out: Path, messy_folder, tiny_model_path: Path, tmp_path: Path
) -> None:
    from desktop.cli_classify import find_images
    from desktop.cluster.shards import is_done, plan_shards
    from desktop.core.cluster_results import file_sha256

    files, unusable = find_images([str(p) for p in messy_folder])
    paths = [str(p) for p in files] + [item.what for item in unusable]
    shards = plan_shards(paths, SHARD)
    model_sha = file_sha256(tiny_model_path)
    assert all(is_done(parquet_out, shard, model_sha) for shard in shards)
    retrained = onnx.load(tiny_model_path)
    retrained.doc_string = "another version of the model"
    onnx.save_model(retrained, tmp_path / "other.onnx")
    other_sha = file_sha256(tmp_path / "other.onnx")
    assert not any(is_done(parquet_out, shard, other_sha) for shard in shards)
    shifted = plan_shards(["/a/new/photo.jpg", *paths], SHARD)
    assert not any(is_done(parquet_out, shard, model_sha) for shard in shifted)


def test_workers_of_a_cluster_we_start_run_at_our_priority(ray_cluster) -> None:
    """Ray would run them 15 nice levels below us, starved next to a shared machine's other jobs."""
    import os

    @ray.remote(num_cpus=1)
    def niceness() -> int:
        return os.nice(0)

    assert ray.get(niceness.remote()) == os.nice(0)
