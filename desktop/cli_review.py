"""``python -m desktop review``: the review queue from a terminal, for a labelled folder or CSV.

The images are embedded by the classify pipeline the window uses, and the queue comes from the
same ``review_queue`` in the same (path) order, so a project with these labels and this model
shows the same suspects in the same order with the same numbers. The CSV lists them most
suspicious first; the estimated share of wrong labels per class goes to stderr. Input mistakes
get one line on stderr and exit code 2 before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop.cli_classify import (
    InputError,
    check_output,
    find_images,
    non_negative_int,
    positive_int,
)
from desktop.core.classify import ClassifyError, ClassifyOptions, classify_images
from desktop.core.csv_cells import neutralise
from desktop.core.csv_io import read_label_csv
from desktop.core.errors import CsvError
from desktop.core.inference import PROVIDER_CHOICES, InferenceError, ModelRunner, open_session
from desktop.core.model_file import ModelFileError, check_model_file
from desktop.core.records import PredictionRow
from desktop.core.review import ReviewError, ReviewResult, path_order, review_queue
from trainer.file_names import shown
from trainer.files import replacing

PROG = "python -m desktop review"
CSV_COLUMNS = ("path", "label", "suggested", "probability", "self_confidence", "rank")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run with the arguments that follow ``review``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        out = check_output(args.out)
        model = check_model_file(args.model)  # cheap checks first, before scanning a big folder
        labelled = labelled_images(args.images, args.labels)
        session = open_session(model, args.provider)
    except (InputError, ModelFileError, InferenceError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"embedding {len(labelled)} labelled images with {model.path.name}", file=sys.stderr)
    options = ClassifyOptions(batch_size=args.batch_size, workers=args.workers)
    try:
        result, paths = review_files(session, labelled, options)
    except ReviewError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{PROG}: cancelled; {out} was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ClassifyError, InferenceError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        write_suspects(result, paths, out)
    except OSError as exc:
        print(f"{PROG}: error: could not write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    for noise in result.noise:
        print(f"{noise.describe()} ({noise.labelled} labelled)", file=sys.stderr)
    print(f"wrote {out}: {len(result.suspects)} suspects", file=sys.stderr)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="List labelled images whose label looks wrong; write a CSV."
    )
    parser.add_argument(
        "images",
        metavar="IMAGES_OR_CSV",
        help="a folder of class folders, or a CSV with columns path,label",
    )
    parser.add_argument("--model", required=True, type=Path, help="the .onnx model to use")
    parser.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    parser.add_argument(
        "--labels", type=Path, help="a path,label CSV giving (or replacing) the labels"
    )
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")
    parser.add_argument(
        "--workers", type=non_negative_int, default=None, help="decoding processes (0: none)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=None, help="images per model call"
    )
    return parser


def labelled_images(images: str, labels: Path | None = None) -> list[tuple[str, str]]:
    """(absolute path, label) pairs, sorted by path; InputError when they cannot be reviewed.

    A folder's images take the name of the class folder they are in (images loose at the top
    have no label); a CSV gives its own. With ``labels``, the labels come from that CSV instead,
    and images it does not list are left out.
    """
    given = Path(images)
    if not given.exists():
        raise InputError(f"folder or CSV not found: {images}")
    pairs = _class_folder_labels(given) if given.is_dir() else _csv_labels(given)
    if labels is not None:
        wanted = dict(_csv_labels(labels))
        pairs = [(path, wanted[path]) for path, _ in pairs if path in wanted]
    classes = sorted({label for _, label in pairs})
    if len(classes) < 2:
        raise InputError(
            f"need labelled images of at least 2 classes to review; found {len(classes)}"
            + (f" ({classes[0]})" if classes else "")
        )
    return sorted(pairs)


def _class_folder_labels(root: Path) -> list[tuple[str, str]]:
    files, _ = find_images([root])
    base = Path(os.path.abspath(root))
    pairs = []
    for path in files:
        parts = Path(os.path.abspath(path)).relative_to(base).parts
        if len(parts) > 1:
            pairs.append((os.path.abspath(path), parts[0]))
    return pairs


def _csv_labels(path: Path) -> list[tuple[str, str]]:
    try:
        table = read_label_csv(path)
    except CsvError as exc:
        raise InputError(str(exc)) from exc
    return list(dict(table.rows).items())  # a path given twice: its last label wins


def review_files(
    session: ModelRunner, labelled: Sequence[tuple[str, str]], options: ClassifyOptions
) -> tuple[ReviewResult, list[str]]:
    """Embed the images, then review them in path order; unreadable ones are left out."""
    paths = [path for path, _ in labelled]
    predictions: dict[int, PredictionRow] = {}
    embeddings: dict[int, np.ndarray] = {}
    for batch in classify_images(session, list(enumerate(paths)), options):
        for i, key in enumerate(batch.keys):
            topk = list(zip(batch.top_k_index[i].tolist(), batch.top_k_prob[i].tolist(),
                            strict=True))  # fmt: skip
            predictions[key] = PredictionRow(
                key, int(batch.class_index[i]), float(batch.confidence[i]), topk
            )
            embeddings[key] = batch.embedding[i].astype(np.float32)
        for error in batch.errors:
            print(f"{PROG}: warning: skipped {paths[error.key]}: {error.reason}", file=sys.stderr)
    kept = [i for i in path_order(paths) if i in embeddings]
    if not kept:
        raise ReviewError("none of the labelled images could be read")
    result = review_queue(
        kept,
        np.stack([embeddings[i] for i in kept]),
        [labelled[i][1] for i in kept],
        sorted({labelled[i][1] for i in kept}),
        predictions=predictions,
        model_classes=session.model.classes,
    )
    return result, paths


def write_suspects(result: ReviewResult, paths: Sequence[str], out: Path) -> None:
    """The queue as CSV, most suspicious first, written whole or not at all."""
    with replacing(out) as partial, partial.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for rank, suspect in enumerate(result.suspects, start=1):
            probability = "" if suspect.probability is None else f"{suspect.probability:.4f}"
            writer.writerow(
                [
                    neutralise(shown(paths[suspect.image_id])),
                    neutralise(suspect.labelled),
                    neutralise(suspect.looks_like),
                    probability,
                    f"{suspect.self_confidence:.4f}",
                    str(rank),
                ]
            )


if __name__ == "__main__":
    sys.exit(main())
