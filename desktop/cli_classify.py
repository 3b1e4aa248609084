"""``python -m desktop classify``: classify folders from a terminal, script or benchmark.

It runs the same pipeline as the window and writes one CSV row per image file found, readable or
not, so a tool downstream can tell "unreadable" from "missing". Input mistakes get one line on
stderr and exit code 2 before anything is written; the CSV appears only once it is complete.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from desktop.core.classify import ClassifyError, ClassifyOptions, PredictionBatch, classify_images
from desktop.core.csv_cells import neutralise
from desktop.core.csv_io import format_topk
from desktop.core.inference import PROVIDER_CHOICES, InferenceError, ModelRunner, open_session
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.records import Skipped
from desktop.core.scanner import scan_all
from trainer.file_names import PATH_BYTES_COLUMN, path_bytes_cell, shown
from trainer.files import replacing

PROG = "python -m desktop classify"
CSV_COLUMNS = ("path", "prediction", "confidence", "top_k", "error", PATH_BYTES_COLUMN)
"""``path`` is the name as shown; ``path_bytes`` its exact bytes when they are not UTF-8 (see
trainer/file_names.py), so a name like b"caf\xe9.png" gets its row instead of a traceback."""
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class InputError(Exception):
    """A command-line input we refuse before doing any work."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run with the arguments that follow ``classify``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.engine == "ray":
        from desktop.cluster.cli import classify_on_ray  # Ray is imported only for this engine

        return classify_on_ray(args)
    try:
        _refuse_cluster_options(args)
        files, unusable = find_images(args.inputs)
        out = check_output(args.out)
        model = check_model_file(args.model)
        session = open_session(model, args.provider)
    except (InputError, ModelFileError, InferenceError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"classifying {len(files)} images with {model.path.name} on {session.report}",
        file=sys.stderr,
    )
    options = ClassifyOptions(batch_size=args.batch_size, workers=args.workers, top_k=args.top_k)
    try:
        counts = write_predictions(session, files, out, options, unusable)
    except KeyboardInterrupt:
        print(f"\n{PROG}: cancelled; {out} was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ClassifyError, InferenceError, OSError) as exc:
        print(f"\n{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    classified, unreadable = counts
    print(f"wrote {out}: {classified} classified, {unreadable} unreadable", file=sys.stderr)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Classify image files with a Pigeonhole model; write a CSV."
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="FOLDER_OR_FILE",
        help="folders (searched recursively) or image files",
    )
    parser.add_argument("--model", required=True, type=Path, help="the .onnx model to use")
    parser.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        help="images per model call (default: 8 on CPU, 32 on GPU)",
    )
    parser.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        default="auto",
        help="where the model runs (default: GPU when it really works)",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="decoding processes (default: one per core; 0: none)",
    )
    parser.add_argument("--top-k", type=positive_int, default=3, help="classes listed in top_k")
    cluster = parser.add_argument_group("cluster engine (needs the 'cluster' extra)")
    cluster.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this machine's process pool (default); ray: a Ray cluster (docs/cluster.md)",
    )
    cluster.add_argument(
        "--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a local one)"
    )
    cluster.add_argument(
        "--num-cpus-per-worker",
        type=positive_int,
        default=1,
        help="CPUs per Ray worker (default 1)",
    )
    cluster.add_argument(
        "--gpus-per-worker", type=_fraction, default=0.0, help="GPUs per Ray worker (default 0)"
    )
    cluster.add_argument(
        "--shard-size", type=positive_int, default=10_000, help="images per Parquet shard"
    )
    cluster.add_argument(
        "--embedding", action="store_true", help="also write each image's embedding (Parquet)"
    )
    return parser


def _refuse_cluster_options(args: argparse.Namespace) -> None:
    """Options that only the Ray engine reads must not be silently ignored by the local one."""
    given = [
        flag
        for flag, value, default in (
            ("--address", args.address, None),
            ("--num-cpus-per-worker", args.num_cpus_per_worker, 1),
            ("--gpus-per-worker", args.gpus_per_worker, 0.0),
            ("--shard-size", args.shard_size, 10_000),
            ("--embedding", args.embedding, False),
        )
        if value != default
    ]
    if given:
        raise InputError(f"{', '.join(given)} only work with --engine ray")


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, not {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def find_images(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Skipped]]:
    """Image files under the inputs (each once, in scan order), and named files we cannot use.

    The window's scanner does the walking, so both find the same files. Folders it could not
    read are reported on stderr; they are not files, so they get no CSV row.
    """
    for given in inputs:
        if not os.path.lexists(given):
            raise InputError(f"folder or file not found: {given}")
    found = scan_all(inputs)
    files = [Path(item.path) for item in found.files]
    unusable = []
    for item in found.skipped:
        if os.path.isdir(item.what):
            print(f"{PROG}: warning: skipped {item.what}: {item.reason}", file=sys.stderr)
        else:
            unusable.append(item)
    return files, unusable


def check_output(out: Path) -> Path:
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as predictions.csv")
    if not out.absolute().parent.is_dir():
        raise InputError(f"the folder for --out {out} does not exist")
    if not os.access(out.absolute().parent, os.W_OK):
        raise InputError(f"cannot write to the folder of --out {out} (no permission)")
    return out


def write_predictions(
    session: ModelRunner,
    files: Sequence[Path],
    out: Path,
    options: ClassifyOptions,
    unusable: Sequence[Skipped] = (),
) -> tuple[int, int]:
    """Classify ``files`` into ``out`` (all or nothing), then list ``unusable`` files with why.

    Returns (classified, unreadable).
    """
    progress = _Progress(sys.stderr, len(files))
    classified = unreadable = 0
    try:
        with replacing(out) as partial, partial.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(CSV_COLUMNS)
            items = list(enumerate(files))
            for batch in classify_images(session, items, options):
                writer.writerows(_rows(batch, files, session.model.classes))
                classified += len(batch.keys)
                unreadable += len(batch.errors)
                progress.show(batch.done, unreadable)
            writer.writerows(csv_row(item.what, "", "", "", item.reason) for item in unusable)
            unreadable += len(unusable)
    finally:
        progress.finish()
    return classified, unreadable


def _rows(
    batch: PredictionBatch[int], files: Sequence[Path], classes: list[str]
) -> list[list[str]]:
    """Rows for one batch, in input order (predictions and failures interleaved as found).

    Text cells are neutralised (see desktop.core.csv_cells): names come from files and models.
    """
    rows: dict[int, list[str]] = {}
    for i, index in enumerate(batch.keys):
        rows[index] = csv_row(
            str(files[index]),
            classes[batch.class_index[i]],
            confidence_text(batch.confidence[i]),
            top_k_text(batch.top_k_index[i], batch.top_k_prob[i], classes),
            "",
        )
    for error in batch.errors:
        rows[error.key] = csv_row(str(files[error.key]), "", "", "", error.reason)
    return [rows[index] for index in sorted(rows)]


def csv_row(path: str, prediction: str, confidence: str, top_k: str, error: str) -> list[str]:
    """One CSV row, every text cell neutralised (names come from files and models); the
    cluster engine's CSV is made of the same rows."""
    cells = [shown(path), prediction, confidence, top_k, shown(error), path_bytes_cell(path)]
    return [neutralise(cell) for cell in cells]


def confidence_text(confidence: float) -> str:
    """A confidence as the CSV writes it; the cluster engine's CSV uses the same text."""
    return f"{confidence:.4f}"


def top_k_text(indices: Sequence[int], probs: Sequence[float], classes: list[str]) -> str:
    """Top-k as JSON (``[["cat", 0.91], …]``), most probable first, as the Export CSV has it."""
    return format_topk(zip(indices, probs, strict=True), classes)


class _Progress:
    """Progress on stderr: one updating line on a terminal, a line per tenth otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total = stream, total
        self.started = time.monotonic()
        self.shown_at = 0.0
        self.tenths_shown = 0
        self.live = stream.isatty()
        self.last = ""

    def show(self, done: int, unreadable: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.last = (
            f"{done}/{self.total} images ({unreadable} unreadable), {done / elapsed:.1f} images/s"
        )
        if self.live:
            if time.monotonic() - self.shown_at >= 0.1 or done == self.total:
                self.stream.write(f"\r{self.last}")
                self.stream.flush()
                self.shown_at = time.monotonic()
        elif self.total and done * 10 // self.total > self.tenths_shown:
            self.tenths_shown = done * 10 // self.total
            print(self.last, file=self.stream)

    def finish(self) -> None:
        if self.live and self.last:
            self.stream.write("\n")


if __name__ == "__main__":
    sys.exit(main())
