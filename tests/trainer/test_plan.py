"""The recipe's choices from the data: image size, candidates, budget (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.errors import TrainerError
from trainer.options import TrainOptions
from trainer.plan import DataTraits, batch_size_for, image_size_for, make_plan, measure_traits


@pytest.mark.parametrize(
    ("side", "efficientnet", "small_cnn"),
    [(8, 32, 32), (28, 32, 32), (33, 64, 64), (100, 128, 64), (640, 224, 64)],
)
def test_small_images_train_small(side: int, efficientnet: int, small_cnn: int) -> None:
    traits = DataTraits(median_side=side, greyscale_share=0.0)
    assert image_size_for(traits, "efficientnet_lite0") == efficientnet
    assert image_size_for(traits, "small_cnn") == small_cnn


def write(folder: Path, size: tuple[int, int], mode: str, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i}.png"
        Image.fromarray(np.full((size[1], size[0], 3), i * 10, np.uint8)).convert(mode).save(path)
        paths.append(path)
    return paths


def test_traits_come_from_the_headers(tmp_path: Path) -> None:
    grey = write(tmp_path / "grey", (28, 28), "L", 5)
    photos = write(tmp_path / "rgb", (640, 480), "RGB", 3)

    assert measure_traits(grey) == DataTraits(median_side=28, greyscale_share=1.0)
    assert measure_traits([*photos, tmp_path / "missing.png"]) == DataTraits(480, 0.0)


def test_photos_get_the_pretrained_model_and_greyscale_photos_a_from_scratch_one_too() -> None:
    photos = make_plan(TrainOptions(), DataTraits(median_side=480, greyscale_share=0.0))
    x_rays = make_plan(TrainOptions(), DataTraits(median_side=480, greyscale_share=1.0))

    assert [(c.backbone, c.image_size) for c in photos.candidates] == [("efficientnet_lite0", 224)]
    assert [(c.backbone, c.image_size) for c in x_rays.candidates] == [
        ("small_cnn", 64),
        ("efficientnet_lite0", 224),
    ]
    assert "far from ImageNet" in x_rays.candidates[0].why
    assert photos.budget_seconds == 15 * 60


@pytest.mark.parametrize("greyscale_share", [0.0, 1.0])
def test_small_images_train_from_scratch_alone(greyscale_share: float) -> None:
    plan = make_plan(TrainOptions(), DataTraits(median_side=28, greyscale_share=greyscale_share))

    assert [(c.backbone, c.image_size) for c in plan.candidates] == [("small_cnn", 32)]
    assert "too small for ImageNet features" in plan.candidates[0].why


def test_large_training_sets_take_larger_batches_unless_one_is_chosen() -> None:
    assert batch_size_for(TrainOptions(), 3999).batch_size == 32
    assert batch_size_for(TrainOptions(), 28000).batch_size == 128
    assert batch_size_for(TrainOptions(batch_size=8), 28000).batch_size == 8
    with pytest.raises(TrainerError, match="--batch-size"):
        TrainOptions(batch_size=-1).checked()


def test_options_override_the_rules() -> None:
    scans = DataTraits(median_side=8, greyscale_share=1.0)
    plan = make_plan(TrainOptions(backbone="small_cnn", image_size=48, time_budget=0), scans)

    assert [(c.backbone, c.image_size) for c in plan.candidates] == [("small_cnn", 48)]
    assert plan.budget_seconds is None
    with pytest.raises(TrainerError, match="--flips"):
        TrainOptions(flips="sometimes").checked()
    with pytest.raises(TrainerError, match="--time-budget"):
        TrainOptions(time_budget=-1).checked()
    assert TrainOptions().first_phase_epochs("small_cnn") == 100
    assert TrainOptions(epochs=7).first_phase_epochs("efficientnet_lite0") == 7


def test_photos_are_augmented_and_small_centred_images_are_not_unless_asked() -> None:
    photos = DataTraits(median_side=480, greyscale_share=0.0)
    scans = DataTraits(median_side=28, greyscale_share=1.0)

    assert make_plan(TrainOptions(), photos).augment
    assert not make_plan(TrainOptions(), scans).augment
    assert make_plan(TrainOptions(augment="on"), scans).augment
    assert not make_plan(TrainOptions(augment="off"), photos).augment
    assert make_plan(TrainOptions(), scans).as_dict()["augment"] is False
    with pytest.raises(TrainerError, match="--augment"):
        TrainOptions(augment="lots").checked()
