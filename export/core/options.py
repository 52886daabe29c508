"""What an export is asked for, and the checks made before any work that every format shares.

Each format checks what is its own (`export/formats/<format>/__init__.py` `check_request`: the
LiteRT types, the Keras file name). No TensorFlow here, nor anything that imports it: the binaries check their options (and that the checkpoint is there)
before TensorFlow is imported, so a usage error comes back at once instead of after seconds
of start-up. The exporters check the same options again for library callers.
"""

import dataclasses
import os
from typing import Optional

from export.base import versions
from nets import architecture
from nets import variants

_DEFAULT = variants.default()
KERAS_BATCH_NORM_MOMENTUM = versions.HUB_BATCH_NORM_MOMENTUM  # 0.99, since version 3


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  """A SavedModel export (export/formats/saved_model/exporter.py)."""

  checkpoint_path: str
  export_dir: str
  depth_multiplier: float = _DEFAULT.depth_multiplier
  image_size: int = _DEFAULT.image_size
  module_type: str = architecture.MODULE_TYPES[0]
  version: int = versions.LATEST_VERSION
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum_default: Optional[float] = None  # None: the version's default
  tflite: bool = False  # also write LiteRT models beside the SavedModel, checked against it
  tflite_types: tuple = ("float32",)  # LiteRT types (export/formats/litert); int8/uint8 calibrated
  calibration_images: Optional[str] = None  # JPEG/PNG directory; None: generated images


@dataclasses.dataclass(frozen=True)
class KerasExportOptions:
  """A Keras 3 file export (export/formats/keras/exporter.py)."""

  checkpoint_path: str
  output: str  # the .keras file to write
  depth_multiplier: float = _DEFAULT.depth_multiplier
  image_size: int = _DEFAULT.image_size
  module_type: str = architecture.MODULE_TYPES[0]
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum: float = KERAS_BATCH_NORM_MOMENTUM


def check_export(options: ExportOptions) -> versions.Version:
  """The version to produce; ValueError (a usage error) for options that cannot work."""
  version = versions.producible(options.version)
  architecture.validate(options.depth_multiplier, options.image_size, options.module_type)
  if options.batch_norm_momentum_default is not None:
    _check_momentum(options.batch_norm_momentum_default, "batch-norm momentum default")
  check_output_dir(options.export_dir, options.overwrite)
  return version


def check_output_dir(path: str, overwrite: bool) -> None:
  """ValueError if `path` is a file, or a non-empty directory without `overwrite`."""
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ValueError(f"{path}: exists and is not a directory")
  if os.path.isdir(path) and os.listdir(path) and not overwrite:
    raise ValueError(f"{path}: directory exists and is not empty (pass --overwrite to replace it)")


def check_keras_arguments(depth_multiplier, image_size, module_type, batch_norm_momentum) -> None:
  """ValueError for a network the Keras model cannot be built as."""
  architecture.validate(depth_multiplier, image_size, module_type)
  _check_momentum(batch_norm_momentum, "batch-norm momentum")


def _check_momentum(momentum: float, what: str) -> None:
  if not 0.0 <= momentum <= 1.0:
    raise ValueError(f"{what} must lie in [0, 1], got {momentum}")
