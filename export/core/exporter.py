"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel: the library behind
`python -m export.export_saved_model`.

`export_saved_model(options.ExportOptions(...))` checks the options (ValueError: a usage error),
claims the export directory's place (files.UnwritableError before any work), restores the
checkpoint (checkpoint.CheckpointError), builds, traces and saves the module into a staging
directory and renames it into place.
"""

import dataclasses

from export.base import files
from export.base import timing
from export.core import checkpoint
from export.core import labels
from export.core import litert
from export.core import litert_calibration
from export.core import options as options_lib
from export.core import reusable_module


@dataclasses.dataclass
class ExportResult:
  export_dir: str
  restored: checkpoint.RestoredValues
  timings: dict  # phase -> seconds: restore, build, trace, save (and tflite)
  litert_models: list = dataclasses.field(default_factory=list)  # of litert.WrittenModel


def export_saved_model(options: options_lib.ExportOptions) -> ExportResult:
  """Restores the checkpoint and writes the SavedModel atomically to `options.export_dir`."""
  version = options_lib.check_export(options)
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
    with timing.phase(timings, "restore"):
      restored = checkpoint.restore(
        options.checkpoint_path, options.depth_multiplier, options.use_ema
      )
    with timing.phase(timings, "build"):
      module = reusable_module.build(
        restored.values,
        options.depth_multiplier,
        options.image_size,
        options.module_type,
        momentum,
        labels_file=labels.LABELS_FILE,
      )
    with timing.phase(timings, "trace"):
      signatures = reusable_module.trace(module, version.serving_signature)
    with timing.phase(timings, "save"):
      reusable_module.save(module, staging, signatures)
  litert_models = []
  if options.tflite:
    with timing.phase(timings, "tflite"):
      litert_models = litert.write_beside(
        module,
        options.export_dir,
        options.tflite_types,
        calibration_images,
        hub_version=version.number,
      )
  return ExportResult(options.export_dir, restored, timings, litert_models)
