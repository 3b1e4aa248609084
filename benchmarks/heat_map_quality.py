"""Do the heat maps fall on the garment? Fashion-MNIST test images through the app's HeatMapper.

Part of ``benchmarks.heat_maps_and_exports`` (its docstring says how to run it). Two questions,
per image, for the map of the predicted class: what share of the (0..1, upsampled) map lies on the
garment, and does its peak? The peak is read where the map has a value of its own: at the centre
of its largest cell. Reading the argmax of the upsampled picture instead is biased: bilinear
upsampling draws an edge cell as a plateau out to the picture's border, and argmax returns the
plateau's first pixel, the border, which in Fashion-MNIST is always background; that row is kept
so the two readings can be compared.

Baselines in the same run: a uniform map, a centre prior, and a ceiling (the garment's own share
of each map cell, upsampled the same way: the best any map of that many cells can do).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks.trainer_fashion_mnist import CLASS_NAMES

if TYPE_CHECKING:
    from desktop.core.class_activation import ClassMaps

GARMENT = 10
"""Pixel value (of 255) above which a Fashion-MNIST pixel is garment, not background."""


def canonical(name: str) -> str:
    """A class name as a key that matches across spellings ("T-shirt" = "t-shirt_top",
    "ankle-boot" = "ankle_boot"): the sample model and the dataset spell them differently."""
    key = re.sub(r"[^a-z]", "", name.lower())
    return "tshirt" if key.startswith("tshirt") else key


def centre_prior(side: int, sigma: float = 7.0) -> np.ndarray:
    axis = np.arange(side) - (side - 1) / 2
    return np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma**2))


def cell_centre(cells: np.ndarray, side: int) -> tuple[int, int]:
    """The picture pixel at the centre of the map's largest cell."""
    h, w = cells.shape
    i, j = np.unravel_index(int(np.argmax(cells)), cells.shape)
    return min(side - 1, int((i + 0.5) * side / h)), min(side - 1, int((j + 0.5) * side / w))


def first_argmax(picture: np.ndarray) -> tuple[int, int]:
    i, j = np.unravel_index(int(np.argmax(picture)), picture.shape)
    return int(i), int(j)


def mass_on(picture: np.ndarray, garment: np.ndarray) -> float:
    total = float(picture.sum())
    return float(picture[garment].sum()) / total if total > 0 else float(garment.mean())


def inside_outline(garment: np.ndarray, pixel: tuple[int, int]) -> bool:
    """Whether a background pixel lies between the garment's own pixels in its row or column
    (between trouser legs, in a sandal's straps, in a neck opening) rather than beside it."""
    y, x = pixel
    row, column = np.flatnonzero(garment[y]), np.flatnonzero(garment[:, x])
    in_row = row.size > 0 and row[0] < x < row[-1]
    in_column = column.size > 0 and column[0] < y < column[-1]
    return bool(in_row or in_column)


def contrastive(maps: ClassMaps, class_index: int) -> np.ndarray:
    """CAM_c minus the mean of all classes' maps: what the softmax sees, as it ignores an
    offset common to all logits."""
    weight = maps.head.weight.astype(np.float64)
    bias = maps.head.bias.astype(np.float64)
    centred = weight[:, class_index] - weight.mean(axis=1)
    return maps.features.astype(np.float64) @ centred + (bias[class_index] - bias.mean())


@dataclass(frozen=True)
class Scored:
    """One map of one image: mass share on the garment, and where its peak fell."""

    label: int
    mass: float
    peak_on: bool
    peak_inside: bool  # off the garment but inside its outline
    right: bool = True


def score(
    label: int, picture: np.ndarray, peak: tuple[int, int], garment: np.ndarray, right: bool
) -> Scored:
    on = bool(garment[peak])
    inside = not on and inside_outline(garment, peak)
    return Scored(label, mass_on(picture, garment), on, inside, right)


def score_cells(label: int, cells: np.ndarray, garment: np.ndarray, right: bool) -> Scored:
    """A 0..1 map of cells, upsampled as the app draws it, its peak read at its largest cell."""
    from desktop.core.class_activation import upsample

    side = garment.shape[0]
    picture = upsample(cells, side, side)
    return score(label, picture, cell_centre(cells, side), garment, right)


def downsample_garment(garment: np.ndarray, h: int, w: int) -> np.ndarray:
    """The garment's share of each of h x w cells."""
    image = Image.fromarray(garment.astype(np.float32), mode="F")
    return np.asarray(image.resize((w, h), Image.Resampling.BOX), np.float64)


@dataclass(frozen=True)
class ModelMaps:
    """One model's maps of every image, scored: the CAM read two ways, the contrastive map, and
    the ceiling for its map size."""

    name: str
    cells: str  # "4x4"
    results: dict[str, list[Scored]]

    @property
    def accuracy(self) -> float:
        return statistics.fmean(s.right for s in self.results["cam"])


def map_model(
    name: str, files: Sequence[tuple[Path, str]], images: np.ndarray, model: Path
) -> ModelMaps:
    from desktop.core.class_activation import HeatMapper, normalise, upsample
    from desktop.core.inference import open_session
    from desktop.core.model_file import check_model_file

    mapper = HeatMapper(open_session(check_model_file(model), "cpu"))
    keys = [canonical(class_name) for class_name in mapper.head.classes]
    results: dict[str, list[Scored]] = {"cam": [], "cam-first": [], "contrast": [], "ceiling": []}
    for (path, class_name), pixels in zip(files, images, strict=True):
        label = CLASS_NAMES.index(class_name)
        garment = pixels > GARMENT
        maps = mapper.for_image(path)
        predicted = maps.predicted()
        right = keys[predicted] == canonical(class_name)
        cells = maps.normalised(predicted)
        results["cam"].append(score_cells(label, cells, garment, right))
        picture = upsample(cells, *garment.shape[::-1])
        results["cam-first"].append(score(label, picture, first_argmax(picture), garment, right))
        contrast = normalise(contrastive(maps, predicted))
        results["contrast"].append(score_cells(label, contrast, garment, right))
        ceiling = normalise(downsample_garment(garment, *cells.shape))
        results["ceiling"].append(score_cells(label, ceiling, garment, True))
    h, w = cells.shape
    return ModelMaps(name, f"{h}x{w}", results)


def baselines(images: np.ndarray, labels: Sequence[int]) -> dict[str, list[Scored]]:
    """Maps that know nothing of the image: uniform, and garments-are-centred."""
    prior = centre_prior(images.shape[1])
    uniform, centre = [], []
    for pixels, label in zip(images, labels, strict=True):
        garment = pixels > GARMENT
        uniform.append(Scored(label, float(garment.mean()), False, False))
        centre.append(score(label, prior, first_argmax(prior), garment, True))
    return {"uniform": uniform, "centre": centre}


_NAMES = {
    "cam": "class activation map (predicted class)",
    "cam-right": "the same, correctly predicted images only",
    "cam-first": "the same maps, peak read as the upsampled picture's first largest pixel",
    "contrast": "class-contrastive map (CAM_c minus the mean of all classes' maps)",
    "ceiling": "ceiling: the garment's share of each map cell",
    "uniform": "baseline: uniform map",
    "centre": "baseline: centre prior (Gaussian, sigma 7 px)",
}


def quality_rows(
    models: Sequence[ModelMaps], base: dict[str, list[Scored]]
) -> list[dict[str, object]]:
    rows = []
    for model in models:
        label = f"{model.name}, accuracy {model.accuracy:.3f}, {model.cells} map"
        results = dict(model.results)
        results["cam-right"] = [s for s in results["cam"] if s.right]
        for key in ("cam", "cam-right", "cam-first", "contrast", "ceiling"):
            rows.append({"model": label, **_row(key, results[key])})
    for key, values in base.items():
        rows.append({"model": "—", **_row(key, values)})
    uniform = rows[-2]
    uniform["peak on garment"] = uniform["peaks off it: inside the outline"] = "—"  # no peak
    return rows


def _row(key: str, values: Sequence[Scored]) -> dict[str, object]:
    off = [s for s in values if not s.peak_on]
    return {
        "map": _NAMES[key],
        "images": len(values),
        "mass on garment": round(statistics.fmean(s.mass for s in values), 3),
        "peak on garment": round(statistics.fmean(s.peak_on for s in values), 3),
        "peaks off it: inside the outline": _share(off, lambda s: s.peak_inside),
    }


def _share(values: Sequence[Scored], test: Callable[[Scored], bool]) -> object:
    return round(statistics.fmean(test(s) for s in values), 2) if values else "—"


def _mean(values: Sequence[Scored], field: Callable[[Scored], float]) -> float:
    return round(statistics.fmean(field(s) for s in values), 2)


def per_class_rows(
    models: Sequence[ModelMaps], base: dict[str, list[Scored]]
) -> list[dict[str, object]]:
    """Where the maps miss: the classes whose shape is told by background (a dress's sides,
    the air above a sneaker) against those whose peak sits on the garment."""
    rows = []
    for label, name in enumerate(CLASS_NAMES):
        mine = {key: [s for s in values if s.label == label] for key, values in base.items()}
        if not mine["centre"]:
            continue
        row: dict[str, object] = {
            "class": name,
            "images": len(mine["centre"]),
            "centre prior peak": _mean(mine["centre"], lambda s: s.peak_on),
            "uniform mass": _mean(mine["uniform"], lambda s: s.mass),
        }
        for model in models:
            cam = [s for s in model.results["cam"] if s.label == label]
            off = [s for s in cam if not s.peak_on]
            tag = model.name.split(" ")[0]
            row[f"{tag}: accuracy"] = _mean(cam, lambda s: s.right)
            row[f"{tag}: CAM peak"] = _mean(cam, lambda s: s.peak_on)
            row[f"{tag}: off it, inside outline"] = _share(off, lambda s: s.peak_inside)
            row[f"{tag}: CAM mass"] = _mean(cam, lambda s: s.mass)
        rows.append(row)
    return rows
