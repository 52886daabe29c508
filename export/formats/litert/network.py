"""The inference network as LiteRT models are converted from it: batch norm folded exactly.

The SavedModel's inference function (`export/core/reusable_module.py`) leaves batch norm to be
folded into the kernels when a converter freezes it, and TensorFlow folds it with its own
`Rsqrt` kernel. That kernel is a fast approximation (the CPU's reciprocal-square-root estimate
refined by a Newton step): on this machine 35 % of its results differ from `1 / sqrt(x)` and
its vector and scalar paths disagree with each other, so the folded weights, and with them the
model's bytes, depend on the CPU that converted it. Here the folding is done once, in float64
NumPy with correctly rounded operations only (`*`, `-`, `/`, `sqrt`), and rounded to float32:
the converter receives constants it has nothing left to compute on, and the same checkpoint
gives the same weights on every machine.

The function keeps the SavedModel's interface and structure: float32 images in [0, 1], mapped
to the network's [-1, 1] by `2x - 1` inside (LiteRT MUL and SUB), logits or features. The
mapping stays a separate step rather than being folded into the first convolution (possible
exactly, as `conv_valid(pad(x, 0.5), 2K) - sum(K)`): measured on int8 models, the first
convolution then multiplies its weights' rounding errors by the uncentred [0, 1] pixels and the
agreement with the SavedModel drops (cosine 0.989 instead of 0.994 on the probes).

`activation_ranges` runs the same network in float64 with a summation order fixed by
`nets/numpy_mobilenet_v2.py`, and returns the range of every tensor the converted model
computes, in the model's order: what full-integer quantization is calibrated with.
"""

from concurrent import futures
import dataclasses
import os
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np

from nets import architecture
from nets import numpy_mobilenet_v2 as exact


@dataclasses.dataclass(frozen=True)
class FoldedConv:
  """A convolution with batch norm folded in: `relu6?(conv(x, kernel) + bias)`."""

  scope: str
  kind: str  # "conv" (kernel HWIO) or "depthwise" (kernel [kh, kw, C, 1])
  kernel: np.ndarray  # float32
  bias: np.ndarray  # float32 [out_channels]
  stride: int
  relu6: bool


@dataclasses.dataclass(frozen=True)
class FoldedLayer:
  units: tuple  # of FoldedConv
  residual: bool


@dataclasses.dataclass(frozen=True)
class FoldedNetwork:
  """The inference network of one module, folded; `logits` is None for feature vectors."""

  layers: tuple  # of FoldedLayer; the first unit of the first layer takes [-1, 1] images
  logits_kernel: Optional[np.ndarray]  # float32 [features, classes]
  logits_bias: Optional[np.ndarray]  # float32 [classes]

  @property
  def op_kinds(self) -> list:
    """The LiteRT builtin ops a conversion yields, in execution order."""
    kinds = ["MUL", "SUB"]
    for layer in self.layers:
      kinds += ["CONV_2D" if unit.kind == "conv" else "DEPTHWISE_CONV_2D" for unit in layer.units]
      kinds += ["ADD"] if layer.residual else []
    kinds.append("MEAN")
    return kinds + (["FULLY_CONNECTED"] if self.logits_kernel is not None else [])


def fold(
  values: Mapping[str, np.ndarray], depth_multiplier: float, module_type: str
) -> FoldedNetwork:
  """The folded network of TF-Slim variable values (`export.core.checkpoint.model_values`)."""
  layers = []
  for layer in architecture.resolve(depth_multiplier):
    units = tuple(_fold_unit(values, unit) for unit in architecture.conv_units(layer))
    layers.append(FoldedLayer(units, layer.residual))
  if module_type == "feature_vector":
    return FoldedNetwork(tuple(layers), None, None)
  prefix = f"{architecture.SCOPE}/{architecture.LOGITS_SCOPE}"
  kernel = np.asarray(values[f"{prefix}/weights"], np.float32)
  return FoldedNetwork(
    tuple(layers),
    kernel.reshape(kernel.shape[2:]),
    np.asarray(values[f"{prefix}/biases"], np.float32),
  )


def _fold_unit(values, unit: architecture.ConvUnit) -> FoldedConv:
  prefix = f"{architecture.SCOPE}/{unit.scope}"
  kernel = np.asarray(values[architecture.kernel_spec(unit).name], np.float64)
  gamma, beta, mean, variance = (
    np.asarray(values[f"{prefix}/BatchNorm/{name}"], np.float64)
    for name in architecture.BATCH_NORM_PARAMS + architecture.BATCH_NORM_STATS
  )
  # float32(epsilon) as TensorFlow's batch norm adds it, then exact float64 arithmetic.
  scale = gamma / np.sqrt(variance + np.float64(np.float32(architecture.BATCH_NORM_EPSILON)))
  scale_shape = (1, 1, -1, 1) if unit.kind == "depthwise" else (1, 1, 1, -1)
  return FoldedConv(
    unit.scope,
    unit.kind,
    (kernel * scale.reshape(scale_shape)).astype(np.float32),
    (beta - mean * scale).astype(np.float32),
    unit.stride,
    unit.activation,
  )


# --- the TensorFlow function that is converted -------------------------------------------
def conversion_function(network: FoldedNetwork, image_size: int):
  """(concrete function, trackable): float32 [None, S, S, 3] in [0, 1] -> logits or features.

  Every weight is a constant; the converter fuses each bias and relu6 into its convolution.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def conv(net, unit: FoldedConv):
    kernel, strides = tf.constant(unit.kernel), [1, unit.stride, unit.stride, 1]
    if unit.kind == "depthwise":
      net = tf.nn.depthwise_conv2d(net, kernel, strides, "SAME")
    else:
      net = tf.nn.conv2d(net, kernel, strides, "SAME")
    net = tf.nn.bias_add(net, tf.constant(unit.bias))
    return tf.nn.relu6(net) if unit.relu6 else net

  def infer(images):
    net = images * 2.0 - 1.0
    for layer in network.layers:
      block_input = net
      for unit in layer.units:
        net = conv(net, unit)
      if layer.residual:
        net = net + block_input
    net = tf.reduce_mean(net, axis=[1, 2])
    if network.logits_kernel is None:
      return net
    return tf.matmul(net, tf.constant(network.logits_kernel)) + tf.constant(network.logits_bias)

  spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="inputs")
  function = tf.function(infer, autograph=False, input_signature=[spec])
  return function.get_concrete_function(), tf.Module()


# --- exact activation ranges -------------------------------------------------------------
def activation_ranges(
  network: FoldedNetwork,
  images: Sequence[np.ndarray],
  batch_size: int = 1,
  workers: Optional[int] = None,
) -> np.ndarray:
  """float64 [ops + 1, 2]: (min, max) of the input and of each op's output, in `op_kinds` order.

  Computed over all `images` (float [N, S, S, 3] in [0, 1]) in float64 with a fixed summation
  order, so the ranges are the same bits on every machine. The input's range is [0, 1] by
  definition, whatever the images hold, and so [0, 2] and [-1, 1] after `2x` and `2x - 1`.

  Batches of `batch_size` images run on `workers` threads (default: one per CPU this process
  may use). Minima and maxima do not depend on which batch saw which image, or in what order
  they are combined, once a zero endpoint is made +0 (NumPy may return either zero of a tie).
  """
  images = np.asarray(images)
  batches = [images[start : start + batch_size] for start in range(0, len(images), batch_size)]
  network = _in_float64(network)
  with futures.ThreadPoolExecutor(workers or _usable_cpus()) as pool:
    found = np.stack(list(pool.map(lambda batch: _batch_ranges(network, batch), batches)))
  ranges = np.stack([found[:, :, 0].min(axis=0), found[:, :, 1].max(axis=0)], axis=1) + 0.0
  ranges[:3] = [(0.0, 1.0), (0.0, 2.0), (-1.0, 1.0)]
  return ranges


def exact_outputs(network: FoldedNetwork, images: np.ndarray) -> np.ndarray:
  """float64 [N, K]: the logits or features, computed as `activation_ranges` computes them."""
  *_, outputs = _op_outputs(_in_float64(network), np.asarray(images))
  return outputs


def _in_float64(network: FoldedNetwork) -> FoldedNetwork:
  """The same network with float64 weights (exact conversions), converted once for all batches."""
  layers = tuple(
    FoldedLayer(
      tuple(
        dataclasses.replace(
          unit, kernel=unit.kernel.astype(np.float64), bias=unit.bias.astype(np.float64)
        )
        for unit in layer.units
      ),
      layer.residual,
    )
    for layer in network.layers
  )
  if network.logits_kernel is None:
    return FoldedNetwork(layers, None, None)
  return FoldedNetwork(
    layers, network.logits_kernel.astype(np.float64), network.logits_bias.astype(np.float64)
  )


def _usable_cpus() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batch_ranges(network: FoldedNetwork, images: np.ndarray) -> np.ndarray:
  return np.array([(np.min(output), np.max(output)) for output in _op_outputs(network, images)])


def _op_outputs(network: FoldedNetwork, images: np.ndarray):
  """Yields the input, then the output of each op in `op_kinds` order (float64 arrays)."""
  net = np.asarray(images, np.float64) * 2.0 - 1.0
  yield from (images, images * 2.0, net)
  for layer in network.layers:
    block_input = net
    for unit in layer.units:
      kernel = np.asarray(unit.kernel, np.float64)
      if unit.kind == "depthwise":
        net = exact.depthwise_conv2d(net, kernel, unit.stride)
      else:
        net = exact.conv2d(net, kernel, unit.stride)
      np.add(net, np.asarray(unit.bias, np.float64), out=net)  # a new array: no copy needed
      if unit.relu6:
        np.clip(net, 0.0, 6.0, out=net)
      yield net
    if layer.residual:
      net = net + block_input
      yield net
  n, h, w, c = net.shape
  net = exact.pairwise_mean(net.reshape(n, h * w, c), axis=1)
  yield net
  if network.logits_kernel is not None:
    yield exact.matmul(net, network.logits_kernel) + network.logits_bias
