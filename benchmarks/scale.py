"""When one machine is not enough (issue 19): the Ray engine against the local engine, and
MirroredStrategy against plain training, each in one run on this machine.

  1. local      ``python -m desktop classify`` (the process pool) on N generated 1 MP JPEGs;
  2. Ray        the same CLI, ``--engine ray``, on a local Ray cluster (``ray.init(num_cpus=2)``):
                ``ray.init`` and Ray Data's start-up (planning, actors, ONNX sessions) are
                shown apart from the images/s (a quarter-size run and a full run: the difference;
                both engines warmed up, their runs interleaved so they see the same load);
  3. training   the tiny dataset trained with ``--distribute none`` and with ``mirrored`` over two
                logical CPU devices (same global batch), both evaluated on every image;
  4. estimate   10 million images on N GPU nodes, on paper, from the measured per-core decode cost.

    python -m benchmarks.scale --count 2000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.classify_folder import (
    CACHE,
    SIZES,
    decode_only,
    ensure_default_model,
    ensure_photos,
    warm_page_cache,
)
from benchmarks.common import load_average, write_table
from desktop.cli_classify import main as classify
from desktop.cluster.connect import workers_at_our_priority
from desktop.core.model_file import check_model_file

SECTION = "Classify on Ray and train with MirroredStrategy (issue 19)"
ROOT = Path(__file__).resolve().parent.parent
TWO_CPU_DEVICES = """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from trainer.__main__ import main
    sys.exit(main(sys.argv[1:]))
"""


def timed_classify(argv: list[str]) -> float:
    """Seconds for one in-process ``python -m desktop classify`` run (its chatter kept quiet)."""
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()) as said:
        status = classify(argv)
    if status != 0:
        raise SystemExit(f"classify {' '.join(argv)} failed:\n{said.getvalue()[-2000:]}")
    return time.perf_counter() - started


@dataclass
class Rate:
    """An engine's speed once going, and its fixed cost per run, from a small and a full run.

    Two runs (a quarter of the images, then all) give rate = extra images / extra seconds and
    start-up = full seconds - images / rate, whatever the engine's granularity of results.
    """

    small: float
    full: float
    images: int

    @property
    def per_second(self) -> float:
        return (self.images - self.images // 4) / max(self.full - self.small, 1e-9)

    @property
    def startup(self) -> float:
        return max(0.0, self.full - self.images / self.per_second)


def engines(folder: Path, paths: list[Path], model: Path, work: Path) -> dict[str, object]:
    """Both engines on the same images, warmed up, their runs interleaved (see ``runs``)."""
    import ray

    local_csv, ray_csv = work / "local.csv", work / "ray.csv"
    count = len(paths)
    started = time.perf_counter()
    workers_at_our_priority()  # as the CLI's own one-machine cluster does
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    init_s = time.perf_counter() - started
    argv = {
        "local": ["--model", str(model)],
        "ray": ["--model", str(model), "--engine", "ray", "--shard-size", str(max(1, count // 20))],
    }
    try:
        seconds = runs(folder, paths, argv, {"local": local_csv, "ray": ray_csv})
    finally:
        ray.shutdown()
    local = Rate(*seconds["local"], count)
    on_ray = Rate(*seconds["ray"], count)
    return {
        "images": count,
        "local img/s": local.per_second,
        "ray img/s": on_ray.per_second,
        "ray / local": on_ray.per_second / local.per_second,
        "local end to end img/s": count / local.full,
        "ray end to end img/s": count / on_ray.full,
        "ray.init s": init_s,
        "local start-up s": local.startup,
        "Ray Data start-up s": on_ray.startup,
        "identical CSV": local_csv.read_bytes() == ray_csv.read_bytes(),
    }


def runs(
    folder: Path, paths: list[Path], argv: dict[str, list[str]], out: dict[str, Path]
) -> dict[str, tuple[float, float]]:
    """Seconds of each engine on a quarter of the images and on all of them.

    Each engine first does a short warm-up run, so that what the first run of a session pays
    once (the local decoders' fork server; Ray Data's own helper actors) falls in neither the
    quarter nor the full run: otherwise the two runs' fixed costs differ and the difference of
    their seconds is not the engine's speed. The four timed runs go local, Ray, Ray, local, so a
    load that drifts during the benchmark weighs on both engines alike.
    """
    quarter = [str(p) for p in paths[: len(paths) // 4]]
    warm_up = [str(p) for p in paths[:32]]
    for engine in argv:
        warm_out = str(out[engine].with_suffix(".warm.csv"))
        warm_s = timed_classify([*warm_up, *argv[engine], "--out", warm_out])
        print(f"{engine} warm-up: {len(warm_up)} images in {warm_s:.1f} s", file=sys.stderr)
    small: dict[str, float] = {}
    full: dict[str, float] = {}
    for engine in ("local", "ray"):
        small_out = str(out[engine].with_suffix(".small.csv"))
        small[engine] = timed_classify([*quarter, *argv[engine], "--out", small_out])
        print(f"{engine}: {len(quarter)} images in {small[engine]:.1f} s", file=sys.stderr)
    for engine in ("ray", "local"):
        full[engine] = timed_classify([str(folder), *argv[engine], "--out", str(out[engine])])
        print(f"{engine}: {len(paths)} images in {full[engine]:.1f} s", file=sys.stderr)
    return {engine: (small[engine], full[engine]) for engine in argv}


def train(data: Path, out: Path, mirrored: bool) -> dict[str, float]:
    """Train the tiny recipe; accuracy on the test split and on every image."""
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    common = ["train", str(data), "--out", str(out), "--backbone", "small_cnn",
              "--image-size", "32", "--epochs", "8"]  # fmt: skip
    if mirrored:
        command = [sys.executable, "-c", textwrap.dedent(TWO_CPU_DEVICES), *common,
                   "--batch-size", "8", "--distribute", "mirrored"]  # fmt: skip
    else:
        command = [sys.executable, "-m", "trainer", *common, "--batch-size", "16"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, capture_output=True)
    seconds = time.perf_counter() - started
    everything = out.parent / f"{out.name}-all.json"
    subprocess.run(
        [sys.executable, "-m", "trainer", "evaluate", str(out / "model.onnx"), str(data),
         "--out", str(everything)],
        check=True, env=env, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    return {
        "test": json.loads((out / "report.json").read_text())["accuracy"],
        "all": json.loads(everything.read_text())["accuracy"],
        "seconds": seconds,
    }


def trainings(work: Path) -> dict[str, object]:
    from tests.imagegen import write_dataset

    data = work / "tiny"
    write_dataset(data, per_class=20, side=32)
    plain = train(data, work / "plain", mirrored=False)
    mirrored = train(data, work / "mirrored", mirrored=True)
    return {
        "plain accuracy (test / all)": f"{plain['test']:.3f} / {plain['all']:.3f}",
        "mirrored accuracy (test / all)": f"{mirrored['test']:.3f} / {mirrored['all']:.3f}",
        "difference (all)": round(mirrored["all"] - plain["all"], 4),
        "plain s": plain["seconds"],
        "mirrored s": mirrored["seconds"],
    }


def estimate(decode_per_core: float, nodes: Sequence[int], cores: int = 32) -> str:
    """Paper hours for 10 M images on GPU nodes whose CPUs decode while the GPUs infer."""
    lines = []
    for n in nodes:
        rate = decode_per_core * cores * n * 0.85
        lines.append(f"{n} node(s): ~{10_000_000 / rate / 3600:.1f} h at ~{rate:,.0f} img/s")
    return "; ".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="1 MP JPEGs to classify")
    parser.add_argument("--model", type=Path, help="default: the default backbone, trained once")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    args = parser.parse_args(argv)
    model = args.model or ensure_default_model()
    width, height = SIZES["1 MP"]
    folder = CACHE / f"photos_{width}x{height}_{args.count}"
    paths = ensure_photos(folder, (width, height), args.count)
    warm_page_cache(paths)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        row = engines(folder, paths, model, work)
        decode_rate, _ = decode_only(paths[:200], check_model_file(model).input_size, 1)
        row["decode img/s per core"] = decode_rate
        print(json.dumps(row, default=str), file=sys.stderr)
        training = trainings(work)
    print(json.dumps(training), file=sys.stderr)
    notes = f"""
Model: {model.name} ({check_model_file(model).info.backbone}, {check_model_file(model).input_size}
px). Local: the default process pool (one decoder per core). Ray: one classifier actor per CPU
(`--num-cpus-per-worker 1`), decode fused into the actor, results streamed to the driver and
written as Parquet shards (20 of them), then assembled into the same CSV. `ray.init` (starting the
cluster) comes first and is shown apart; the cluster then stays up, idle, during the local runs
too. Its workers run at the benchmark's own CPU priority, as those of the CLI's one-machine
cluster do (Ray's default lowers them by 15 `nice` levels: next to this shared machine's other
jobs that left Ray 0.71 of the local engine's speed in a run of 2026-12-02 with a 96 px model).
Each actor decodes the next batch in a thread while ONNX Runtime runs the current one, as the
local engine's decoders work beside its session (one after the other, 0.76 in that setting; with
the overlap, 1.03). Each engine does a 32-image warm-up run, then runs on a quarter of the images
and on all of them, in the order local, Ray, Ray, local (so both see the same load): images/s =
the extra images / the extra seconds (the engine once it is going), and start-up = the full
run's seconds less what that rate explains (for Ray: planning, starting the actors, opening
their ONNX sessions; paid once per run). Load average at the end: {load_average()}.

Training (`--distribute mirrored` over two logical CPU devices, batch 8 per replica, against
`--distribute none` at batch 16: the same global batch), small_cnn on the tiny dataset (60 images):
plain {training["plain accuracy (test / all)"]}, mirrored
{training["mirrored accuracy (test / all)"]} (test split / every image); difference on every
image {training["difference (all)"]:+.3f} (target within ±0.01); {training["plain s"]:.0f} s
against {training["mirrored s"]:.0f} s.

Paper estimate, 10 million 1 MP JPEGs on N GPU nodes of 32 cores: a T4-class GPU runs
EfficientNet-Lite0 at 224 px far faster than 32 cores decode JPEGs, so decode bounds a node:
measured {decode_rate:.0f} img/s per core here × 32 cores × 0.85 (the pipeline efficiency
measured in the "Classify a folder" section) gives {estimate(decode_rate, (1, 4, 16))}.
Ray Data pipelines CPU decode tasks and GPU actors in one streaming execution (Ray docs,
"End-to-end: Offline Batch Inference"); Anyscale's published comparison (Kamsetty, Liang and
Damji, "Offline Batch Inference: Comparing Ray, Apache Spark, and SageMaker", 2023) ran image
classification with Ray Data on GPU clusters up to terabyte-sized datasets, 2× faster than Spark
and 17× faster than SageMaker Batch Transform. No GPU was measured here: these hours are an
estimate, not a result.
"""
    if not args.no_write:
        write_table(SECTION, [row], notes=notes)
    print(
        f"ray / local {row['ray / local']:.2f}; identical {row['identical CSV']}", file=sys.stderr
    )
    return 0 if row["identical CSV"] else 1


if __name__ == "__main__":
    sys.exit(main())
