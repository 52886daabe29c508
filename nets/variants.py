"""The 22 released TF-Slim MobileNet V2 checkpoints: the project's single table of variants,
and `ModelSpec`, the network (multiplier, image size, module type) a piece of work is about.

Everything that names a variant (the export and verify binaries, the regeneration, the model
cards, the tests) reads it from here. The figures are those of the TF-Slim README: MACs in
millions, parameters in millions (batch-norm variables excluded), ImageNet top-1 and top-5.
"""

import dataclasses
import os
import re
from typing import Optional

from nets import architecture

ARCHIVE_URL_TEMPLATE = "https://storage.googleapis.com/mobilenet_v2/checkpoints/{name}.tgz"
HUB_PUBLISHER_PREFIX = "google/imagenet"
MODULE_TYPES = architecture.MODULE_TYPES


def multiplier_text(depth_multiplier: float) -> str:
  """Spells a multiplier as the checkpoint names do (1.0, 0.75, 1.4); up to 6 decimals kept."""
  text = f"{depth_multiplier:.6f}".rstrip("0")
  return text + "0" if text.endswith(".") else text


def checkpoint_stem(depth_multiplier: float, image_size: int) -> str:
  """TF-Slim's name for any multiplier and size, released or not: mobilenet_v2_0.75_96."""
  return f"mobilenet_v2_{multiplier_text(depth_multiplier)}_{image_size}"


@dataclasses.dataclass(frozen=True)
class Variant:
  depth_multiplier: float
  image_size: int
  macs_millions: int
  params_millions: float
  top1: float
  top5: float

  @property
  def multiplier_text(self) -> str:
    """The multiplier as the checkpoint names spell it: 1.0, 0.75, 0.5, 1.4."""
    return multiplier_text(self.depth_multiplier)

  @property
  def name(self) -> str:
    """TF-Slim's name: mobilenet_v2_0.75_96."""
    return checkpoint_stem(self.depth_multiplier, self.image_size)

  @property
  def hub_name(self) -> str:
    """TF Hub's model name: mobilenet_v2_075_96."""
    return f"mobilenet_v2_{round(self.depth_multiplier * 100):03d}_{self.image_size}"

  @property
  def checkpoint_name(self) -> str:
    return f"{self.name}.ckpt"

  @property
  def archive_url(self) -> str:
    return ARCHIVE_URL_TEMPLATE.format(name=self.name)

  def hub_handle(self, module_type: str) -> str:
    """google/imagenet/mobilenet_v2_075_96/classification (without the version)."""
    architecture.validate(module_type=module_type)
    return f"{HUB_PUBLISHER_PREFIX}/{self.hub_name}/{module_type}"

  def spec(self, module_type: str = MODULE_TYPES[0]) -> "ModelSpec":
    """The network of this variant's `module_type` module."""
    return ModelSpec(self.depth_multiplier, self.image_size, module_type)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """The network an export, a reference or a golden is of: what travels together through
  the exporters, the verifier and the regeneration. Checked once, when made: a ValueError
  with the message users see (`architecture.validate`)."""

  depth_multiplier: float
  image_size: int
  module_type: str = MODULE_TYPES[0]

  def __post_init__(self):
    architecture.validate(self.depth_multiplier, self.image_size, self.module_type)

  @property
  def num_classes(self) -> Optional[int]:
    """The logits layer's width, or None for a feature vector."""
    return architecture.num_classes(self.module_type)

  @property
  def name(self) -> str:
    """TF-Slim's name of the network, released or not: mobilenet_v2_0.75_96."""
    return checkpoint_stem(self.depth_multiplier, self.image_size)

  @property
  def variant(self) -> Optional[Variant]:
    """The released variant of this multiplier and size (its TF Hub and TF-Slim names), or
    None for a network no checkpoint was released of."""
    return next((v for v in VARIANTS if _same(v, self.depth_multiplier, self.image_size)), None)

  def with_module_type(self, module_type: str) -> "ModelSpec":
    return dataclasses.replace(self, module_type=module_type)


def _same(variant: Variant, depth_multiplier: float, image_size: int) -> bool:
  return (
    abs(variant.depth_multiplier - depth_multiplier) < 1e-9 and variant.image_size == image_size
  )


def _v(multiplier, size, macs, params, top1, top5):
  return Variant(multiplier, size, macs, params, top1, top5)


VARIANTS = (
  _v(1.4, 224, 582, 6.06, 75.0, 92.5),
  _v(1.3, 224, 509, 5.34, 74.4, 92.1),
  _v(1.0, 224, 300, 3.47, 71.8, 91.0),
  _v(1.0, 192, 221, 3.47, 70.7, 90.1),
  _v(1.0, 160, 154, 3.47, 68.8, 89.0),
  _v(1.0, 128, 99, 3.47, 65.3, 86.9),
  _v(1.0, 96, 56, 3.47, 60.3, 83.2),
  _v(0.75, 224, 209, 2.61, 69.8, 89.6),
  _v(0.75, 192, 153, 2.61, 68.7, 88.9),
  _v(0.75, 160, 107, 2.61, 66.4, 87.3),
  _v(0.75, 128, 69, 2.61, 63.2, 85.3),
  _v(0.75, 96, 39, 2.61, 58.8, 81.6),
  _v(0.5, 224, 97, 1.95, 65.4, 86.4),
  _v(0.5, 192, 71, 1.95, 63.9, 85.4),
  _v(0.5, 160, 50, 1.95, 61.0, 83.2),
  _v(0.5, 128, 32, 1.95, 57.7, 80.8),
  _v(0.5, 96, 18, 1.95, 51.2, 75.8),
  _v(0.35, 224, 59, 1.66, 60.3, 82.9),
  _v(0.35, 192, 43, 1.66, 58.2, 81.2),
  _v(0.35, 160, 30, 1.66, 55.7, 79.1),
  _v(0.35, 128, 20, 1.66, 50.8, 75.0),
  _v(0.35, 96, 11, 1.66, 45.5, 70.4),
)

DEFAULT_VARIANT_NAME = "mobilenet_v2_0.75_96"


def find(depth_multiplier: float, image_size: int) -> Variant:
  """The released variant of this multiplier and size; ValueError naming the known ones."""
  for variant in VARIANTS:
    if _same(variant, depth_multiplier, image_size):
      return variant
  raise ValueError(
    f"no released MobileNet V2 checkpoint has depth multiplier {depth_multiplier} and image "
    f"size {image_size}; released: {', '.join(v.name for v in VARIANTS)}"
  )


def by_name(name: str) -> Variant:
  """Looks a variant up by TF-Slim name (mobilenet_v2_0.75_96) or TF Hub name (mobilenet_v2_075_96)."""
  for variant in VARIANTS:
    if name in (variant.name, variant.hub_name):
      return variant
  raise ValueError(
    f"unknown variant {name!r}; expected a TF-Slim name such as {VARIANTS[11].name} or a "
    f"TF Hub name such as {VARIANTS[11].hub_name}"
  )


def select(names) -> tuple:
  """The variants of TF-Slim or TF Hub `names` (or ["all"]), in the table's order."""
  if list(names) == ["all"]:
    return VARIANTS
  chosen = {by_name(name) for name in names}
  if not chosen:
    raise ValueError("no variants selected")
  return tuple(variant for variant in VARIANTS if variant in chosen)


def default() -> Variant:
  return by_name(DEFAULT_VARIANT_NAME)


_NAMED = re.compile(r"mobilenet_v2_(\d+(?:\.\d+)?)_(\d+)(?:\.|_|$)")


def named_by_path(path) -> Optional[tuple]:
  """(depth multiplier, image size) that a checkpoint's file name spells, as in
  `mobilenet_v2_1.0_224.ckpt` or `mobilenet_v2_1.0_224.tgz`; None when it names none."""
  match = _NAMED.match(os.path.basename(os.fspath(path).rstrip("/\\")))
  return (float(match.group(1)), int(match.group(2))) if match else None
