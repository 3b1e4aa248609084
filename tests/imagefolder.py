"""The documented image-folder layout, checked the way its readers walk it."""

from __future__ import annotations

from pathlib import Path

from trainer.contract import IMAGE_SUFFIXES


def imagefolder_files(root: Path, allowed_splits: set[str]) -> dict[str, tuple[str, str]]:
    """What ``load_dataset("imagefolder", data_dir=root)`` documents: split folders (train,
    validation, test) holding one folder per class, holding the images. file name -> (split,
    class); fails on anything else."""
    found: dict[str, tuple[str, str]] = {}
    for split_dir in root.iterdir():
        assert split_dir.is_dir() and split_dir.name in allowed_splits, split_dir
        for class_dir in split_dir.iterdir():
            assert class_dir.is_dir(), class_dir
            files = list(class_dir.iterdir())
            assert files, f"{class_dir} is empty (torchvision's ImageFolder refuses it)"
            for file in files:
                assert file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES, file
                assert file.name not in found
                found[file.name] = (split_dir.name, class_dir.name)
    return found
