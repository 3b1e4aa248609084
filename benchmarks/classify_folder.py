"""Classify a folder: how close the headless classify comes to the machine's limit (issue 6).

Four measurements in one run, on the same generated photos (12 MP and 1 MP JPEGs) and model:
  1. naive        PIL full decode + resize + one ``session.run`` per image, one process;
  2. decode-only  our decode over all cores (worker processes), no model;
  3. model-only   ONNX Runtime on pre-decoded arrays, batched, all cores;
  4. ours         ``python -m desktop classify`` end to end (model check and session included).
The combined limit 1 / (1/decode + 1/model) is what a perfect pipeline could reach when decoding
and inference share the same cores. Peak memory is the resident set of the classify process and
its workers together, sampled while "ours" runs.

    python -m benchmarks.classify_folder --count-12mp 24 --count-1mp 96
    python -m benchmarks.classify_folder --model run/model.onnx --provider cuda

Without ``--model`` the default model (efficientnet_lite0, 224 px) is trained once for one epoch
on a few generated images by ``python -m trainer train`` in a child process and cached: its speed,
not its accuracy, is what is measured.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import psutil
from PIL import Image, ImageDraw

from benchmarks.common import write_table
from desktop.cli_classify import main as classify_main
from desktop.core.classify import cpu_count, decode_chunk, default_batch_size
from desktop.core.inference import open_session
from desktop.core.model_file import check_model_file
from desktop.core.paths import cache_dir
from tests.camera_jpeg import save_camera_jpeg
from trainer.contract import INPUT_NAME

SECTION = "Classify a folder (issue 6)"
CACHE = cache_dir() / "benchmarks"
SIZES = {"12 MP": (4000, 3000), "1 MP": (1152, 864)}
CHUNK = 4


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Gradients, shapes and sensor-like noise: JPEG sizes and decode costs like real photos."""
    rng = np.random.default_rng(seed)
    small_w, small_h = max(8, width // 8), max(8, height // 8)
    y, x = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    phase = rng.uniform(0, 255, 3)
    base = np.stack(
        [x / small_w * 255 + phase[0], y / small_h * 255 + phase[1], (x + y) / 4 + phase[2]], -1
    )
    image = Image.fromarray((base % 256).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, small_w)), int(rng.integers(0, small_h))
        w, h = int(rng.integers(2, small_w // 3)), int(rng.integers(2, small_h // 3))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x0 + w, y0 + h), fill)
    full = np.asarray(image.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(full + noise, 0, 255).astype(np.uint8))


def _write_photo(args: tuple[Path, int, int, int, bool]) -> None:
    path, width, height, seed, preview = args
    partial = path.with_suffix(".partial")
    photo = photo_like(width, height, seed)
    if preview:
        save_camera_jpeg(photo, partial, quality=90)
    else:
        photo.save(partial, format="JPEG", quality=90)
    partial.replace(path)


def ensure_photos(
    folder: Path, size: tuple[int, int], count: int, preview: bool = False
) -> list[Path]:
    """``count`` deterministic JPEGs in ``folder``, made once and reused by later runs.

    With ``preview`` they carry the 160 px EXIF preview that cameras and phones embed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{i:05d}.jpg" for i in range(count)]
    missing = [(p, *size, i, preview) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"generating {len(missing)} photos in {folder}", file=sys.stderr)
        with ProcessPoolExecutor(cpu_count()) as pool:
            list(pool.map(_write_photo, missing))
    return paths


def ensure_default_model() -> Path:
    """The default backbone at 224 px trained briefly once and cached: a stand-in for speed, not
    accuracy. The size is given: the trainer's own default follows the data (96 px images here)."""
    run = CACHE / "default_model_224"
    model = run / "model.onnx"
    if model.exists():
        return model
    from tests.imagegen import write_dataset

    data = CACHE / "default_model_data"
    write_dataset(data, per_class=6, side=96)
    print("training the default model once (one epoch)...", file=sys.stderr)
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-m", "trainer", "train", str(data), "--out", str(run), "--epochs", "1",
         "--batch-size", "8", "--image-size", "224", "--fine-tune-epochs", "0"],
        check=True, env=env,
    )  # fmt: skip
    return model


def warm_page_cache(paths: Sequence[Path]) -> None:
    """Read every file once so all four measurements start from the same (cached) disk state."""
    for path in paths:
        path.read_bytes()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def naive(paths: Sequence[Path], model: Path, size: int, providers: list[str]) -> float:
    """What a first attempt does: full decode, resize, one model call per image."""
    session = ort.InferenceSession(str(model), providers=providers)

    def run() -> None:
        for path in paths:
            with Image.open(path) as img:
                rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            session.run(None, {INPUT_NAME: np.asarray(rgb, np.float32)[None]})

    return rate(len(paths), timed(run))


def decode_only(paths: Sequence[Path], size: int, workers: int) -> tuple[float, np.ndarray]:
    """Our decode over ``workers`` processes; also returns the pixels for model-only."""
    chunks = [[os.fspath(p) for p in paths[i : i + CHUNK]] for i in range(0, len(paths), CHUNK)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(decode_chunk, chunks[:workers], [size] * workers))  # start the workers
        start = time.perf_counter()
        decoded = list(pool.map(decode_chunk, chunks, [size] * len(chunks)))
        seconds = time.perf_counter() - start
    return rate(len(paths), seconds), np.concatenate([d.pixels for d in decoded])


def model_only(model: Path, pixels: np.ndarray, batch_size: int | None, provider: str) -> float:
    """ONNX Runtime alone on pre-decoded pixels, with the cores to itself."""
    session = open_session(check_model_file(model), provider, spinning=True)  # type: ignore[arg-type]
    batch_size = batch_size or default_batch_size(session)
    session.run(pixels[:batch_size])  # first call allocates and optimises

    def run() -> None:
        for start in range(0, len(pixels), batch_size):
            session.run(pixels[start : start + batch_size])

    return rate(len(pixels), timed(run))


def peak_memory(process: subprocess.Popen[bytes]) -> int:
    """Peak resident memory of ``process`` plus its workers, sampled every 20 ms until it exits."""
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # exited between poll() and here
            break
        for member in tree:
            try:
                total += member.memory_info().rss
            except psutil.Error:  # a worker that just exited
                continue
        peak = max(peak, total)
        time.sleep(0.02)
    return peak


def classify_argv(folder: Path, model: Path, out: Path, args: argparse.Namespace) -> list[str]:
    argv = [str(folder), "--model", str(model), "--out", str(out), "--provider", args.provider,
            "--workers", str(args.workers)]  # fmt: skip
    return argv + (["--batch-size", str(args.batch_size)] if args.batch_size else [])


def ours(folder: Path, model: Path, count: int, args: argparse.Namespace) -> float:
    """The headless classify in this process, exactly as the command line runs it."""
    out = Path(tempfile.mkdtemp()) / "predictions.csv"
    seconds = timed(lambda: classify_main(classify_argv(folder, model, out, args)))
    rows = out.read_text().count("\n") - 1
    if rows != count:
        raise SystemExit(f"classify wrote {rows} rows for {count} images")
    return rate(count, seconds)


def ours_command(
    folder: Path, model: Path, count: int, args: argparse.Namespace
) -> tuple[float, int]:
    """``python -m desktop classify`` as a fresh process: rate with start-up, and peak memory."""
    out = Path(tempfile.mkdtemp()) / "predictions.csv"
    command = [
        sys.executable,
        "-m",
        "desktop.cli_classify",
        *classify_argv(folder, model, out, args),
    ]
    seconds, peak, _ = measured(command)
    return rate(count, seconds), peak


def measured(command: list[str]) -> tuple[float, int, str]:
    """Seconds, peak resident bytes (process + workers) and stdout of ``command``; fails loudly.

    Output goes to files, not pipes: nobody reads a pipe while ``peak_memory`` samples, and a
    child that filled one would block forever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        peak = peak_memory(process)
        seconds = time.perf_counter() - start
        if process.wait() != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{shlex.join(command)} failed:\n{tail}")
        out.seek(0)
        return seconds, peak, out.read().decode(errors="replace")


def measure(label: str, count: int, model: Path, args: argparse.Namespace) -> dict[str, object]:
    width, height = SIZES[label]
    folder = CACHE / f"photos_{width}x{height}_{count}"
    paths = ensure_photos(folder, (width, height), count)
    info = check_model_file(model)
    warm_page_cache(paths)
    command_rate, peak = ours_command(folder, model, count, args)
    ours_rate = ours(folder, model, count, args)
    report = open_session(info, args.provider).report
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if report.name != "CPU"
        else ["CPUExecutionProvider"]
    )
    naive_rate = naive(paths, model, info.input_size, providers)
    decode_rate, pixels = decode_only(paths, info.input_size, args.workers)
    model_rate = model_only(model, pixels, args.batch_size, args.provider)
    limit = 1 / (1 / decode_rate + 1 / model_rate)
    print(f"{label}: ours {ours_rate:.1f}/s, limit {limit:.1f}/s", file=sys.stderr)
    return {
        "photos": label,
        "images": count,
        "runs on": str(report),
        "naive img/s": naive_rate,
        "decode-only img/s": decode_rate,
        "model-only img/s": model_rate,
        "combined limit img/s": limit,
        "ours img/s": ours_rate,
        "ours as a new process img/s": command_rate,
        "ours / naive": ours_rate / naive_rate,
        "ours / limit": ours_rate / limit,
        "peak RSS MB (process + workers)": round(peak / 2**20),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count-12mp", type=int, default=200)
    parser.add_argument("--count-1mp", type=int, default=1000)
    parser.add_argument("--model", type=Path, help="default: the default backbone, trained once")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--batch-size", type=int, help="default: the classify default")
    parser.add_argument("--workers", type=int, default=cpu_count())
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model = args.model or ensure_default_model()
    info = check_model_file(model)
    rows = [
        measure("12 MP", args.count_12mp, model, args),
        measure("1 MP", args.count_1mp, model, args),
    ]
    notes = (
        f"Model: {info.info.backbone} at {info.input_size} px ({len(info.classes)} classes), "
        f"batch size {args.batch_size or 'default (8 on CPU, 32 on GPU)'}, {args.workers} "
        "decoding workers. Photos: generated "
        "gradients, shapes and noise saved as JPEG quality 90 (about 3.7 MB at 12 MP). "
        "Targets on 2 cores: ours >= 10 x naive at 12 MP; ours >= 0.85 x the combined limit "
        "1 / (1/decode-only + 1/model-only). 'ours' runs inside the benchmark's process (the "
        "1 MP run finds the decoding workers' fork server already started by the 12 MP run, "
        "as the window's second classify does); 'as a new process' includes interpreter "
        "start-up. Peak RSS: the fresh classify process plus its workers. Why 10 x naive is out "
        "of reach here: decode-only, our decoder alone on both cores, is itself only ~7 x naive "
        "at 12 MP, because scaled DCT skips most of the IDCT but not the entropy decoding of the "
        "whole ~3.7 MB file (~40 ms of CPU per photo; simplejpeg with fast DCT was no faster)."
    )
    for row in rows:
        print(row)
    if not args.no_write:
        print(f"wrote {write_table(SECTION, rows, notes=notes)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
