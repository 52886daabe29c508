"""MobileNet V2 as a Keras 3 model of built-in layers, carrying a TF-Slim checkpoint's values.

`build_keras_model` interprets the same layer table as the TF-Slim graph and the SavedModel
(`nets.architecture.resolve` / `conv_units`) with stock Keras layers only, so the `.keras` file
of `keras_file_bytes` loads with `keras.saving.load_model(path)` in safe mode, without
custom objects and without this project, on any Keras 3 backend (TensorFlow, JAX).

What a user relies on (docs/keras3.md):
- input float32 [batch, S, S, 3] in [0, 1], mapped to [-1, 1] inside (as the hub modules);
  output `logits` [batch, 1001] or `feature_vector` [batch, C];
- layer names are TF-Slim scopes with "/" spelled "." (Keras 3 rejects "/" in names):
  `MobilenetV2/expanded_conv_3/depthwise` is the layer `MobilenetV2.expanded_conv_3.depthwise`
  and its batch norm `MobilenetV2.expanded_conv_3.depthwise.BatchNorm`; TF-Slim scopes never
  contain ".", so the mapping is reversible (`keras_weight_path`, `slim_variable_name`);
- fine-tuning as the hub modules: batch norm with epsilon 1e-3 and momentum 0.99, dropout
  (keep 0.8) before the logits, and TF-Slim's weight decay as `keras.regularizers.L2` on the
  ordinary conv kernels and the logits, never on depthwise kernels.

One difference from TF-Slim and the SavedModel cannot be removed with built-in layers: in
training, Keras' BatchNormalization averages the biased batch variance (divided by n) into
the moving variance, while TF's fused batch norm averages the Bessel-corrected one (divided
by n - 1), n being batch x height x width of the layer (tested; see docs/keras3.md).
"""

import datetime
import io
import json
import os
import stat
import tempfile
from typing import Mapping
import zipfile

import keras
import numpy as np

from export.core import options
from export.formats import keras as keras_format
from nets import architecture
from nets import variants

INPUT_NAME = "inputs"
# The output layers are named as the SavedModel's serving_default outputs.
OUTPUT_NAMES = {"classification": "logits", "feature_vector": "feature_vector"}
LAYER_NAME_SEPARATOR = "."  # stands for TF-Slim's "/", which Keras 3 names may not contain
# TF-Slim's l2_regularizer(scale) adds scale * sum(w**2) / 2; Keras' L2(l) adds l * sum(w**2).
KERAS_L2_FACTOR = architecture.WEIGHT_DECAY / 2
# 1 - 0.8 is 0.19999999999999996 in binary; 0.2 is the rate meant, and the same in float32.
DROPOUT_RATE = round(1.0 - architecture.DROPOUT_KEEP_PROB, 6)
INPUT_SCALING_NAME = "input_scaling"  # [0, 1] -> [-1, 1]; no TF-Slim counterpart
GLOBAL_POOL_SCOPE = "global_pool"  # below MobilenetV2/, as TF-Slim names its reduce_mean
DROPOUT_SCOPE = "Logits/Dropout"
# Every weight comes from the checkpoint. Loading a .keras builds each layer (running its
# initializers) before reading the weights; random initializers cost seconds there on JAX
# (one XLA compilation per kernel shape: 8.5 s against 2 s with zeros for 0.75/96).
_INITIALIZER = "zeros"
# Keras names TF-Slim's weight variables differently; gamma, beta and the statistics agree.
_KERAS_WEIGHT_NAMES = {"weights": "kernel", "depthwise_weights": "kernel", "biases": "bias"}


# --- names -------------------------------------------------------------------------------
def keras_layer_name(slim_scope: str) -> str:
  """`MobilenetV2/expanded_conv_3/depthwise` -> `MobilenetV2.expanded_conv_3.depthwise`."""
  if LAYER_NAME_SEPARATOR in slim_scope:
    raise ValueError(
      f"TF-Slim scope {slim_scope!r} contains {LAYER_NAME_SEPARATOR!r}; the "
      f"layer-name mapping would not be reversible"
    )
  return slim_scope.replace("/", LAYER_NAME_SEPARATOR)


def slim_scope(keras_layer: str) -> str:
  """The inverse of `keras_layer_name`."""
  return keras_layer.replace(LAYER_NAME_SEPARATOR, "/")


def keras_weight_path(slim_variable: str) -> str:
  """`MobilenetV2/Conv/weights` -> `MobilenetV2.Conv/kernel` (Keras' `Variable.path`)."""
  scope, name = slim_variable.rsplit("/", 1)
  return f"{keras_layer_name(scope)}/{_KERAS_WEIGHT_NAMES.get(name, name)}"


def slim_variable_name(keras_path: str) -> str:
  """`MobilenetV2.expanded_conv.depthwise/kernel` -> `…/depthwise/depthwise_weights`."""
  layer, name = keras_path.rsplit("/", 1)
  scope = slim_scope(layer)
  if name == "kernel":
    # Depthwise convolutions are exactly the conv units whose scope ends in "/depthwise".
    name = "depthwise_weights" if scope.endswith("/depthwise") else "weights"
  elif name == "bias":
    name = "biases"
  return f"{scope}/{name}"


def _name(scope: str) -> str:
  return keras_layer_name(f"{architecture.SCOPE}/{scope}")


# --- the model ---------------------------------------------------------------------------
def build_keras_model(
  values: Mapping[str, np.ndarray],
  spec: variants.ModelSpec,
  batch_norm_momentum: float = options.KERAS_BATCH_NORM_MOMENTUM,
) -> keras.Model:
  """The network as a functional Keras model whose weights are `values` (TF-Slim names).

  `values` holds every variable of the classifier layout, as
  `export.core.checkpoint.model_values(prefix, spec.depth_multiplier).values` gives them; the
  feature vector model leaves the logits out. Raises ValueError naming a bad argument or value.
  """
  options.check_momentum(batch_norm_momentum)
  depth_multiplier, image_size, module_type = (
    spec.depth_multiplier,
    spec.image_size,
    spec.module_type,
  )
  num_classes = spec.num_classes
  specs = architecture.variable_specs(depth_multiplier, num_classes)
  _check_values(values, specs, depth_multiplier)
  inputs = keras.Input((image_size, image_size, 3), dtype="float32", name=INPUT_NAME)
  # The hub modules take [0, 1]; the TF-Slim network was trained on [-1, 1].
  net = keras.layers.Rescaling(
    architecture.INPUT_SCALE, offset=architecture.INPUT_OFFSET, name=INPUT_SCALING_NAME
  )(inputs)
  for layer in architecture.resolve(depth_multiplier):
    block_input = net
    for unit in architecture.conv_units(layer):
      net = _conv_unit(net, unit, batch_norm_momentum)
    if layer.residual:
      net = keras.layers.Add(name=_name(f"{layer.scope}/add"))([net, block_input])
  net = keras.layers.GlobalAveragePooling2D(keepdims=True, name=_name(GLOBAL_POOL_SCOPE))(net)
  if num_classes:
    net = keras.layers.Dropout(DROPOUT_RATE, name=_name(DROPOUT_SCOPE))(net)
    net = keras.layers.Conv2D(
      num_classes,
      1,
      use_bias=True,
      kernel_initializer=_INITIALIZER,
      kernel_regularizer=keras.regularizers.L2(KERAS_L2_FACTOR),
      name=_name(architecture.LOGITS_SCOPE),
    )(net)
  outputs = keras.layers.Flatten(name=OUTPUT_NAMES[module_type])(net)
  model = keras.Model(inputs, outputs, name=f"mobilenet_v2_{module_type}")
  _assign(model, values, specs)
  return model


def _conv_unit(net, unit: architecture.ConvUnit, batch_norm_momentum: float):
  """Conv (no bias) -> BatchNorm -> ReLU6 (none after a block's linear projection)."""
  if unit.kind == "depthwise":
    net = keras.layers.DepthwiseConv2D(
      unit.kernel,
      strides=unit.stride,
      padding="same",
      depth_multiplier=1,
      use_bias=False,
      depthwise_initializer=_INITIALIZER,
      name=_name(unit.scope),
    )(net)
  else:
    net = keras.layers.Conv2D(
      unit.out_channels,
      unit.kernel,
      strides=unit.stride,
      padding="same",
      use_bias=False,
      kernel_initializer=_INITIALIZER,
      kernel_regularizer=keras.regularizers.L2(KERAS_L2_FACTOR),
      name=_name(unit.scope),
    )(net)
  net = keras.layers.BatchNormalization(
    momentum=batch_norm_momentum,
    epsilon=architecture.BATCH_NORM_EPSILON,
    name=_name(f"{unit.scope}/BatchNorm"),
  )(net)
  if unit.activation:
    net = keras.layers.ReLU(max_value=6.0, name=_name(f"{unit.scope}/Relu6"))(net)
  return net


def _check_values(values: Mapping[str, np.ndarray], specs, depth_multiplier) -> None:
  for spec in specs:
    if spec.name not in values:
      raise ValueError(
        f"values: variable {spec.name} is missing (expected shape "
        f"{list(spec.shape)} for depth multiplier {depth_multiplier})"
      )
    shape = tuple(np.shape(values[spec.name]))
    if shape != spec.shape:
      raise ValueError(
        f"values: variable {spec.name} has shape {list(shape)}, expected "
        f"{list(spec.shape)} for depth multiplier {depth_multiplier}"
      )


def _assign(model: keras.Model, values: Mapping[str, np.ndarray], specs) -> None:
  """Gives every Keras weight its TF-Slim value; the two lists must match one to one."""
  by_path = {weight.path: weight for weight in model.weights}
  expected = [keras_weight_path(spec.name) for spec in specs]
  if sorted(by_path) != sorted(expected):
    raise AssertionError(
      f"Keras weights {sorted(set(by_path) ^ set(expected))[:5]} do not map "
      f"to the TF-Slim variables"
    )
  for spec, path in zip(specs, expected):
    weight = by_path[path]
    if weight.trainable != spec.trainable:
      raise AssertionError(
        f"{path}: trainable is {weight.trainable}, TF-Slim's {spec.name} has {spec.trainable}"
      )
    weight.assign(np.asarray(values[spec.name], dtype=np.float32))


# --- the .keras file ---------------------------------------------------------------------
# A .keras file is a zip of metadata.json, config.json and model.weights.h5. Keras stamps each
# member with the current time and metadata.json with "date_saved"; both get fixed values, the
# zip epoch, so the file depends on the model and the Keras version only. Members stay stored
# (uncompressed, as Keras writes them): deflate's output depends on the zlib build.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
DATE_SAVED = datetime.datetime(*ZIP_EPOCH).strftime("%Y-%m-%d@%H:%M:%S")
_MEMBER_MODE = stat.S_IFREG | 0o644  # a regular file, rw-r--r--
_METADATA = "metadata.json"
_CONFIG = "config.json"
_SHARED_OBJECT_ID = "shared_object_id"


def keras_file_bytes(model: keras.Model) -> bytes:
  """The bytes of `model` as a .keras file, reproducibly: a function of the model and the Keras
  (and h5py) version only, with fixed member order, timestamps, permissions and save date."""
  with tempfile.TemporaryDirectory(prefix="keras_model_") as scratch:
    saved = os.path.join(scratch, "model" + keras_format.SUFFIX)
    keras.saving.save_model(model, saved)
    with open(saved, "rb") as stored:
      return normalized_archive(stored.read())


def normalized_archive(content: bytes) -> bytes:
  """The .keras zip `content` with members sorted, epoch timestamps, 0644 modes, stored."""
  output = io.BytesIO()
  with (
    zipfile.ZipFile(io.BytesIO(content)) as source,
    zipfile.ZipFile(output, "w", zipfile.ZIP_STORED) as target,
  ):
    for name in sorted(source.namelist()):
      data = source.read(name)
      if name == _METADATA:
        metadata = json.loads(data)
        metadata["date_saved"] = DATE_SAVED
        data = json.dumps(metadata).encode()
      elif name == _CONFIG:
        data = json.dumps(_renumbered_shared_objects(json.loads(data))).encode()
      member = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
      member.create_system = 3  # Unix, whatever the machine, so that the mode bits are read
      member.external_attr = _MEMBER_MODE << 16
      member.compress_type = zipfile.ZIP_STORED
      target.writestr(member, data)
  return output.getvalue()


def _renumbered_shared_objects(config):
  """`config` with each `shared_object_id` (Keras writes the Python `id()` of an object shared
  by several layers, such as their dtype policy) replaced by 1, 2, … in order of appearance.

  Loading only matches equal ids, so the renumbered file loads into the same sharing.
  """
  numbers = {}

  def renumber(node):
    if isinstance(node, dict):
      renumbered = {}
      for key, value in node.items():
        if key == _SHARED_OBJECT_ID:
          renumbered[key] = numbers.setdefault(value, len(numbers) + 1)
        else:
          renumbered[key] = renumber(value)
      return renumbered
    if isinstance(node, list):
      return [renumber(item) for item in node]
    return node

  return renumber(config)
