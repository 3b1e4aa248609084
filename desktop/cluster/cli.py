"""``python -m desktop classify … --engine ray``: the batch on a Ray cluster.

The driver (this process) lists the files with the window's scanner, exactly as the local engine
does, and ships the model's bytes to the workers; the images must be readable at the same paths
on every worker (docs/cluster.md). Results stream back to the driver, which writes each shard as
soon as all its rows are in. With ``--out`` a ``.csv`` file the shards go to a folder beside it
(``OUT.shards``), are assembled into one CSV with the local engine's columns, then removed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from desktop.cli_classify import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    InputError,
    check_output,
    find_images,
)
from desktop.cluster.connect import ClusterError, connect
from desktop.core.model_file import ModelFile, ModelFileError, check_model_file
from desktop.core.records import Skipped

_WRITE_ERRORS: tuple[type[BaseException], ...] = (OSError,)
"""Writing a shard or the CSV failed (disk full, permissions); a worker's failure is a RayError."""


def classify_on_ray(args: argparse.Namespace) -> int:
    """Run the whole batch; returns the exit code like the local engine."""
    try:
        target = _target(args)
        files, unusable = find_images(args.inputs)
        model = check_model_file(args.model)
        ray, joined = connect(args.address)
    except (InputError, ModelFileError, ClusterError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _classify(ray, args, target, files, unusable, model)
    finally:
        if joined:
            ray.shutdown()


def _classify(
    ray: Any,
    args: argparse.Namespace,
    target: _Target,
    files: list[Path],
    unusable: list[Skipped],
    model: ModelFile,
) -> int:
    from desktop.cluster.pipeline import WorkerSpec
    from desktop.cluster.shards import is_done, plan_shards, write_csv
    from desktop.core.cluster_results import file_sha256

    paths = [str(p) for p in files] + [item.what for item in unusable]
    reasons = [""] * len(files) + [item.reason for item in unusable]
    shards = plan_shards(paths, args.shard_size)
    folder = target.shards
    folder.mkdir(parents=True, exist_ok=True)
    model_sha = file_sha256(model.path)
    todo = [shard for shard in shards if not is_done(folder, shard, model_sha)]
    spec = WorkerSpec(
        num_cpus=args.num_cpus_per_worker,
        num_gpus=args.gpus_per_worker,
        workers=_worker_count(ray, args.num_cpus_per_worker, args.gpus_per_worker),
        batch_size=args.batch_size or (32 if args.gpus_per_worker else 8),
        top_k=args.top_k,
        embedding=args.embedding,
    )
    print(
        f"classifying {len(paths)} images with {model.path.name} on Ray: {spec.workers} "
        f"worker(s) of {spec.num_cpus} CPU and {spec.num_gpus:g} GPU; "
        f"{len(shards) - len(todo)} of {len(shards)} shards already written in {folder}",
        file=sys.stderr,
    )
    try:
        counts = run_shards(
            ray, todo, paths, reasons, model, spec, folder, model_sha, args.shard_size
        )
        if target.csv is not None:
            write_csv(target.csv, folder, shards)
            shutil.rmtree(folder)
    except KeyboardInterrupt:
        print(f"\n{PROG}: cancelled; finished shards stay in {folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ray.exceptions.RayError, *_WRITE_ERRORS) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"\n{PROG}: error: {first}; finished shards stay in {folder}", file=sys.stderr)
        return EXIT_FAILED
    written = target.csv or folder
    print(
        f"wrote {written}: {counts[0]} classified, {counts[1]} unreadable"
        + (
            f" (plus {len(shards) - len(todo)} shards from before)"
            if len(todo) < len(shards)
            else ""
        ),
        file=sys.stderr,
    )
    return EXIT_OK


class _Target:
    """Where results go: a folder of shards, or a CSV assembled from a folder beside it."""

    def __init__(self, out: Path) -> None:
        self.csv = out if out.suffix.lower() == ".csv" else None
        self.shards = out.with_name(out.name + ".shards") if self.csv else out


def _target(args: argparse.Namespace) -> _Target:
    out: Path = args.out
    if out.suffix.lower() == ".csv":
        check_output(out)
        if args.embedding:
            raise InputError("--embedding needs Parquet: give --out a folder, not a .csv file")
    elif out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the Parquet shards or a .csv")
    elif not out.absolute().parent.is_dir():
        raise InputError(f"the folder for --out {out} does not exist")
    return _Target(out)


def _worker_count(ray: Any, cpus: int, gpus: float) -> int:
    """As many classifier actors as the cluster has room for (at least one)."""
    resources = ray.cluster_resources()
    if gpus > 0:
        return max(1, int(resources.get("GPU", 0) / gpus))
    return max(1, int(resources.get("CPU", 1) // cpus))


def run_shards(
    ray: Any,
    shards: list[Any],
    paths: list[str],
    reasons: list[str],
    model: Any,
    spec: Any,
    folder: Path,
    model_sha: str,
    shard_size: int,
) -> tuple[int, int]:
    """Classify the rows of ``shards`` on the cluster and write each shard once it is complete.

    Returns (classified, unreadable) over these shards.
    """
    if not shards:
        return 0, 0
    import pyarrow as pa

    from desktop.cluster.pipeline import build_dataset
    from desktop.cluster.shards import write_shard

    index = np.concatenate([np.arange(s.start, s.stop) for s in shards])
    rows = pa.table(
        {
            "index": pa.array(index, pa.int64()),
            "path": pa.array([paths[i] for i in index], pa.string()),
            "error": pa.array([reasons[i] for i in index], pa.string()),
        }
    )
    dataset = build_dataset(ray, rows, model.path, model.input_size, spec)
    by_number = {s.number: s for s in shards}
    pending: dict[int, list[dict[str, np.ndarray]]] = defaultdict(list)
    have: dict[int, int] = defaultdict(int)
    progress = _Progress(len(index))
    classified = unreadable = 0
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        numbers = batch["index"] // shard_size
        for number in np.unique(numbers):
            mask = numbers == number
            pending[number].append({key: value[mask] for key, value in batch.items()})
            have[number] += int(mask.sum())
            shard = by_number[int(number)]
            if have[number] == len(shard):
                parts = pending.pop(number)
                merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                write_shard(folder, shard, merged, model_sha, model.classes)
                failed = int(sum(bool(e) for e in merged["error"]))
                classified += len(shard) - failed
                unreadable += failed
                progress.show(classified + unreadable, unreadable, shard.name)
    return classified, unreadable


class _Progress:
    """One line per shard written, with the rate so far."""

    def __init__(self, total: int) -> None:
        self.total, self.started = total, time.monotonic()

    def show(self, done: int, unreadable: int, name: str) -> None:
        rate = done / max(time.monotonic() - self.started, 1e-9)
        print(
            f"{done}/{self.total} images ({unreadable} unreadable), {rate:.1f} images/s; "
            f"wrote {name}",
            file=sys.stderr,
        )
