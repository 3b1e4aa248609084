"""The training options, checked before any data is read or TensorFlow is imported."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from trainer.distribute import DISTRIBUTE_CHOICES, check_environment
from trainer.errors import TrainerError

AUTO = "auto"
BACKBONES = ("efficientnet_lite0", "small_cnn")
BACKBONE_CHOICES = (AUTO, *BACKBONES)
FLIP_CHOICES = (AUTO, "on", "off")
AUGMENT_CHOICES = (AUTO, "on", "off")
HEAD_EPOCHS, SCRATCH_EPOCHS = 10, 100
DEFAULT_IMAGE_SIZE = {"efficientnet_lite0": 224, "small_cnn": 64}
"""The largest size the image-size rule picks: EfficientNet-Lite0 was trained on 224 px ImageNet
crops; the small CNN learns from scratch and sees all it needs of a small image at 64 px."""


@dataclass(frozen=True)
class TrainOptions:
    """What ``python -m trainer train`` and ``trainer.train`` accept; see the README recipe."""

    backbone: str = AUTO  # auto: the candidates trainer.plan picks from the data
    image_size: int = 0  # 0: from the data (trainer.plan)
    epochs: int = 0  # first phase; 0: 10 for a pretrained head, 100 for small_cnn from scratch
    fine_tune_epochs: int = 30  # then fine-tuning, kept only if validation improves; 0: off
    batch_size: int = 0  # 0: from the data (trainer.plan.batch_size_for)
    seed: int = 1234
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    fine_tune_blocks: int = 16  # EfficientNet-Lite0 has 16: all of them
    patience: int = 5
    flips: str = AUTO  # auto: kept only if mirrored images keep their labels (trainer.augment)
    augment: str = AUTO  # rotations, zooms, shifts; auto: for photos only (trainer.plan)
    time_budget: float = 15.0  # minutes of training shared by the candidates; 0: no limit
    distribute: str = "none"
    """none, mirrored or multi-worker: see trainer/distribute.py."""

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> TrainOptions:
        """Options from keyword arguments; None means "the default"; unknown names are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            names, choices = ", ".join(unknown), ", ".join(sorted(known))
            raise TrainerError(f"unknown training option(s) {names}; known: {choices}")
        given = {k: v for k, v in kwargs.items() if v is not None}
        return cls(**given).checked()

    def checked(self) -> TrainOptions:
        """These options, or TrainerError for impossible values (before any data is read)."""
        if self.backbone not in BACKBONE_CHOICES:
            raise TrainerError(
                f"unknown backbone '{self.backbone}'; choose one of {', '.join(BACKBONE_CHOICES)}"
            )
        if self.image_size and not 16 <= self.image_size <= 1024:
            raise TrainerError(
                f"--image-size {self.image_size} is out of range; use 16 to 1024 pixels"
            )
        for name in ("fine_tune_blocks", "patience"):
            if getattr(self, name) < 1:
                raise TrainerError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("epochs", "fine_tune_epochs", "batch_size"):
            if getattr(self, name) < 0:
                raise TrainerError(f"--{name.replace('_', '-')} must be 0 (the default) or more")
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise TrainerError(
                f"unknown --distribute '{self.distribute}'; "
                f"choose one of {', '.join(DISTRIBUTE_CHOICES)}"
            )
        check_environment(self.distribute)
        if self.learning_rate <= 0 or self.fine_tune_learning_rate <= 0:
            raise TrainerError("learning rates must be positive")
        if self.flips not in FLIP_CHOICES:
            raise TrainerError(f"--flips must be one of {', '.join(FLIP_CHOICES)}")
        if self.augment not in AUGMENT_CHOICES:
            raise TrainerError(f"--augment must be one of {', '.join(AUGMENT_CHOICES)}")
        if self.time_budget < 0:
            raise TrainerError("--time-budget must be 0 (no limit) or a number of minutes")
        return self

    def first_phase_epochs(self, backbone: str) -> int:
        """--epochs, or its default: a head on frozen features learns in few epochs, a model
        from scratch needs many (early stopping ends either when validation stops improving)."""
        default = SCRATCH_EPOCHS if backbone == "small_cnn" else HEAD_EPOCHS
        return self.epochs or default
