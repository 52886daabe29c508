"""What an export is asked for, and the checks made before any work that every format shares.

Each format checks what is its own (`export/formats/<format>/__init__.py` `check_request`: the
LiteRT types, the Keras file name). No TensorFlow here, nor anything that imports it: the binaries
check their options (and that the checkpoint is there) before TensorFlow is imported, so a usage
error comes back at once instead of after seconds of start-up. The exporters check the same options
again for library callers.
"""

import dataclasses
import os
from typing import Optional

from export.base import versions
from nets import variants

DEFAULT_SPEC = variants.default().spec()
KERAS_BATCH_NORM_MOMENTUM = versions.HUB_BATCH_NORM_MOMENTUM  # 0.99, since version 3
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # one of them in every SavedModel


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  """A SavedModel export (export/formats/saved_model/exporter.py)."""

  checkpoint_path: str
  export_dir: str
  spec: variants.ModelSpec = DEFAULT_SPEC
  version: int = versions.LATEST_VERSION
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum_default: Optional[float] = None  # None: the version's default
  tflite: bool = False  # also write LiteRT models beside the SavedModel, checked against it
  tflite_types: tuple = ("float32",)  # LiteRT types (export/formats/litert); int8/uint8 calibrated
  onnx: bool = False  # also write ONNX models beside the SavedModel, checked against it
  onnx_types: tuple = ("float32",)  # ONNX types (export/formats/onnx); int8 calibrated
  calibration_images: Optional[str] = None  # JPEG/PNG directory; None: generated images
  tfjs: bool = False  # also write TF.js graph models beside the SavedModel, checked in Node
  tfjs_types: tuple = ("float32",)  # TF.js weight types (export/formats/tfjs)


@dataclasses.dataclass(frozen=True)
class KerasExportOptions:
  """A Keras 3 file export (export/formats/keras/exporter.py)."""

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
  return version


def check_output_dir(path: str, overwrite: bool) -> None:
  """ValueError if `path` is a file, or a non-empty directory without `overwrite`, or one that
  holds no SavedModel: `overwrite` replaces an earlier export, never a directory of other files
  (`--export_dir=.` in a checkout, a home directory), which the export would delete. An empty
  `path` names no directory (not the current one)."""
  if not path.strip():
    raise ValueError("the export directory is empty: name the directory to write")
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ValueError(f"{path}: exists and is not a directory")
  if not (os.path.isdir(path) and os.listdir(path)):
    return
  if not overwrite:
    raise ValueError(f"{path}: directory exists and is not empty (pass --overwrite to replace it)")
  if not holds_saved_model(path):
    raise ValueError(
      f"{path}: not replaced: --overwrite replaces an earlier export, and this directory holds "
      "no saved_model.pb; remove it yourself or choose another --export_dir"
    )


def holds_saved_model(directory: str) -> bool:
  """Whether `directory` holds a SavedModel's graph file, as every export does."""
  return any(os.path.isfile(os.path.join(directory, name)) for name in SAVED_MODEL_FILES)


def check_momentum(momentum: float, what: str = "batch-norm momentum") -> None:
  """ValueError unless `momentum` lies in [0, 1]."""
  if not 0.0 <= momentum <= 1.0:
    raise ValueError(f"{what} must lie in [0, 1], got {momentum}")
