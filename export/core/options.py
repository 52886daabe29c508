"""What an export is asked for, and the checks made before any work.

No TensorFlow here: the binaries check their options (and that the checkpoint is there)
before TensorFlow is imported, so a usage error comes back at once instead of after seconds
of start-up. The exporters check the same options again for library callers.
"""

import dataclasses
import os
from typing import Optional

from export.base import versions
from export.core import litert
from nets import variants

DEFAULT_SPEC = variants.default().spec()
KERAS_SUFFIX = ".keras"
KERAS_BATCH_NORM_MOMENTUM = versions.HUB_BATCH_NORM_MOMENTUM  # 0.99, since version 3


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  """A SavedModel export (export/core/exporter.py)."""

  checkpoint_path: str
  export_dir: str
  spec: variants.ModelSpec = DEFAULT_SPEC
  version: int = versions.LATEST_VERSION
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum_default: Optional[float] = None  # None: the version's default
  tflite: bool = False  # also write LiteRT models beside the SavedModel, checked against it
  tflite_types: tuple = litert.DEFAULT_TYPES  # of litert.TYPES; int8/uint8 are calibrated
  calibration_images: Optional[str] = None  # JPEG/PNG directory; None: generated images


@dataclasses.dataclass(frozen=True)
class KerasExportOptions:
  """A Keras 3 file export (export/core/keras_exporter.py)."""

  checkpoint_path: str
  output: str  # the .keras file to write
  spec: variants.ModelSpec = DEFAULT_SPEC
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum: float = KERAS_BATCH_NORM_MOMENTUM


def check_export(options: ExportOptions) -> versions.Version:
  """The version to produce; ValueError (a usage error) for options that cannot work."""
  version = versions.producible(options.version)
  if options.batch_norm_momentum_default is not None:
    check_momentum(options.batch_norm_momentum_default, "batch-norm momentum default")
  check_output_dir(options.export_dir, options.overwrite)
  _check_litert(options)
  return version


def _check_litert(options: ExportOptions) -> None:
  litert.check_types(options.tflite_types)
  if not options.tflite and tuple(options.tflite_types) != litert.DEFAULT_TYPES:
    raise ValueError("tflite types need tflite")
  if options.calibration_images is not None and not litert_calibrated(options):
    raise ValueError("calibration images need tflite with an int8 or uint8 tflite type")


def litert_calibrated(options: ExportOptions) -> bool:
  """Whether the export makes a LiteRT model calibrated on images (int8 or uint8)."""
  return options.tflite and bool(set(litert.FULL_INTEGER_TYPES) & set(options.tflite_types))


def check_output_dir(path: str, overwrite: bool) -> None:
  """ValueError if `path` is a file, or a non-empty directory without `overwrite`."""
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ValueError(f"{path}: exists and is not a directory")
  if os.path.isdir(path) and os.listdir(path) and not overwrite:
    raise ValueError(f"{path}: directory exists and is not empty (pass --overwrite to replace it)")


def check_momentum(momentum: float, what: str = "batch-norm momentum") -> None:
  """ValueError unless `momentum` lies in [0, 1]."""
  if not 0.0 <= momentum <= 1.0:
    raise ValueError(f"{what} must lie in [0, 1], got {momentum}")


def check_keras_export(options: KerasExportOptions) -> None:
  """ValueError (a usage error) for options that cannot work."""
  check_momentum(options.batch_norm_momentum)
  output = str(options.output)
  if not output.endswith(KERAS_SUFFIX):
    raise ValueError(f"{output}: a Keras model file must end in {KERAS_SUFFIX}")
  if os.path.isdir(output):
    raise ValueError(f"{output}: is a directory, expected a {KERAS_SUFFIX} file")
  if os.path.lexists(output) and not options.overwrite:
    raise ValueError(f"{output}: file exists (pass --overwrite to replace it)")
