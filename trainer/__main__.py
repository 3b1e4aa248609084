"""``python -m trainer train | evaluate | export``: a thin argparse layer over the package.

Bad input prints one line ("error: ..."), emits an ``error`` event with ``--progress json`` and
exits with code 2, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.distribute import DISTRIBUTE_CHOICES
from trainer.errors import TrainerError
from trainer.options import AUGMENT_CHOICES, AUTO, BACKBONE_CHOICES, FLIP_CHOICES
from trainer.progress import BarProgress, JsonLinesProgress, Progress

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model on labelled images")
    train.add_argument("data", type=Path, help="folder of class folders, or a path,label CSV")
    train.add_argument("--out", type=Path, required=True, help="run folder to fill")
    train.add_argument(
        "--backbone",
        choices=BACKBONE_CHOICES,
        default=AUTO,
        help="auto: EfficientNet-Lite0, and small_cnn too when the images are far from photos; "
        "the best on validation wins",
    )
    train.add_argument("--image-size", type=int, help="pixels per side (default: from the data)")
    train.add_argument(
        "--epochs",
        type=int,
        help="most epochs of the first phase (default 10 for a pretrained head, 100 from scratch)",
    )
    train.add_argument("--fine-tune-epochs", type=int, help="most epochs of fine-tuning (0: off)")
    train.add_argument(
        "--flips",
        choices=FLIP_CHOICES,
        help="random horizontal flips (auto: only if mirrored images keep their labels)",
    )
    train.add_argument(
        "--augment",
        choices=AUGMENT_CHOICES,
        help="small random rotations, zooms and shifts (auto: for photos, not for images "
        "under 64 px)",
    )
    train.add_argument(
        "--time-budget",
        type=float,
        help="minutes of training shared by the candidates (default 15; 0: no limit)",
    )
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--patience", type=int, help="epochs without a better val_loss before a phase stops"
    )
    train.add_argument(
        "--distribute",
        choices=DISTRIBUTE_CHOICES,
        help="none (default), mirrored (this machine's GPUs) or multi-worker (from TF_CONFIG); "
        "--batch-size is then per replica",
    )
    _add_progress(train)

    evaluate = commands.add_parser("evaluate", help="evaluate an exported model on labelled data")
    evaluate.add_argument("model", type=Path, help="model.onnx")
    evaluate.add_argument("data", type=Path, help="folder of class folders, or a path,label CSV")
    evaluate.add_argument("--out", type=Path, required=True, help="report.json to write")
    evaluate.add_argument("--split", default="all", choices=("all", "train", "val", "test"))

    export = commands.add_parser("export", help="re-export a run's model.keras to model.onnx")
    export.add_argument("run_dir", type=Path)
    _add_progress(export)
    return parser


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", choices=("bar", "json"), default="bar", help="bar, or JSON lines on stdout"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    progress = _progress(getattr(args, "progress", "bar"))
    try:
        # Library chatter (TensorFlow, tf2onnx) must not mix with the JSON lines on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            _run(args, progress)
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        progress.error(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        progress.error("cancelled")
        return 130
    except BaseException as exc:
        progress.error(f"internal error: {type(exc).__name__}: {exc}")
        raise
    return 0


def _run(args: argparse.Namespace, progress: Progress) -> None:
    if args.command == "train":
        import trainer

        trainer.train(args.data, args.out, progress=progress, **_train_options(args))
    elif args.command == "evaluate":
        from trainer.evaluate import evaluate_data, write_json

        report = evaluate_data(args.model, args.data, args.split)
        write_json(args.out, report)
        print(
            f"accuracy {report['accuracy']:.4f}, macro F1 {report['macro_f1']:.4f} on "
            f"{report['split_sizes']['evaluated']} images; report in {args.out}",
            file=sys.stderr,
        )
    else:
        from trainer.export import export_run

        export_run(args.run_dir, progress=progress)


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("backbone", "image_size", "epochs", "fine_tune_epochs")
    names += ("batch_size", "seed", "patience", "flips", "augment", "time_budget", "distribute")
    return {name: getattr(args, name) for name in names}


def _progress(kind: str) -> Progress:
    return JsonLinesProgress(sys.stdout) if kind == "json" else BarProgress(sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
