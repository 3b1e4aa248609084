"""Where the bundled resources (icon, sample project) live, in a checkout and in an installed app.

The installer copies ``resources/`` next to the ``desktop`` package (Briefcase's ``sources`` puts
``desktop``, ``trainer`` and ``resources`` side by side in the app folder), which is also how a
source checkout is laid out. So one rule, "the folder beside this package", serves both, and
``PIGEONHOLE_RESOURCES`` lets a packager put them somewhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_OVERRIDE = "PIGEONHOLE_RESOURCES"
ICON_SIZES = (16, 32, 64, 128, 256, 512)


class MissingResource(Exception):
    """A bundled file is not where the app expects it; the installation is incomplete."""


def resources_dir() -> Path:
    """The folder holding icon.svg, icons/ and sample/."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "resources"


def resource(relative: str) -> Path:
    """A bundled file or folder by its path inside resources/; raise if it is missing."""
    path = resources_dir() / relative
    if not path.exists():
        raise MissingResource(
            f"{relative} is missing from {resources_dir()}: reinstall Pigeonhole, or set "
            f"{ENV_OVERRIDE} to the folder that holds it"
        )
    return path


def icon_path(size: int = 256) -> Path:
    """The app icon rendered at ``size`` pixels (one of ICON_SIZES)."""
    if size not in ICON_SIZES:
        raise ValueError(f"no {size}px icon; rendered sizes are {ICON_SIZES}")
    return resource(f"icons/pigeonhole-{size}.png")


@dataclass(frozen=True)
class SampleProject:
    """The Fashion-MNIST sample: class folders of images and a model trained on them."""

    root: Path

    @property
    def images(self) -> Path:
        """One subfolder per class, named after the class."""
        return self.root / "images"

    @property
    def model(self) -> Path:
        return self.root / "model.onnx"

    def class_names(self) -> list[str]:
        return sorted(p.name for p in self.images.iterdir() if p.is_dir())

    def labelled_images(self) -> list[tuple[Path, str]]:
        """Every sample image with the class its folder names, in a stable order."""
        return [
            (image, folder.name)
            for folder in sorted(p for p in self.images.iterdir() if p.is_dir())
            for image in sorted(folder.iterdir())
            if image.is_file()
        ]


def sample_project() -> SampleProject:
    """The bundled sample project; raise MissingResource if its images or model are absent."""
    sample = SampleProject(resource("sample"))
    for needed in (sample.images, sample.model):
        if not needed.exists():
            raise MissingResource(
                f"the sample project is incomplete ({needed.name} missing in {sample.root}): "
                "rebuild it with `python tools/make_sample.py`"
            )
    return sample
