"""Class activation maps: where in the picture the model saw each class.

Every Pigeonhole model ends in global average pooling and one linear layer, so the logit of class
c is the spatial mean of ``F @ W[:, c] + b_c``, where F is the last convolutional feature map
(the model's ``feature_map`` output, (h, w, D)) and W, b the head. That map is the class
activation map (Zhou et al., 2016): exact, no gradients, and a quick retrain that replaces the
head changes it, because W and b are read from the model file that is actually in use. Older
models lack the output and get a message instead of a map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from desktop.core.inference import ModelRunner
from desktop.core.onnx_head import Head, HeadGraphError, load_model, read_head
from trainer.contract import FEATURE_MAP_OUTPUT, INPUT_NAME, PROBS_OUTPUT, decode_for_model

NO_HEAT_MAP = "no heat map for this model: retrain to get one"
_ORT_ERRORS = tuple(
    error
    for error in vars(ort.capi.onnxruntime_pybind11_state).values()
    if isinstance(error, type) and issubclass(error, Exception)
)


class HeatMapError(ValueError):
    """No heat map can be drawn for this model or image; the message says why."""


@dataclass(frozen=True)
class ClassMaps:
    """One image's feature map and the head: the map of any class, without running the model
    again (so clicking through the top-k list costs a matrix product, not an inference)."""

    features: np.ndarray  # (h, w, D) float32
    probs: np.ndarray  # (C,) float32, as the model output them
    head: Head

    def index_of(self, class_name: str) -> int:
        try:
            return self.head.classes.index(class_name)
        except ValueError:
            raise HeatMapError(f"the model has no class {class_name!r}") from None

    def raw(self, class_index: int) -> np.ndarray:
        """CAM_c = F @ W[:, c] + b_c, (h, w) float64: its mean is the class's logit."""
        weight = self.head.weight[:, class_index].astype(np.float64)
        return self.features.astype(np.float64) @ weight + float(self.head.bias[class_index])

    def normalised(self, class_index: int) -> np.ndarray:
        """The map scaled to 0..1, (h, w) float32."""
        return normalise(self.raw(class_index))

    def predicted(self) -> int:
        return int(np.argmax(self.probs))


def normalise(cam: np.ndarray) -> np.ndarray:
    """Min-max to 0..1 (float32); a flat map is all zeros (it points nowhere)."""
    low, high = float(np.min(cam)), float(np.max(cam))
    if not np.isfinite(low) or not np.isfinite(high) or high - low <= 1e-12:
        return np.zeros(cam.shape, np.float32)
    return ((cam - low) / (high - low)).astype(np.float32)


def upsample(cam01: np.ndarray, width: int, height: int) -> np.ndarray:
    """The map stretched over the whole picture (the model squashes, never crops, its input),
    with bilinear interpolation; (height, width) float32 in 0..1."""
    image = Image.fromarray(np.ascontiguousarray(cam01, dtype=np.float32), mode="F")
    resized = image.resize((max(1, width), max(1, height)), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


class HeatMapper:
    """Class maps from an open model session; the head comes from the same model file."""

    def __init__(self, model: ModelRunner) -> None:
        outputs = {output.name for output in model.session.get_outputs()}
        if FEATURE_MAP_OUTPUT not in outputs:
            raise HeatMapError(NO_HEAT_MAP)
        try:
            self.head = read_head(load_model(model.model.path))
        except HeadGraphError as exc:
            raise HeatMapError(f"{NO_HEAT_MAP} ({exc})") from exc
        self.model = model
        self.path: Path = model.model.path

    @property
    def input_size(self) -> int:
        return self.model.model.input_size

    def for_image(self, path: str | Path) -> ClassMaps:
        """Decode with the contract's one decode function, then run the model (raises
        UnreadableImage for a file that cannot be used)."""
        return self.for_pixels(decode_for_model(path, self.input_size))

    def for_pixels(self, pixels: np.ndarray) -> ClassMaps:
        """(S, S, 3) pixels -> the image's feature map, probabilities and this model's head."""
        batch = np.ascontiguousarray(pixels, dtype=np.float32)[None]
        fixed = self.model.model.batch_dim
        if fixed and fixed != 1:
            batch = np.concatenate([batch, np.zeros((fixed - 1, *batch.shape[1:]), np.float32)])
        try:
            features, probs = self.model.session.run(
                [FEATURE_MAP_OUTPUT, PROBS_OUTPUT], {INPUT_NAME: batch}
            )
        except _ORT_ERRORS as exc:
            raise HeatMapError(f"{self.path.name} failed to run: {exc}") from exc
        if features.ndim != 4 or features.shape[-1] != self.head.weight.shape[0]:
            raise HeatMapError(
                f"{NO_HEAT_MAP} (its feature map has shape {tuple(features.shape)}, but the head "
                f"takes {self.head.weight.shape[0]} features)"
            )
        return ClassMaps(features[0], probs[0], self.head)
