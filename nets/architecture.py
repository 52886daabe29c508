"""MobileNet V2 as data: the layer table and its resolution for a depth multiplier.

`V2_STAGES` is the paper's table (expansion, channels, repeats, first stride); `resolve()`
turns it into one `Layer` per op with concrete channel counts, which every execution path
(the TF-Slim graph in `nets.mobilenet_v2`, the TF2 network in `export.core.network`) interprets,
and from which the variable layout, parameter and MAC counts are derived.
"""

import dataclasses
import math
import numbers
from typing import Optional

NUM_CLASSES = 1001
SCOPE = "MobilenetV2"
LOGITS_SCOPE = "Logits/Conv2d_1c_1x1"
BATCH_NORM_EPSILON = 0.001
WEIGHT_DECAY = 0.00004
DROPOUT_KEEP_PROB = 0.8
# The momentum the TF-Slim training scope uses; TF Hub's modules default to 0.99 (version 3).
SLIM_BATCH_NORM_DECAY = 0.997

STEM = ("Conv", 3, 2, 32)  # scope, kernel, stride, channels at multiplier 1.0
# (expansion, channels at multiplier 1.0, repeats, stride of the first repeat)
V2_STAGES = (
  (1, 16, 1, 1),
  (6, 24, 2, 2),
  (6, 32, 3, 2),
  (6, 64, 4, 2),
  (6, 96, 3, 1),
  (6, 160, 3, 2),
  (6, 320, 1, 1),
)
HEAD = ("Conv_1", 1, 1, 1280)

# TF Hub's module types: the classifier, and the same network without its logits layer.
MODULE_TYPES = ("classification", "feature_vector")

# TF Hub's image modules take [0, 1]; the TF-Slim network was trained on [-1, 1].
INPUT_SCALE, INPUT_OFFSET = 2.0, -1.0


def network_input(images):
  """[0, 1] images (NumPy or TensorFlow) as the network's [-1, 1] input: x * 2 - 1.

  Written as a subtraction, the op the published SavedModels were traced with."""
  return images * INPUT_SCALE - (-INPUT_OFFSET)


def validate(depth_multiplier=None, image_size=None, module_type=None) -> None:
  """Checks what is given; ValueError with the message users see. The one place these rules
  live: `variants.ModelSpec` checks a network with it when made; the synthetic checkpoints,
  the probe images and the module-type lookups check their single values."""
  if depth_multiplier is not None and (
    isinstance(depth_multiplier, bool)
    or not isinstance(depth_multiplier, numbers.Real)
    or not math.isfinite(depth_multiplier)
    or depth_multiplier <= 0
  ):
    raise ValueError(f"depth multiplier must be a positive number, got {depth_multiplier!r}")
  if image_size is not None and (
    isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size <= 0
  ):
    raise ValueError(f"image size must be a positive whole number of pixels, got {image_size!r}")
  if module_type is not None and module_type not in MODULE_TYPES:
    raise ValueError(f"module type must be one of {', '.join(MODULE_TYPES)}, got {module_type!r}")


def num_classes(module_type: str) -> Optional[int]:
  """The logits layer's width, or None: a feature_vector module has no head."""
  validate(module_type=module_type)
  return None if module_type == "feature_vector" else NUM_CLASSES


def make_divisible(value: float, divisor: int = 8, min_value: int = 8) -> int:
  """TF-Slim's rounding: to the nearest multiple of 8, never down by more than 10 %."""
  rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
  if rounded < 0.9 * value:
    rounded += divisor
  return rounded


@dataclasses.dataclass(frozen=True)
class Layer:
  """One op of the resolved network: a plain conv (`expanded is None` and `depthwise` False)
  or an inverted-residual block."""

  scope: str
  kind: str  # "conv" or "block"
  in_channels: int
  out_channels: int
  stride: int
  kernel: int = 1  # plain convs only; block depthwise kernels are always 3x3
  expanded: Optional[int] = None  # channels after the block's 1x1 expansion, None when absent

  @property
  def residual(self) -> bool:
    return self.kind == "block" and self.stride == 1 and self.in_channels == self.out_channels

  @property
  def depthwise_channels(self) -> int:
    return self.expanded or self.in_channels


def resolve(depth_multiplier: float) -> tuple:
  """The 19 layers (`layer_1` … `layer_19`) with channel counts for `depth_multiplier`."""
  validate(depth_multiplier=depth_multiplier)

  def scaled(channels):
    return make_divisible(channels * depth_multiplier)

  scope, kernel, stride, channels = STEM
  layers = [Layer(scope, "conv", 3, scaled(channels), stride, kernel)]
  for expansion, channels, repeats, first_stride in V2_STAGES:
    for repeat in range(repeats):
      index = len(layers) - 1
      in_channels = layers[-1].out_channels
      expanded = make_divisible(in_channels * expansion)
      layers.append(
        Layer(
          scope=f"expanded_conv_{index}" if index else "expanded_conv",
          kind="block",
          in_channels=in_channels,
          out_channels=scaled(channels),
          stride=first_stride if repeat == 0 else 1,
          kernel=3,
          expanded=expanded if expanded > in_channels else None,
        )
      )
  scope, kernel, stride, channels = HEAD
  # "Finegrain classification mode": multipliers below 1 leave the last conv at full width.
  head_channels = scaled(channels) if depth_multiplier > 1.0 else channels
  layers.append(Layer(scope, "conv", layers[-1].out_channels, head_channels, stride, kernel))
  return tuple(layers)


def num_features(depth_multiplier: float) -> int:
  """Size of the global-pool feature vector."""
  return resolve(depth_multiplier)[-1].out_channels


def spatial_sizes(image_size: int) -> list:
  """Output height (= width) of each layer under SAME padding."""
  sizes, size = [], image_size
  for layer in resolve(1.0):
    size = math.ceil(size / layer.stride)
    sizes.append(size)
  return sizes


# --- the variable layout -----------------------------------------------------------------
BATCH_NORM_PARAMS = ("gamma", "beta")
# Training kept an exponential moving average of every trainable variable under this suffix.
EMA_SUFFIX = "/ExponentialMovingAverage"


def ema_name(name: str) -> str:
  return name + EMA_SUFFIX


BATCH_NORM_STATS = ("moving_mean", "moving_variance")


@dataclasses.dataclass(frozen=True)
class VariableSpec:
  name: str  # full TF-Slim name, without ":0"
  shape: tuple
  trainable: bool
  role: (
    str  # "kernel", "depthwise_kernel", "bias", "beta", "gamma", "moving_mean", "moving_variance"
  )

  @property
  def regularized(self) -> bool:
    """Weight decay applies to ordinary conv kernels only (logits included)."""
    return self.role == "kernel"


@dataclasses.dataclass(frozen=True)
class ConvUnit:
  """A convolution followed by batch norm: the unit every layer is made of."""

  scope: str  # below MobilenetV2/, e.g. "expanded_conv_1/expand"
  kind: str  # "conv" or "depthwise"
  kernel: int
  stride: int
  in_channels: int
  out_channels: int
  activation: bool  # relu6 after batch norm; False for the linear bottleneck projection


def conv_units(layer: Layer) -> list:
  """The conv + batch-norm units of a layer, in order; a block adds its input when residual."""
  if layer.kind == "conv":
    return [
      ConvUnit(
        layer.scope, "conv", layer.kernel, layer.stride, layer.in_channels, layer.out_channels, True
      )
    ]
  units = []
  if layer.expanded:
    units.append(
      ConvUnit(f"{layer.scope}/expand", "conv", 1, 1, layer.in_channels, layer.expanded, True)
    )
  channels = layer.depthwise_channels
  units.append(
    ConvUnit(f"{layer.scope}/depthwise", "depthwise", 3, layer.stride, channels, channels, True)
  )
  units.append(
    ConvUnit(f"{layer.scope}/project", "conv", 1, 1, channels, layer.out_channels, False)
  )
  return units


def kernel_spec(unit: ConvUnit) -> VariableSpec:
  prefix = f"{SCOPE}/{unit.scope}"
  if unit.kind == "depthwise":
    shape = (unit.kernel, unit.kernel, unit.in_channels, 1)
    return VariableSpec(f"{prefix}/depthwise_weights", shape, True, "depthwise_kernel")
  shape = (unit.kernel, unit.kernel, unit.in_channels, unit.out_channels)
  return VariableSpec(f"{prefix}/weights", shape, True, "kernel")


def variable_specs(depth_multiplier: float, num_classes: Optional[int] = NUM_CLASSES) -> list:
  """Every model variable, in build order, named as in the released checkpoints."""
  specs = []
  for layer in resolve(depth_multiplier):
    for unit in conv_units(layer):
      specs.append(kernel_spec(unit))
      for name in BATCH_NORM_PARAMS:
        specs.append(
          VariableSpec(f"{SCOPE}/{unit.scope}/BatchNorm/{name}", (unit.out_channels,), True, name)
        )
      for name in BATCH_NORM_STATS:
        specs.append(
          VariableSpec(f"{SCOPE}/{unit.scope}/BatchNorm/{name}", (unit.out_channels,), False, name)
        )
  if num_classes:
    features = num_features(depth_multiplier)
    prefix = f"{SCOPE}/{LOGITS_SCOPE}"
    specs.append(VariableSpec(f"{prefix}/weights", (1, 1, features, num_classes), True, "kernel"))
    specs.append(VariableSpec(f"{prefix}/biases", (num_classes,), True, "bias"))
  return specs


def parameter_count(
  depth_multiplier: float,
  num_classes: Optional[int] = NUM_CLASSES,
  include_batch_norm: bool = False,
) -> int:
  """Parameters as the TF-Slim README counts them: batch-norm variables excluded by default."""
  return sum(
    math.prod(spec.shape)
    for spec in variable_specs(depth_multiplier, num_classes)
    if include_batch_norm or "/BatchNorm/" not in spec.name
  )


def multiply_accumulates(
  depth_multiplier: float, image_size: int, num_classes: Optional[int] = NUM_CLASSES
) -> int:
  """Multiply-accumulates of one image: convolutions and the logits layer."""
  total, size = 0, image_size
  for layer in resolve(depth_multiplier):
    for unit in conv_units(layer):
      size = math.ceil(size / unit.stride)
      per_pixel = (
        unit.kernel**2 * unit.in_channels * (1 if unit.kind == "depthwise" else unit.out_channels)
      )
      total += size * size * per_pixel
  if num_classes:
    total += num_features(depth_multiplier) * num_classes
  return total
