"""The trainer's input pipeline alone: decode once and keep uint8 pixels, or decode every epoch.

``trainer.data.tf_dataset`` keeps the decoded uint8 pixels in memory when the set fits
``CACHE_LIMIT_BYTES`` (so epochs after the first decode nothing), and otherwise shuffles paths and
decodes each epoch (so the shuffle buffer never holds decoded images). This runs both on the same
1 MP photos at 224 px, each in a fresh process (for its peak memory), without a model: the
figures are what the pipeline costs on top of training.

    python -m benchmarks.trainer_pipeline              # 2,000 photos, 3 epochs
    python -m benchmarks.trainer_pipeline --images 500 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.classify_folder import CACHE, SIZES, ensure_photos
from benchmarks.classify_memory import DISTINCT, linked_folder
from benchmarks.common import write_table

SECTION = "Trainer input pipeline (decode once)"
SIZE = 224
MODES = {"cached (fits the budget)": 1 << 30, "streamed (CACHE_LIMIT_BYTES=0)": 0}


def run_epochs(folder: Path, count: int, epochs: int, limit: int) -> dict[str, object]:
    """In the child: ``epochs`` passes over ``count`` photos; seconds each and peak RSS."""
    import trainer.data as data

    data.CACHE_LIMIT_BYTES = limit
    paths = sorted(folder.iterdir())[:count]
    samples = [data.Sample(p, p.name, "ab"[i % 2]) for i, p in enumerate(paths)]
    dataset = data.tf_dataset(samples, ["a", "b"], SIZE, 32, shuffle_seed=0)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        seen = sum(len(labels) for _, labels in dataset.as_numpy_iterator())
        seconds.append(time.perf_counter() - start)
        assert seen == count, (seen, count)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # FOLDER LIMIT
    args = parser.parse_args(argv)
    if args.child:
        folder, limit = Path(args.child[0]), int(args.child[1])
        print(json.dumps(run_epochs(folder, args.images, args.epochs, limit)))
        return 0
    sources = ensure_photos(CACHE / f"photos_1152x864_{DISTINCT}", SIZES["1 MP"], DISTINCT)
    folder = linked_folder(sources, CACHE / f"linked_1152x864_{args.images}", args.images)
    rows = []
    for mode, limit in MODES.items():
        command = [sys.executable, "-m", "benchmarks.trainer_pipeline", "--images",
                   str(args.images), "--epochs", str(args.epochs), "--child", str(folder),
                   str(limit)]  # fmt: skip
        env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        row: dict[str, object] = {"pipeline": mode, "images": args.images}
        for epoch, seconds in enumerate(result["seconds"], start=1):
            row[f"epoch {epoch} s"] = round(seconds, 2)
        row["peak RSS MB"] = round(result["peak_mb"])
        rows.append(row)
        print(row, file=sys.stderr)
    notes = (
        f"1 MP generated JPEGs ({DISTINCT} distinct, hard-linked under new names) decoded at "
        f"{SIZE} px by `trainer.contract.decode_for_model`, batches of 32, no model. Before this "
        "change the cache held float32 (a quarter as many images fit) and the shuffle buffer "
        "held every decoded image: on 2,000 of these photos every epoch decoded again "
        "(6.7-10.2 s each) and peak RSS was 1.9 GB."
    )
    if not args.no_write:
        print(f"wrote {write_table(SECTION, rows, notes=notes)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
