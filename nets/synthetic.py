"""Synthetic TF-Slim MobileNet V2 checkpoints' values: the released layout, random weights.

`checkpoint_values(depth_multiplier, image_size, seed)` gives every entry a released
`mobilenet_v2_<m>_<s>.ckpt` holds (every model variable, an ExponentialMovingAverage shadow
and two RMSProp slots per trainable variable, `global_step`), so that the export and
verification paths can run without the real archives; export/testing/synthetic_checkpoint.py
writes them as a checkpoint. The weights are random; only their scale is realistic. The
shadows hold the "evaluation" weights, the raw variables differ from them slightly, and the
batch-norm statistics are calibrated on synthetic images so activations neither vanish nor
explode. NumPy only: no TensorFlow, no files.
"""

import math
import numbers

import numpy as np

from nets import architecture
from nets import numpy_mobilenet_v2

# TF1's RMSPropOptimizer creates the mean-square slot first, then the momentum slot.
RMS_SLOT = "RMSProp"
MOMENTUM_SLOT = "RMSProp_1"
GLOBAL_STEP = "global_step"

CALIBRATION_BATCH = 16  # images whose batch statistics become the moving statistics
# Raw = EMA + noise of 0.2 % of the tensor's RMS. A random network is far more sensitive to
# weight noise than a trained one: this already moves the logits by about a tenth of their
# spread and changes the top class of roughly one input in five.
RAW_PERTURBATION = 0.002
RELU_BETA = 1.0  # mean beta of the batch norms followed by relu6
LOGITS_SPREAD = 2.0  # std of a logit across inputs
LOGITS_OFFSET = 1.0  # std of the per-class offset of the logits
VARIANCE_FLOOR = 1e-4  # keeps a (theoretically possible) constant channel's variance positive


def checkpoint_keys(depth_multiplier: float, num_classes: int = architecture.NUM_CLASSES) -> dict:
  """Name -> shape of every entry of a synthetic checkpoint (as the released checkpoints)."""
  keys = {GLOBAL_STEP: ()}
  for spec in architecture.variable_specs(depth_multiplier, num_classes):
    keys[spec.name] = spec.shape
    if spec.trainable:
      for extra in (
        architecture.ema_name(spec.name),
        f"{spec.name}/{RMS_SLOT}",
        f"{spec.name}/{MOMENTUM_SLOT}",
      ):
        keys[extra] = spec.shape
  return keys


def check_arguments(depth_multiplier, image_size, seed) -> None:
  """ValueError naming the first bad argument."""
  architecture.validate(depth_multiplier=depth_multiplier, image_size=image_size)
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
    raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


# --- values ------------------------------------------------------------------------------
# Every stored value is a pure function of (multiplier, size, seed) on any machine: numbers
# come from the PCG64 bit stream through `Generator.random` (exact multiples of 2**-53), and
# everything after that is elementwise IEEE-754 arithmetic (+, -, *, /, sqrt) in an order the
# code fixes, including the calibrating forward pass (nets/numpy_mobilenet_v2.py). No
# transcendental function, BLAS call, TensorFlow kernel or library-ordered reduction touches
# a value, so neither the CPU's instruction set nor thread counts nor oneDNN can change a bit.
def checkpoint_values(depth_multiplier: float, image_size: int, seed: int = 0) -> dict:
  """Every checkpoint entry (see `checkpoint_keys`) as a numpy array, from `seed`."""
  check_arguments(depth_multiplier, image_size, seed)
  weights_rng, images_rng, head_rng, state_rng = (
    np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
  )
  body_specs = architecture.variable_specs(depth_multiplier, num_classes=None)
  ema = {spec.name: _body_value(spec, weights_rng) for spec in body_specs}
  images = smooth_images(images_rng, CALIBRATION_BATCH, image_size)
  statistics, features = _calibrate(depth_multiplier, ema, images)
  ema.update(statistics)
  head_weights, head_biases = _logits_head(features, architecture.NUM_CLASSES, head_rng)
  logits = f"{architecture.SCOPE}/{architecture.LOGITS_SCOPE}"
  ema[f"{logits}/weights"] = head_weights
  ema[f"{logits}/biases"] = head_biases
  return _training_state(architecture.variable_specs(depth_multiplier), ema, state_rng)


_SQRT_3 = math.sqrt(3.0)


def _normal(rng, shape) -> np.ndarray:
  """Approximately standard normal values: the centred sum of four uniforms, scaled to unit
  variance (Irwin-Hall). Unlike `Generator.standard_normal`, whose ziggurat calls the C
  library's exp and log, this is exact arithmetic on the bit stream."""
  shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
  u = rng.random((4,) + shape)
  return ((u[0] + u[1]) + (u[2] + u[3]) - 2.0) * _SQRT_3


def _truncated_normal(rng, shape, stddev: float) -> np.ndarray:
  """Values redrawn until within two standard deviations, as TF's initializer."""
  values = _normal(rng, shape)
  outside = np.abs(values) > 2
  while outside.any():
    values[outside] = _normal(rng, int(outside.sum()))
    outside = np.abs(values) > 2
  return values * stddev


def _body_value(spec: architecture.VariableSpec, rng) -> np.ndarray:
  """A realistic initial value; moving statistics are placeholders until calibrated."""
  if spec.role == "kernel":
    kernel_h, kernel_w, c_in, _ = spec.shape
    # He scaling for convs followed by relu6; the linear projections get half the variance.
    gain = 1.0 if "/project/" in spec.name else 2.0
    value = _truncated_normal(rng, spec.shape, math.sqrt(gain / (kernel_h * kernel_w * c_in)))
  elif spec.role == "depthwise_kernel":
    value = _depthwise_kernel(spec.shape, rng)
  elif spec.role == "gamma":
    value = 1.0 + _truncated_normal(rng, spec.shape, 0.1)
  elif spec.role == "beta":
    # A positive shift keeps most relu6 units in their linear range, as in trained networks;
    # centred at zero, the random network is chaotic (tiny weight or input changes, such as
    # the raw-versus-EMA gap, would scramble its outputs).
    shift = 0.0 if "/project/" in spec.name else RELU_BETA
    value = shift + _truncated_normal(rng, spec.shape, 0.05)
  elif spec.role == "moving_variance":
    value = np.ones(spec.shape)
  else:
    value = np.zeros(spec.shape)
  return value.astype(np.float32)


# A centre-weighted 3x3 blur with the energy of unit-variance noise: its squares sum to 9.
_BLUR = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 2.0


def _depthwise_kernel(shape, rng) -> np.ndarray:
  """Half a centre-weighted blur, half noise, at He scale.

  Trained depthwise kernels are mostly smooth; purely random ones make the random network
  chaotic: a change of 0.1 % in the input would move the logits by half a unit.
  """
  noise = _truncated_normal(rng, shape, 1.0)
  return (_BLUR[:, :, None, None] + noise) * (math.sqrt(2.0 / _BLUR.size) * math.sqrt(0.5))


def smooth_images(rng, count: int, size: int) -> np.ndarray:
  """`count` smooth, distinct NHWC float32 images in [-1, 1].

  Each channel is a 5x5 grid of random levels, interpolated bilinearly to the full size, plus
  a colour cast per image, squashed into [-1, 1] by x / (1 + |x|): smooth like photographs,
  and made with exact arithmetic only (no sine or tanh, whose last bits differ between
  machines).
  """
  grid = rng.uniform(-2.0, 2.0, (count, 5, 5, 3)) + rng.uniform(-0.5, 0.5, (count, 1, 1, 3))
  position = np.arange(size) * (4.0 / max(size - 1, 1))
  low = np.minimum(position.astype(np.int64), 3)
  fraction = (position - low)[None, :, None, None]
  rows = grid[:, low] * (1.0 - fraction) + grid[:, low + 1] * fraction
  fraction = fraction.reshape(1, 1, size, 1)
  images = rows[:, :, low] * (1.0 - fraction) + rows[:, :, low + 1] * fraction
  return (images / (1.0 + np.abs(images))).astype(np.float32)


def _calibrate(depth_multiplier: float, body: dict, images: np.ndarray):
  """Batch-norm statistics of `images` under the `body` weights, and the pooled features.

  The network runs once in training mode, as a TF-Slim training step with batch-norm decay 0
  would: each moving statistic becomes the batch statistic its layer sees, so inference on
  such inputs normalizes every layer as training did.
  """
  features, statistics = numpy_mobilenet_v2.mobilenet_v2(
    images, body, depth_multiplier, num_classes=None, training=True
  )
  values = {name: value.astype(np.float32) for name, value in statistics.items()}
  for name, value in values.items():
    if name.endswith("/moving_variance"):
      values[name] = np.maximum(value, np.float32(VARIANCE_FLOOR))
  return values, features


def _logits_head(features: np.ndarray, num_classes: int, rng):
  """Logits weights scaled so logits spread by a few units across inputs, and biases that
  centre them (plus a random per-class offset)."""
  mean = numpy_mobilenet_v2.pairwise_mean(features)
  weights = _normal(rng, (features.shape[1], num_classes))
  centred = numpy_mobilenet_v2.matmul(features - mean, weights)
  spread = math.sqrt(float(numpy_mobilenet_v2.pairwise_mean(np.square(centred).ravel())))
  weights *= LOGITS_SPREAD / max(spread, 1e-6)
  offsets = LOGITS_OFFSET * _normal(rng, num_classes)
  biases = offsets - numpy_mobilenet_v2.matmul(mean[None, :], weights)[0]
  return (weights.reshape((1, 1) + weights.shape).astype(np.float32), biases.astype(np.float32))


def _rms(value: np.ndarray) -> float:
  squares = np.square(value.astype(np.float64)).ravel()
  return math.sqrt(float(numpy_mobilenet_v2.pairwise_mean(squares)))


def _training_state(specs: list, ema: dict, rng) -> dict:
  """The checkpoint entries: raw variables, EMA shadows, RMSProp slots, global_step."""
  entries = {}
  for spec in specs:
    value = ema[spec.name]
    if not spec.trainable:
      entries[spec.name] = value
      continue
    scale = _rms(value) or 1.0
    noise = _normal(rng, value.shape)
    entries[spec.name] = (value + RAW_PERTURBATION * scale * noise).astype(np.float32)
    entries[architecture.ema_name(spec.name)] = value
    # Mean squares of gradients (positive) and a momentum, both small next to the weights.
    gradient = 0.01 * scale * (0.25 + np.abs(_normal(rng, value.shape)))
    entries[f"{spec.name}/{RMS_SLOT}"] = np.square(gradient).astype(np.float32)
    entries[f"{spec.name}/{MOMENTUM_SLOT}"] = (1e-3 * scale * _normal(rng, value.shape)).astype(
      np.float32
    )
  entries[GLOBAL_STEP] = np.int64(rng.integers(1_000_000, 2_000_000))
  return entries
