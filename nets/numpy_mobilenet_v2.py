"""MobileNet V2 in float64 NumPy, summed in an order fixed by this code: the same bits anywhere.

The third interpreter of `nets.architecture` (beside the TF-Slim graph and the TF2 module),
for what must be a pure function of its inputs: the batch-norm statistics of synthetic
checkpoints and the committed golden outputs. TensorFlow's kernels (and BLAS) choose their
summation order by CPU instruction set, thread count and oneDNN setting, so their last bits
vary between machines. Here every value comes from elementwise IEEE-754 operations (+, -, *,
/, sqrt, each correctly rounded) applied in an order the code fixes:

  convolutions   one kernel tap and one input channel at a time, accumulated in that order;
  reductions     pairwise halving over the reduced axis (`pairwise_sum`);

and nothing calls a transcendental function, a BLAS routine or a reduction whose order the
library chooses. Two runs on any IEEE-754 machine therefore agree bit for bit. The inner
loops (`matmul` and the convolutions' taps) run compiled (`nets/exact_kernels.py`, the same
operation sequence); the rest is elementwise NumPy.

Inputs are NHWC images in [-1, 1], like the TF-Slim network's. Dropout is never applied.
"""

from typing import Mapping
from typing import Optional

import numpy as np

from nets import architecture


def pairwise_sum(values: np.ndarray, axis: int = 0) -> np.ndarray:
  """The sum over `axis` by repeated halving: (v0 + v1) + (v2 + v3) + …, an order fixed here."""
  values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
  if values.shape[0] == 0:
    return np.zeros(values.shape[1:])
  while values.shape[0] > 1:
    if values.shape[0] % 2:  # adding an exact zero changes no value
      values = np.concatenate([values, np.zeros_like(values[:1])])
    values = values[0::2] + values[1::2]
  return values[0]


def pairwise_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
  return pairwise_sum(values, axis) / np.moveaxis(np.asarray(values), axis, 0).shape[0]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """a [M, K] @ b [K, N], accumulated over k = 0, 1, … in that order."""
  from nets import exact_kernels  # pylint: disable=g-import-not-at-top  (Numba: a 1 s import)

  return exact_kernels.matmul(a, b)


def _padding(size: int, kernel: int, stride: int):
  """(output size, zero rows before) of SAME padding: the odd pixel goes after (bottom, right)."""
  out_size = -(-size // stride)
  total = max((out_size - 1) * stride + kernel - size, 0)
  return out_size, total // 2


def conv2d(net: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
  """SAME convolution of NHWC `net` with an HWIO `kernel`.

  Per kernel tap (dy, dx), row-major, each output is `matmul`'s sum over input channels; the
  output is the first tap's sum plus each further tap's, padding pixels included as zeros.
  """
  from nets import exact_kernels  # pylint: disable=g-import-not-at-top

  if kernel.shape[:2] == (1, 1) and stride == 1:
    n, h, w, c = net.shape
    return matmul(net.reshape(n * h * w, c), kernel[0, 0]).reshape(n, h, w, kernel.shape[3])
  out_size, before = _padding(net.shape[1], kernel.shape[0], stride)
  return exact_kernels.conv2d(net, kernel, stride, before, out_size)


def depthwise_conv2d(net: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
  """SAME depthwise convolution (channel multiplier 1) with a [kh, kw, C, 1] `kernel`.

  Each output is the first tap's product plus each further tap's, taps in row-major order.
  """
  from nets import exact_kernels  # pylint: disable=g-import-not-at-top

  out_size, before = _padding(net.shape[1], kernel.shape[0], stride)
  return exact_kernels.depthwise(net, kernel[:, :, :, 0], stride, before, out_size)


def _moments(net: np.ndarray):
  """Per-channel mean and (biased) variance over batch, height and width."""
  flat = net.reshape(-1, net.shape[-1])
  mean = pairwise_mean(flat)
  variance = pairwise_mean(np.square(flat - mean))
  return mean, variance, flat.shape[0]


def _batch_norm(net, values, scope: str, training: bool, statistics: dict):
  gamma, beta, moving_mean, moving_variance = (
    np.asarray(values[f"{scope}/BatchNorm/{name}"], dtype=np.float64)
    for name in architecture.BATCH_NORM_PARAMS + architecture.BATCH_NORM_STATS
  )
  if training:
    mean, variance, count = _moments(net)
    # What one step of TF-Slim's fused batch norm with decay 0 leaves in the moving statistics:
    # the batch mean and the Bessel-corrected batch variance.
    statistics[f"{scope}/BatchNorm/moving_mean"] = mean
    statistics[f"{scope}/BatchNorm/moving_variance"] = variance * count / max(count - 1, 1)
  else:
    mean, variance = moving_mean, moving_variance
  return (net - mean) / np.sqrt(variance + architecture.BATCH_NORM_EPSILON) * gamma + beta


def mobilenet_v2(
  images: np.ndarray,
  values: Mapping[str, np.ndarray],
  depth_multiplier: float,
  num_classes: Optional[int] = architecture.NUM_CLASSES,
  training: bool = False,
):
  """(output float64 [N, K], batch statistics) of NHWC `images` in [-1, 1].

  `values` maps TF-Slim variable names to arrays (the classifier layout; the logits are not
  needed without `num_classes`). With `training`, batch norm normalizes with each batch's
  statistics, which are returned under the moving statistics' names (mean, and variance with
  Bessel's correction, as TF-Slim's update with decay 0 stores them); otherwise with the
  moving statistics in `values`, and the returned dict is empty. The output is the logits,
  or the global-pool features when `num_classes` is None or 0.
  """
  statistics = {}
  net = np.asarray(images, dtype=np.float64)
  for layer in architecture.resolve(depth_multiplier):
    block_input = net
    for unit in architecture.conv_units(layer):
      scope = f"{architecture.SCOPE}/{unit.scope}"
      if unit.kind == "depthwise":
        net = depthwise_conv2d(net, values[f"{scope}/depthwise_weights"], unit.stride)
      else:
        net = conv2d(net, values[f"{scope}/weights"], unit.stride)
      net = _batch_norm(net, values, scope, training, statistics)
      if unit.activation:
        net = np.clip(net, 0.0, 6.0)
    if layer.residual:
      net = net + block_input
  n, h, w, c = net.shape
  features = pairwise_mean(net.reshape(n, h * w, c), axis=1)
  if not num_classes:
    return features, statistics
  logits = f"{architecture.SCOPE}/{architecture.LOGITS_SCOPE}"
  kernel = np.asarray(values[f"{logits}/weights"], dtype=np.float64)
  return matmul(features, kernel.reshape(kernel.shape[2:])) + values[f"{logits}/biases"], statistics
