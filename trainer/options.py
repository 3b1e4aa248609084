"""The training options, checked before any data is read or TensorFlow is imported."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from trainer.distribute import DISTRIBUTE_CHOICES, check_environment
from trainer.errors import TrainerError

BACKBONES = ("efficientnet_lite0", "small_cnn")
DEFAULT_IMAGE_SIZE = {"efficientnet_lite0": 224, "small_cnn": 64}
"""EfficientNet-Lite0 was trained on 224 px ImageNet crops; the small CNN learns from scratch."""


@dataclass(frozen=True)
class TrainOptions:
    """What ``python -m trainer train`` and ``trainer.train`` accept; see the README recipe."""

    backbone: str = "efficientnet_lite0"
    image_size: int = 0  # 0: the backbone's default
    epochs: int = 10
    fine_tune_epochs: int = 0
    batch_size: int = 32
    seed: int = 1234
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    fine_tune_blocks: int = 2
    patience: int = 3
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
        """These options with the image size filled in; raise TrainerError for impossible values."""
        if self.backbone not in BACKBONES:
            raise TrainerError(
                f"unknown backbone '{self.backbone}'; choose one of {', '.join(BACKBONES)}"
            )
        size = self.image_size or DEFAULT_IMAGE_SIZE[self.backbone]
        if not 16 <= size <= 1024:
            raise TrainerError(f"--image-size {size} is out of range; use 16 to 1024 pixels")
        for name in ("epochs", "batch_size", "fine_tune_blocks", "patience"):
            if getattr(self, name) < 1:
                raise TrainerError(f"--{name.replace('_', '-')} must be at least 1")
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise TrainerError(
                f"unknown --distribute '{self.distribute}'; "
                f"choose one of {', '.join(DISTRIBUTE_CHOICES)}"
            )
        check_environment(self.distribute)
        if self.fine_tune_epochs < 0:
            raise TrainerError("--fine-tune-epochs must be 0 (no fine-tuning) or more")
        if self.learning_rate <= 0 or self.fine_tune_learning_rate <= 0:
            raise TrainerError("learning rates must be positive")
        return replace(self, image_size=size)
