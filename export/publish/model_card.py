r"""Model cards (TF Hub's Markdown documentation pages) of the regenerated modules.

`render(variant, module_type, version)` returns the card of
`google/imagenet/<hub name>/<module type>/<version>`. Every fact in it comes from
`nets.variants` (names, ImageNet figures, checkpoint), `nets.architecture` (widths, classes)
or `export.base.versions` (format, batch-norm momentum, changelog), so a card cannot drift from
the module the exporter writes.

The card's `asset-path` is the archive's path relative to the output root of
`export.publish.hub_layout` (`<handle>/<version>.tar.gz`), i.e. where the archive of exactly this
module lies next to the card.

`python -m export.model_card` prints one (export/model_card.py).
"""

import hashlib
import inspect
from typing import Optional

from export.base import versions as versions_lib
from export.core import labels
from export.publish import card_formats
from export.publish import hub_layout
from nets import architecture
from nets import variants as variants_lib

DATASET = "imagenet-ilsvrc-2012-cls"
NETWORK_ARCHITECTURE = "mobilenet-v2"
MODULE_TYPE_METADATA = {
  "classification": "image-classification",
  "feature_vector": "image-feature-vector",
}
PAPER_TITLE = "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
PAPER_URL = "https://arxiv.org/abs/1801.04381"
HANDLE_URL_PREFIX = "https://tfhub.dev/"
# Layer widths are rounded to multiples of this: make_divisible's default divisor.
_WIDTH_DIVISOR = inspect.signature(architecture.make_divisible).parameters["divisor"].default


def _as_version(version) -> versions_lib.Version:
  number = version.number if isinstance(version, versions_lib.Version) else version
  return versions_lib.producible(number)


# --- sections ------------------------------------------------------------------------------
def _header(variant, module_type, version) -> list:
  kind = (
    "ImageNet classifier"
    if module_type == "classification"
    else "image feature vector trained on ImageNet"
  )
  metadata = (
    ("asset-path", hub_layout.relative_archive_path(variant, module_type, version.number)),
    ("dataset", DATASET),
    ("fine-tunable", "true"),
    ("format", version.hub_format),
    ("module-type", MODULE_TYPE_METADATA[module_type]),
    ("network-architecture", NETWORK_ARCHITECTURE),
  )
  return [
    f"# Module {variant.hub_handle(module_type)}/{version.number}",
    "",
    f"MobileNet V2 {kind} (depth multiplier {variant.multiplier_text}, "
    f"{variant.image_size}x{variant.image_size} input), converted from the TF-Slim checkpoint.",
    "",
    *(f"<!-- {key}: {value} -->" for key, value in metadata),
  ]


def _requirements(version) -> list:
  if not version.tf2_saved_model:
    raise ValueError(f"version {version.number} is not a TF2 SavedModel")  # not producible
  return [
    "## TF2 SavedModel",
    "",
    "This module is a SavedModel in the TensorFlow 2 format. Loading it needs TensorFlow 2 "
    "and the `tensorflow_hub` library (`hub.load()` or `hub.KerasLayer`). `hub.KerasLayer` "
    "is a Keras 2 layer: from TensorFlow 2.16 on, install `tf_keras` and build the model "
    "with it (or set `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported).",
  ]


def _last_layer_sentence(variant) -> str:
  """States the last-conv rule as it applies to this multiplier."""
  *_, full = architecture.HEAD
  features = architecture.num_features(variant.depth_multiplier)
  if variant.depth_multiplier < 1.0:
    return (
      f"The multiplier is not applied to the last 1x1 convolution: below 1.0 it keeps "
      f"all {full} channels, so the features stay as wide as the full network's."
    )
  if variant.depth_multiplier > 1.0:
    return (
      f"Above 1.0 the last 1x1 convolution is scaled as well, from {full} to {features} channels."
    )
  return f"At 1.0 the last 1x1 convolution has its full {full} channels."


def _overview(variant, module_type) -> list:
  *_, base_stem = architecture.STEM
  stem = architecture.resolve(variant.depth_multiplier)[0].out_channels
  stem_note = (
    f"; here the first convolution has {stem} channels instead of {base_stem}"
    if stem != base_stem
    else ""
  )
  figures = (
    ("Multiply-accumulates per image", f"{variant.macs_millions} million"),
    ("Parameters (without batch norm)", f"{variant.params_millions:.2f} million"),
    ("Top-1 accuracy", f"{variant.top1:.1f} %"),
    ("Top-5 accuracy", f"{variant.top5:.1f} %"),
  )
  lines = [
    "## Overview",
    "",
    f"MobileNet V2 is a family of small, fast image networks built from inverted residual "
    f'blocks with linear bottlenecks, from the paper ["{PAPER_TITLE}"]({PAPER_URL}) by '
    f"Sandler et al. (2018).",
    "",
    f"This module is the variant with depth multiplier {variant.multiplier_text} and input "
    f"size {variant.image_size}x{variant.image_size}. The depth multiplier scales the "
    f"number of channels of every layer, and each scaled width is rounded to the nearest "
    f"multiple of {_WIDTH_DIVISOR} (upwards when the nearest one would lose too much "
    f"width){stem_note}. " + _last_layer_sentence(variant),
    "",
    "TF-Slim reports these figures for the classifier on the ImageNet (ILSVRC-2012-CLS) "
    "validation set:",
    "",
    "| | |",
    "|---|---|",
    *(f"| {name} | {value} |" for name, value in figures),
  ]
  if module_type == "feature_vector":
    lines += ["", "The feature vector module is the same network without the logits layer."]
  return lines


def _training(variant, module_type) -> list:
  lines = [
    "## Training",
    "",
    f"The weights are those of the checkpoint `{variant.checkpoint_name}` from the "
    f"TF-Slim release (archive {variant.archive_url}), trained on ImageNet "
    f"(ILSVRC-2012-CLS). As in TF-Slim's evaluation, each trainable weight is exported as "
    f"its exponential moving average, which the checkpoint stores beside the raw value, "
    f"and the batch-norm layers use the checkpoint's moving mean and variance.",
  ]
  if module_type == "feature_vector":
    lines[-1] += " The logits layer of the checkpoint is not exported."
  return lines


def _keras3_usage(variant, module_type, version) -> list:
  size = variant.image_size
  keras_file = hub_layout.relative_keras_path(variant, module_type).rsplit("/", 2)[-1]
  endpoint = "serving_default" if version.serving_signature else "__call__"
  return [
    "## Usage",
    "",
    *_io_description(variant, module_type),
    "",
    "### Keras 3",
    "",
    "Keras 3 is TensorFlow's default Keras (`tf.keras` since TensorFlow 2.16). The module's "
    "Keras 3 file holds the same weights as this SavedModel in built-in Keras layers, so it "
    "loads on the TensorFlow and JAX backends without custom objects and fine-tunes like the "
    "module:",
    "",
    "```python",
    "import keras",
    "",
    f'model = keras.saving.load_model("{keras_file}")',
    f"outputs = model.predict(images)  # images: float32 [batch_size, {size}, {size}, 3] in [0, 1]",
    "```",
    "",
    f"In the regenerated layout it lies beside this card, in `{hub_layout.KERAS_DIR}/`. In a "
    f"Keras 3 model this SavedModel serves inference through "
    f'`keras.layers.TFSMLayer(path, call_endpoint="{endpoint}")`; to fine-tune in Keras 3, use '
    f"the Keras file.",
  ]


def _io_description(variant, module_type) -> list:
  size = variant.image_size
  lines = [
    f"The input is a float32 batch of RGB images, shape [batch_size, {size}, {size}, 3], "
    f"with values in [0, 1]; the module rescales them to the range the network was trained "
    f"on. The size {size}x{size} is fixed, so resize images first.",
    "",
  ]
  if module_type == "classification":
    lines.append(
      f"The output is a batch of logits, shape [batch_size, {architecture.NUM_CLASSES}], "
      f'without softmax. Index 0 is a "background" class, indices 1 to '
      f"{architecture.NUM_CLASSES - 1} are the ImageNet classes; their names, in that "
      f"order, are in `{labels.LABELS_FILE_NAME}`, shipped in the module's `assets/` directory."
    )
  else:
    features = architecture.num_features(variant.depth_multiplier)
    lines.append(
      f"The output is a batch of feature vectors, shape [batch_size, {features}]: the "
      f"global average pool of the last convolution, ready for a new classifier on top."
    )
  return lines


def _tf_hub_usage(variant, module_type, version) -> list:
  size = variant.image_size
  handle = f"{HANDLE_URL_PREFIX}{variant.hub_handle(module_type)}/{version.number}"
  lines = [
    "### TF Hub (tf_keras)",
    "",
    "For existing code built on `tf_keras` (Keras 2), `hub.KerasLayer` loads the SavedModel:",
    "",
    "```python",
    "import tensorflow_hub as hub",
    "import tf_keras",
    "",
    "model = tf_keras.Sequential([",
    f'    hub.KerasLayer("{handle}"),',
    "])",
    f"model.build([None, {size}, {size}, 3])  # batch, height, width, RGB",
    "```",
  ]
  if version.serving_signature:
    lines += [
      "",
      "The SavedModel also has a `serving_default` signature, for serving it "
      "without Python code (for example with TensorFlow Serving).",
    ]
  return lines


MEASURED_BEGIN, MEASURED_END = card_formats.MEASURED_BEGIN, card_formats.MEASURED_END


def static_sha256(path: str) -> str:
  """sha256 of a card without its measured figures: what a regeneration must reproduce."""
  with open(path, encoding="utf-8") as card:
    text = card.read()
  while MEASURED_BEGIN in text:
    start = text.index(MEASURED_BEGIN)
    text = text[:start] + text[text.index(MEASURED_END, start) + len(MEASURED_END) :]
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fine_tuning(version) -> list:
  lines = [
    "## Fine-tuning",
    "",
    "Pass `trainable=True` to `hub.KerasLayer` to fine-tune the module's weights together "
    "with a new model. With few training images this overfits easily: use a small "
    "learning rate, watch the validation accuracy, and consider training only the new "
    "layers first.",
    "",
    f"While training, the batch-norm layers update their moving statistics with momentum "
    f"{version.batch_norm_momentum_default} by default.",
  ]
  if version.momentum_configurable:
    lines[-1] += (
      f" For long training runs a higher momentum, such as TF-Slim's "
      f"{architecture.SLIM_BATCH_NORM_DECAY}, can work better; pass it as an "
      f"argument:"
    )
    lines += [
      "",
      "```python",
      f"hub.KerasLayer(handle, trainable=True, "
      f"arguments=dict(batch_norm_momentum={architecture.SLIM_BATCH_NORM_DECAY}))",
      "```",
    ]
  return lines


def _changelog(version) -> list:
  lines = ["## Changelog"]
  for entry in versions_lib.changelog_until(version.number):
    lines += ["", f"#### Version {entry.number}", ""]
    lines += [f"* {change}" for change in entry.changes]
  return lines


def render(
  variant: variants_lib.Variant,
  module_type: str,
  version,
  litert: Optional[dict] = None,
  onnx: Optional[dict] = None,
  tfjs: Optional[dict] = None,
  **other_formats,
) -> str:
  """The Markdown card of `<variant.hub_handle(module_type)>/<version>`.

  `version` is a number or a `versions.Version`; ValueError for an unknown module type or a
  version this pipeline does not produce. `litert` (type -> the regeneration manifest's entry
  of each LiteRT model made with this version) adds their section, `onnx` and `tfjs` (the
  same, of each ONNX and TF.js model) theirs; the files of other formats made with it
  (`other_formats`, by format name) have none yet.
  """
  del other_formats
  architecture.validate(module_type=module_type)
  version = _as_version(version)
  sections = (
    _header(variant, module_type, version),
    _requirements(version),
    _overview(variant, module_type),
    _training(variant, module_type),
    _keras3_usage(variant, module_type, version),
    _tf_hub_usage(variant, module_type, version),
    *([card_formats.litert(litert, variant, module_type, version)] if litert else []),
    *([card_formats.onnx(variant, module_type, onnx)] if onnx else []),
    *([card_formats.tfjs(tfjs, variant, version)] if tfjs else []),
    _fine_tuning(version),
    _changelog(version),
  )
  return "\n\n".join("\n".join(section) for section in sections) + "\n"
