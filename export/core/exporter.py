"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel: the library behind
`python -m export.export_saved_model`.

`export_saved_model(ExportOptions(...))` checks the options (ValueError: a usage error),
claims the export directory's place (files.UnwritableError before any work), restores the
checkpoint (checkpoint.CheckpointError), builds, traces and saves the module into a staging
directory and renames it into place.
"""

import dataclasses
import os
import time
from typing import Optional

from absl import logging

from export.base import errors
from export.base import files
from export.base import versions
from export.core import checkpoint
from export.core import labels
from export.core import litert
from export.core import litert_calibration
from export.core import reusable_module
from nets import architecture
from nets import variants

_DEFAULT = variants.default()


class ExportError(errors.Failure):
  """An export that cannot be made; the message is one line."""


@dataclasses.dataclass(frozen=True)
class ExportOptions:
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
  tflite_types: tuple = litert.DEFAULT_TYPES  # of litert.TYPES; int8/uint8 are calibrated
  calibration_images: Optional[str] = None  # JPEG/PNG directory; None: generated images


@dataclasses.dataclass
class ExportResult:
  export_dir: str
  restored: checkpoint.RestoredValues
  timings: dict  # phase -> seconds: restore, build, trace, save (and tflite)
  litert_models: list = dataclasses.field(default_factory=list)  # of litert.WrittenModel


def validate(options: ExportOptions) -> versions.Version:
  """The version to produce; ValueError (a usage error) for options that cannot work."""
  version = versions.producible(options.version)
  architecture.validate(options.depth_multiplier, options.image_size, options.module_type)
  momentum = options.batch_norm_momentum_default
  if momentum is not None and not 0.0 <= momentum <= 1.0:
    raise ValueError(f"batch-norm momentum default must lie in [0, 1], got {momentum}")
  check_output_dir(options.export_dir, options.overwrite)
  _validate_litert(options)
  return version


def _validate_litert(options: ExportOptions) -> None:
  if not options.tflite_types or any(name not in litert.TYPES for name in options.tflite_types):
    raise ValueError(
      f"tflite types must be a non-empty subset of {', '.join(litert.TYPES)}, "
      f"got {', '.join(options.tflite_types) or 'none'}"
    )
  if not options.tflite and tuple(options.tflite_types) != litert.DEFAULT_TYPES:
    raise ValueError("--tflite_types needs --tflite")
  if options.calibration_images is not None and not (
    options.tflite and set(litert.FULL_INTEGER_TYPES) & set(options.tflite_types)
  ):
    raise ValueError("--calibration_images needs --tflite with int8 or uint8 in --tflite_types")


def check_output_dir(path: str, overwrite: bool) -> None:
  """ValueError if `path` is a file, or a non-empty directory without `overwrite`."""
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ValueError(f"{path}: exists and is not a directory")
  if os.path.isdir(path) and os.listdir(path) and not overwrite:
    raise ValueError(f"{path}: directory exists and is not empty (pass --overwrite to replace it)")


def export_saved_model(options: ExportOptions) -> ExportResult:
  """Restores the checkpoint and writes the SavedModel atomically to `options.export_dir`."""
  version = validate(options)
  momentum = options.batch_norm_momentum_default
  if momentum is None:
    momentum = version.batch_norm_momentum_default
  timings = {}
  calibration_images = None  # the photos are read before any work: they may be unreadable
  if options.calibration_images is not None:
    calibration_images = litert_calibration.images_from_directory(
      options.calibration_images, options.image_size
    )
  with files.staged_directory(options.export_dir) as staging:
    started = time.perf_counter()
    with checkpoint.opened(options.checkpoint_path) as prefix:
      restored = checkpoint.model_values(prefix, options.depth_multiplier, options.use_ema)
    logging.info("%s: %s", options.checkpoint_path, restored.summary())
    timings["restore"] = time.perf_counter() - started
    started = time.perf_counter()
    module = reusable_module.build(
      restored.values,
      options.depth_multiplier,
      options.image_size,
      options.module_type,
      momentum,
      labels_file=labels.LABELS_FILE,
    )
    timings["build"] = time.perf_counter() - started
    started = time.perf_counter()
    signatures = reusable_module.trace(module, version.serving_signature)
    timings["trace"] = time.perf_counter() - started
    started = time.perf_counter()
    reusable_module.save(module, staging, signatures)
    timings["save"] = time.perf_counter() - started
  litert_models = []
  if options.tflite:
    started = time.perf_counter()
    litert_models = litert.write_beside(
      module, options.export_dir, options.tflite_types, calibration_images
    )
    timings["tflite"] = time.perf_counter() - started
  return ExportResult(options.export_dir, restored, timings, litert_models)
