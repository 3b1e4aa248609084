"""Heat maps on Fashion-MNIST (do they fall on the garment? how fast are they drawn?) and the time
to export images for other tools.

Usage (from the repository root)::

    python -m benchmarks.heat_maps_and_exports [--maps 1000] [--draws 50] [--export-images 10000]
        [--model MODEL.onnx | --train-per-class 600 --train-size 32 --train-minutes 10]

Heat maps: Fashion-MNIST test images (Debian's ``dataset-fashion-mnist``), ``--maps`` of them
drawn evenly from the ten classes, are written as PNG files and mapped through the app's own
``HeatMapper``, for the predicted class, by two models: the shipped sample model
(resources/sample/model.onnx: small_cnn at 32 px trained on 285 images, so a 4x4 map) and one
that ``python -m trainer train --backbone small_cnn`` trains in the same run, given
``--train-per-class`` training images per class (seed 0, none of them a test image), or
``--model``. The garment is the image's non-background pixels
(value > 10 of 255). "mass on garment" is the share of the map's total (0..1 normalised,
upsampled to 28x28 as the overlay draws it) that lies on it; "peak on garment" is how often the
centre of the map's largest cell does (the row "first largest pixel" shows the older, biased
reading: an edge cell upsampled is a plateau out to the border, and argmax returns the border).
"Inside the outline": of the peaks off the garment, the share between garment pixels of the same
row or column (between trouser legs, in a sandal's straps, a bag's handle) rather than beside it.
Baselines in the same run: a uniform map (mass = the garment's share of the picture), a centre
prior (a Gaussian of sigma 7 px at the centre), which knows nothing of the image but that
garments are centred, and a ceiling (each cell's garment share, drawn the same way: the best any
map of that many cells can do). Accuracy is the models' on these images.

Drawing: one heat map for a 512 px preview, as the overlay draws it: decode, run the model, the
map, upsample, colour and paint over the pixmap (``--draws`` of the 28 px images, median, and
10 draws of one 12 MP JPEG, whose decode by scaled DCT dominates). The baseline is the preview's
plain scaling of the same picture; "from cache" is a click on another class.

Exports: ``--export-images`` labelled PNGs in a project; each format's wall time, against
``shutil.copy2`` of the same files into one folder per class (what a script would do). The table
includes 128-d embeddings (stored as predictions of the sample model, random values: the write is
measured, not the model).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import format_table, load_average, write_table
from benchmarks.heat_map_quality import baselines, map_model, per_class_rows, quality_rows
from benchmarks.trainer_fashion_mnist import (
    CLASS_NAMES,
    load_split,
    stratified_subset,
    write_class_folders,
)

SECTION = "Heat maps and exports (issue 18)"
SAMPLE_MODEL = Path(__file__).resolve().parent.parent / "resources" / "sample" / "model.onnx"
PREVIEW = 512
DRAW_TARGET_MS = 30.0
TRAIN_PER_CLASS, TRAIN_SIZE, TRAIN_MINUTES = 600, 32, 10.0


def write_pngs(images: np.ndarray, labels: np.ndarray, folder: Path) -> list[tuple[Path, str]]:
    written = []
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        name = CLASS_NAMES[int(label)]
        path = folder / name / f"fmnist-{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode="L").save(path)
        written.append((path, name))
    return written


FINDINGS = """
What was tried while looking for maps on the garment (the same 1,000 test images, peaks read at
the largest cell; "sample" is the shipped model, "6k" an earlier small_cnn given another 6,000
training images, accuracy 0.884 here: its CAM peak was 0.664, mass 0.511, where this run's model
has 0.742 and 0.524, so two such trainings differ by about 0.08). Kept: the map as it was (the
head's column times the feature map, min-max to 0..1, bilinear), because nothing below put more
of it on the garment:

- Class-contrastive map (CAM_c minus the mean of all classes' maps, what the softmax sees): in
  the table; in that earlier 6k model 0.656 against 0.664. Against the runner-up class only:
  0.575 (sample); against the probability-weighted mean: 0.572.
- ReLU then divide by the maximum instead of min-max: the same peaks, mass 0.486 against 0.495
  (sample). Nearest-neighbour upsampling: the same peaks, mass 0.499; bilinear with aligned
  corners: mass 0.481. Reading the peak as the centroid of the upsampled plateau: 0.623.
- A finer map from the model as it is: four inputs shifted by half a cell, interleaved into 8x8:
  0.552 (sample); a finer "unpooled" map that routes each pooled feature to the cell its max
  pooling took it from (exact: it sums to the same logit): 0.583 (6k). small_cnn at 64 px (8x8
  map, given 4,000 images, accuracy 0.846): 0.572, mass 0.486.
- Not a border or zero-padding artefact: in that 64 px model 0.29 of the peaks fell on the outer
  ring of cells (0.44 of the cells), and those were on the garment more often (0.69) than the
  inner ones (0.52). The misses are beside the silhouette: the air above a sneaker, in front of
  an ankle boot's shaft, beside a dress or under a T-shirt's sleeves (per-class table: few of
  them inside the outline), or inside it for trousers, sandals and bags. The map shows what the
  model uses: the garment's outline, told partly by the background next to it.
- What did move the maps onto the garment: small_cnn without its last max pooling (the global
  pooling after it does that job; same convolutions, an 8x8 map at 32 px). Given the 6k model's
  images: accuracy 0.875, peak 0.853, mass 0.568 (sneakers 0.94, ankle boots 0.96, sandals 0.69,
  T-shirts 0.61). Not adopted: with 60 images per class it trains a worse model
  (benchmarks/trainer_quality.py fashion-60: 0.7545 against the plain Keras CNN's 0.772, which
  the default must not fall below; 0.7745 with the pooling; seeds 1-3 gave 0.758, 0.8035, 0.777
  against 0.801, 0.791, 0.790). The digits rows stayed above the plain CNN (0.974 and 0.990
  against 0.944 and 0.962).

The 12 MP JPEG row is decided by its decode, not its map: ``decode_for_model`` alone takes
24-31 ms on a quiet machine (a 3.2 MB file), 32 ms at load 13 (where the row read 34.85 ms).
Pillow already decodes with libjpeg-turbo by scaled DCT at 1/8 (draft at 1/8: 29 ms, 1/4: 34 ms,
full size: 79 ms, in one quiet measurement), which still has to Huffman-decode every coefficient;
simplejpeg and PyTurboJPEG wrap the same library.
"""


def train_model(per_class: int, image_size: int, minutes: float, scratch: Path) -> Path:
    """A small_cnn trained by the trainer's own CLI on ``per_class`` Fashion-MNIST training
    images per class (seed 0; none of them is a test image): the sample model saw only 280."""
    data = write_class_folders(
        stratified_subset(load_split("train"), per_class, 2), scratch / "train"
    )
    run = scratch / "run"
    command = [sys.executable, "-m", "trainer", "train", str(data), "--out", str(run)]
    command += ["--backbone", "small_cnn", "--image-size", str(image_size), "--seed", "0"]
    command += ["--time-budget", str(minutes), "--progress", "json"]
    # At the lowest priority: minutes of training on a shared machine must not slow the timed
    # drawing of other runs; the time budget, not the clock, decides when it stops.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, preexec_fn=_lowest_priority)
    return run / "model.onnx"


def _lowest_priority() -> None:
    os.nice(19)


def draw_rows(files: list[tuple[Path, str]], draws: int) -> list[dict[str, object]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication

    from desktop.core.class_activation import HeatMapper
    from desktop.core.inference import open_session
    from desktop.core.model_file import check_model_file
    from desktop.ui.heat_map_overlay import draw_heat_map
    from trainer.contract import decode_for_model

    app = QApplication.instance() or QApplication([])
    mapper = HeatMapper(open_session(check_model_file(SAMPLE_MODEL), "cpu"))
    pixmaps = [QPixmap(str(path)) for path, _ in files[:draws]]

    def scaled(pixmap: QPixmap) -> QPixmap:
        return pixmap.scaled(
            PREVIEW, PREVIEW, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip

    plain, full, cached = [], [], []
    for (path, _), pixmap in zip(files[:draws], pixmaps, strict=True):
        started = time.perf_counter()
        picture = scaled(pixmap)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        picture = scaled(pixmap)
        maps = mapper.for_image(path)
        draw_heat_map(picture, maps.normalised(maps.predicted()), 0.45)
        full.append(time.perf_counter() - started)
        started = time.perf_counter()
        draw_heat_map(scaled(pixmap), maps.normalised(1), 0.45)
        cached.append(time.perf_counter() - started)
    photo = _photo(files[0][0].parent.parent / "photo-12mp.jpg")
    picture = scaled(QPixmap(str(files[0][0])))
    photo_times, decode_times = [], []
    for _ in range(min(draws, 10)):
        started = time.perf_counter()
        decode_for_model(photo, mapper.input_size)
        decode_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        maps = mapper.for_image(photo)
        draw_heat_map(picture, maps.normalised(maps.predicted()), 0.45)
        photo_times.append(time.perf_counter() - started)
    del app
    timed = (plain, full, cached, photo_times, decode_times)
    ms = [1000 * statistics.median(times) for times in timed]
    met = "met" if ms[1] < DRAW_TARGET_MS else "MISSED"
    photo_met = "met" if ms[3] < DRAW_TARGET_MS else "MISSED"
    return [
        {"draw (512 px preview)": "baseline: plain preview scaling", "median ms": round(ms[0], 2)},
        {
            "draw (512 px preview)": f"heat map: decode + model + map + paint ({met}: < 30 ms)",
            "median ms": round(ms[1], 2),
        },
        {
            "draw (512 px preview)": "heat map from cache (another class)",
            "median ms": round(ms[2], 2),
        },
        {
            "draw (512 px preview)": f"heat map of a 12 MP JPEG, decode included ({photo_met})",
            "median ms": round(ms[3], 2),
        },
        {
            "draw (512 px preview)": "of which: decode_for_model of the 12 MP JPEG alone",
            "median ms": round(ms[4], 2),
        },
    ]


def _photo(path: Path) -> Path:
    """A 4000x3000 JPEG (quality 90) with photo-like detail, as a camera would write."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC)
    image.save(path, quality=90)
    return path


def export_rows(files: list[tuple[Path, str]], scratch: Path) -> list[dict[str, object]]:
    import pyarrow.parquet  # noqa: F401  (imported once, before the clock: it takes seconds)

    from desktop.core.records import PredictionRow
    from desktop.core.results_table import export_results
    from desktop.core.split_export import export_split_folders
    from desktop.core.store import Project
    from trainer.contract import ModelInfo

    scratch.mkdir(parents=True, exist_ok=True)
    project_path = scratch / "bench.pigeonhole"
    with Project.open(project_path) as project:
        for name in CLASS_NAMES:
            project.add_class(name)
        ids = project.add_images([path for path, _ in files])
        by_class: dict[str, list[int]] = {}
        for image_id, (_, name) in zip(ids, files, strict=True):
            by_class.setdefault(name, []).append(image_id)
        for name, members in by_class.items():
            project.set_labels(members, project.class_by_name(name).id)
        model_id = project.add_model(
            SAMPLE_MODEL, ModelInfo(list(CLASS_NAMES), 32, "small_cnn", "0")
        )
        rng = np.random.default_rng(0)
        project.set_predictions(
            model_id,
            [
                PredictionRow(i, int(k % 10), 0.9, [(int(k % 10), 0.9)],
                              rng.normal(size=128).astype(np.float32).tobytes())
                for k, i in enumerate(ids)
            ],
        )  # fmt: skip
        timings: list[tuple[str, float, int]] = []
        started = time.perf_counter()
        for path, name in files:
            target = scratch / "copy2" / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        timings.append(
            ("baseline: shutil.copy2 into class folders", time.perf_counter() - started, len(files))
        )
        for layout in ("huggingface", "imagenet"):
            started = time.perf_counter()
            summary = export_split_folders(project, scratch / layout, layout)
            timings.append(
                (f"{layout} folders (copies)", time.perf_counter() - started, summary.n_written)
            )
        for table_format in ("parquet", "csv"):
            started = time.perf_counter()
            out = scratch / f"results.{table_format}"
            summary = export_results(project, out, table_format, embeddings=True)
            seconds = time.perf_counter() - started
            size = out.stat().st_size / 1e6
            timings.append(
                (
                    f"{table_format} table with embeddings ({size:.1f} MB)",
                    seconds,
                    summary.n_written,
                )
            )
    return [{"export": what, "images": n, "seconds": round(s, 2)} for what, s, n in timings]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--export-images", type=int, default=10_000)
    parser.add_argument("--model", type=Path, help="a second model for the heat maps")
    parser.add_argument(
        "--train-per-class", type=int, default=TRAIN_PER_CLASS, help="0: train none"
    )
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE, help="px")
    parser.add_argument("--train-minutes", type=float, default=TRAIN_MINUTES)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    test = load_split("t10k")
    chosen = stratified_subset(test, max(1, args.maps // len(CLASS_NAMES)), seed=0)
    exported = stratified_subset(load_split("train"), args.export_images // len(CLASS_NAMES), 1)
    with tempfile.TemporaryDirectory(prefix="pigeonhole-bench-") as tmp:
        scratch = Path(tmp)
        files = write_pngs(chosen.images, chosen.labels, scratch / "maps")
        models = [map_model("sample model", files, chosen.images, SAMPLE_MODEL)]
        if args.model:
            models.append(map_model(f"given {args.model.name}", files, chosen.images, args.model))
        elif args.train_per_class:
            trained = train_model(
                args.train_per_class, args.train_size, args.train_minutes, scratch / "trained"
            )
            name = f"trained here, given {args.train_per_class * len(CLASS_NAMES):,} images"
            models.append(map_model(name, files, chosen.images, trained))
        base = baselines(chosen.images, [int(label) for label in chosen.labels])
        maps, per_class = quality_rows(models, base), per_class_rows(models, base)
        draws = draw_rows(files, args.draws)
        export_files = write_pngs(exported.images, exported.labels, scratch / "export-src")
        exports = export_rows(export_files, scratch / "out")
    load = load_average()
    for rows in (maps, per_class, draws, exports):
        print(format_table(rows))
    print(f"load average at the end: {load}")
    if not args.no_write:
        notes = "\n\n".join(
            [
                __doc__[__doc__.index("Heat maps:") :].strip(),
                f"Load average (1, 5, 15 min) at the end of the run: {load}.",
                format_table(maps),
                format_table(per_class),
                FINDINGS.strip(),
                format_table(draws),
            ]
        )
        write_table(SECTION, exports, notes=notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
