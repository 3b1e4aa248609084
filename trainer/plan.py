"""What the recipe decides from the data before it trains: image size, candidates, budget.

Every choice here is a rule a user can read in the report (``plan`` in report.json) and override
with an option:

- **Image size** (``--image-size``): the images' median shorter side rounded up to a multiple of
  32, at least 32 and at most the backbone's own size (224 for EfficientNet-Lite0, 64 for
  small_cnn). Small images train small: upscaling a 28 px scan to 224 px adds no information and
  costs 60 times the compute that fine-tuning needs.
- **Candidates** (``--backbone``): EfficientNet-Lite0 pretrained on ImageNet photos for photos;
  for greyscale images of photo size, ``small_cnn`` from scratch too, and the one with the best
  validation accuracy wins (the test split is never looked at). Images smaller than 64 px train
  ``small_cnn`` alone: at 32 px the pretrained backbone's last feature map is 1 x 1, and it lost
  to ``small_cnn`` on validation in every small-image row of benchmarks/trainer_quality.py
  (digits 0.881 and 0.943 against 1.000 and 0.984, Fashion-MNIST 0.745 and 0.756 against 0.816
  and 0.881), so its share of the budget is better spent on the model that wins.
- **Augmentation** (``--augment``): small random rotations, zooms and shifts for photos; none
  for images under 64 px (scans, icons, thumbnails: centred and cropped already). On 60
  Fashion-MNIST images per class they cost 0.064 of test accuracy (0.730 against 0.794, three
  seeds) and let the notebook CNN win; on digit scans they were worth at most 0.011
  (benchmarks/trainer_quality.py, BENCHMARKS.md). Flips are decided apart (trainer.augment).
- **Batch size** (``--batch-size``): 32 images per step, 128 from 4,000 training images on.
  A small set needs the many updates small batches give; a large one is bound by the seconds per
  epoch, and on 2 CPU cores a batch of 128 trains small_cnn twice as fast per image as 32.
- **Budget** (``--time-budget``): minutes of training shared by the candidates; a candidate
  stops at its best epoch so far before an epoch that would end past its share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from PIL import Image, UnidentifiedImageError

from trainer.options import AUTO, DEFAULT_IMAGE_SIZE, TrainOptions

SMALL_BATCH, LARGE_BATCH = 32, 128
LARGE_TRAINING_SET = 4000
"""Training images from which an epoch's seconds, not the number of updates, limit training."""
SIZE_STEP = 32
MIN_SIZE = 32
PHOTO_SIDE = 64
"""Images smaller than this (median shorter side) are far from ImageNet's photos."""
TRAITS_SAMPLE = 500
"""Image headers read to measure the data; enough for a stable median, cheap for any set."""
GREYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


@dataclass(frozen=True)
class DataTraits:
    """What the image headers say about the data (nothing is decoded)."""

    median_side: int
    greyscale_share: float

    @property
    def small(self) -> bool:
        return self.median_side < PHOTO_SIDE

    @property
    def far_from_photos(self) -> bool:
        return self.greyscale_share >= 0.5 or self.small

    def describe(self) -> str:
        kind = "greyscale" if self.greyscale_share >= 0.5 else "colour"
        return f"{kind} images, median shorter side {self.median_side} px"


@dataclass(frozen=True)
class Candidate:
    """One model the recipe trains, at which size, and why it is in the race."""

    backbone: str
    image_size: int
    why: str


@dataclass(frozen=True)
class Plan:
    """The candidates in training order and the seconds of training they share."""

    traits: DataTraits
    candidates: tuple[Candidate, ...]
    budget_seconds: float | None
    augment: bool = True
    """Small random rotations, zooms and shifts while training (flips are decided apart)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "data": self.traits.describe(),
            "far_from_photos": self.traits.far_from_photos,
            "candidates": [asdict(c) for c in self.candidates],
            "time_budget_seconds": self.budget_seconds,
            "augment": self.augment,
        }


def measure_traits(paths: Sequence[object]) -> DataTraits:
    """Median shorter side and greyscale share over (at most) TRAITS_SAMPLE evenly spaced files."""
    step = max(1, math.ceil(len(paths) / TRAITS_SAMPLE))
    sides, grey = [], 0
    for path in list(paths)[::step]:
        try:
            with Image.open(path) as image:  # type: ignore[arg-type]
                sides.append(min(image.size))
                grey += image.mode in GREYSCALE_MODES
        except (OSError, UnidentifiedImageError, ValueError):
            continue  # the readability check reports it; traits only need the others
    if not sides:
        return DataTraits(median_side=DEFAULT_IMAGE_SIZE["efficientnet_lite0"], greyscale_share=0)
    sides.sort()
    return DataTraits(median_side=int(sides[len(sides) // 2]), greyscale_share=grey / len(sides))


def image_size_for(traits: DataTraits, backbone: str) -> int:
    """The median shorter side rounded up to a multiple of 32, within [32, backbone's size]."""
    rounded = SIZE_STEP * math.ceil(traits.median_side / SIZE_STEP)
    return max(MIN_SIZE, min(DEFAULT_IMAGE_SIZE[backbone], rounded))


def make_plan(options: TrainOptions, traits: DataTraits) -> Plan:
    """The candidates, sizes and augmentation the options and the data call for."""
    augment = options.augment == "on" or (options.augment == AUTO and not traits.small)
    return replace(candidates_for(options, traits), augment=augment)


def candidates_for(options: TrainOptions, traits: DataTraits) -> Plan:
    """The candidates the options and the data call for, each at its image size."""
    budget = options.time_budget * 60.0 if options.time_budget > 0 else None
    if options.backbone != AUTO:
        size = options.image_size or image_size_for(traits, options.backbone)
        chosen = Candidate(options.backbone, size, "chosen with --backbone")
        return Plan(traits, (chosen,), budget)
    pretrained = Candidate(
        "efficientnet_lite0",
        options.image_size or image_size_for(traits, "efficientnet_lite0"),
        "pretrained on ImageNet photos: the best start for photo-like data",
    )
    if not traits.far_from_photos:
        return Plan(traits, (pretrained,), budget)
    scratch_size = options.image_size or image_size_for(traits, "small_cnn")
    if traits.small:
        why = f"{traits.describe()}: too small for ImageNet features, so a model from scratch"
        return Plan(traits, (Candidate("small_cnn", scratch_size, why),), budget)
    why = f"{traits.describe()}: far from ImageNet's photos, so a model from scratch may fit better"
    # The cheaper one first: what it leaves of the budget goes to the pretrained one.
    return Plan(traits, (Candidate("small_cnn", scratch_size, why), pretrained), budget)


def batch_size_for(options: TrainOptions, training_images: int) -> TrainOptions:
    """``options`` with the batch size the data calls for, unless ``--batch-size`` chose one."""
    if options.batch_size:
        return options
    large = training_images >= LARGE_TRAINING_SET
    return replace(options, batch_size=LARGE_BATCH if large else SMALL_BATCH)
