"""One decode for training and for the app: the fast JPEG path stays close to a full decode, is
deterministic, and the trainer's data pipeline feeds the model exactly the app's pixels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from desktop.core.classify import decode_chunk
from trainer.contract import decode_for_model
from trainer.data import load_labelled_data, read_images

ROOT = Path(__file__).resolve().parents[1]
SIZE = 224


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Gradients, shapes and sensor-like noise: detail at every scale, like a real photo."""
    rng = np.random.default_rng(seed)
    small_w, small_h = max(8, width // 8), max(8, height // 8)
    y, x = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    base = np.stack(
        [x / small_w * 255, y / small_h * 255, (x + y) / (small_w + small_h) * 255], axis=-1
    )
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x0, y0 = int(rng.integers(0, small_w)), int(rng.integers(0, small_h))
        w, h = (
            int(rng.integers(2, max(3, small_w // 2))),
            int(rng.integers(2, max(3, small_h // 2))),
        )
        box = (x0, y0, x0 + w, y0 + h)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    full = np.asarray(image.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(full + noise, 0, 255).astype(np.uint8))


def full_decode_reference(path: Path, size: int) -> np.ndarray:
    """What decode_for_model would give without the scaled-DCT shortcut."""
    with Image.open(path) as img:
        img.load()
        upright = ImageOps.exif_transpose(img).convert("RGB")
    return np.asarray(upright.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


@pytest.fixture(scope="module")
def photo_12mp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "IMG_0001.jpg"
    photo_like(4000, 3000, seed=1).save(path, quality=90)
    return path


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("size", [SIZE, 32])
def test_fast_jpeg_decode_is_close_to_a_full_decode(photo_12mp: Path, size: int) -> None:
    fast = decode_for_model(photo_12mp, size)
    assert fast.shape == (size, size, 3) and fast.dtype == np.uint8
    assert mean_abs_diff(fast, full_decode_reference(photo_12mp, size)) < 2.0


def test_decoding_twice_gives_identical_pixels(photo_12mp: Path) -> None:
    np.testing.assert_array_equal(
        decode_for_model(photo_12mp, SIZE), decode_for_model(photo_12mp, SIZE)
    )


def test_a_rotated_phone_photo_stays_upright_on_the_fast_path(tmp_path: Path) -> None:
    picture = photo_like(1600, 1200, seed=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    picture.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif)
    fast = decode_for_model(path, SIZE)
    upright = np.asarray(picture.resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    assert mean_abs_diff(fast, full_decode_reference(path, SIZE)) < 2.0
    assert mean_abs_diff(fast, upright) < 4.0


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two class folders of mixed formats and sizes, one large JPEG among them."""
    root = tmp_path_factory.mktemp("labelled")
    for label, seed in (("beach", 10), ("forest", 20)):
        (root / label).mkdir()
        photo_like(1200, 900, seed).save(root / label / "big.jpg", quality=88)
        photo_like(90, 60, seed + 1).save(root / label / "small.png")
        photo_like(300, 500, seed + 2).convert("L").save(root / label / "grey.jpg")
    return root


def test_trainer_and_app_decode_the_same_pixels(labelled_folder: Path) -> None:
    samples = load_labelled_data(labelled_folder, SIZE).samples
    trainer_pixels = read_images(samples, SIZE)
    app = decode_chunk([os.fspath(sample.path) for sample in samples], SIZE)
    assert app.errors == [] and len(samples) == 6
    np.testing.assert_array_equal(trainer_pixels, app.pixels.astype(np.float32))


@pytest.mark.slow
def test_trainers_tf_data_pipeline_gives_the_apps_pixels(
    labelled_folder: Path, tmp_path: Path
) -> None:
    """tf.data runs in a child process: TensorFlow must never load into the app's test process."""
    out = tmp_path / "tf_pixels.npy"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from trainer.data import load_labelled_data, tf_dataset
        data = load_labelled_data(Path({str(labelled_folder)!r}), {SIZE})
        dataset = tf_dataset(data.samples, data.classes, {SIZE}, batch_size=4)
        batches = [images.numpy() for images, _ in dataset]
        np.save({str(out)!r}, np.concatenate(batches))
        """
    )
    env = os.environ | {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples = load_labelled_data(labelled_folder, SIZE).samples
    app = decode_chunk([os.fspath(sample.path) for sample in samples], SIZE)
    np.testing.assert_array_equal(np.load(out), app.pixels.astype(np.float32))
