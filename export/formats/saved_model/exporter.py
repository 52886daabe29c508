"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel: the library behind
`python -m export.export_saved_model`.

`export_saved_model(options.ExportOptions(...))` checks the options (ValueError: a usage error),
claims the export directory's place (files.UnwritableError before any work), restores the
checkpoint (checkpoint.CheckpointError), builds, traces and saves the module into a staging
directory, converts and checks the LiteRT models asked for beside it, and only then renames
them all into place: an error or an interrupt at any point leaves no SavedModel, no .tflite
file and no staging directory.
"""

import dataclasses
import os

from export.base import files
from export.base import timing
from export.core import checkpoint
from export.core import labels
from export.core import options as options_lib
from export.core import reusable_module
from export.formats import saved_model as saved_model_format
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import converter as litert


@dataclasses.dataclass
class ExportResult:
  export_dir: str
  restored: checkpoint.RestoredValues
  timings: dict  # phase -> seconds: restore, build, trace, save (and tflite)
  litert_models: list = dataclasses.field(default_factory=list)  # of litert.WrittenModel


def export_saved_model(options: options_lib.ExportOptions) -> ExportResult:
  """Restores the checkpoint and writes the SavedModel atomically to `options.export_dir`."""
  version = saved_model_format.check_request(options)
  momentum = options.batch_norm_momentum_default
  if momentum is None:
    momentum = version.batch_norm_momentum_default
  timings = {}
  calibration_images = None  # the photos are read before any work: they may be unreadable
  if options.calibration_images is not None:
    calibration_images = litert_calibration.images_from_directory(
      options.calibration_images, options.spec.image_size
    )
  export_dir = os.path.abspath(options.export_dir)
  parent, name = os.path.split(export_dir)
  with files.scratch_directory(parent, name, needed_for=export_dir) as scratch:
    staging = os.path.join(scratch, name)
    os.mkdir(staging)
    with timing.phase(timings, "restore"):
      restored = checkpoint.restore(
        options.checkpoint_path, options.spec.depth_multiplier, options.use_ema
      )
    with timing.phase(timings, "build"):
      module = reusable_module.build(
        restored.values, options.spec, momentum, labels_file=labels.LABELS_FILE
      )
    with timing.phase(timings, "trace"):
      signatures = reusable_module.trace(module, version.serving_signature)
    with timing.phase(timings, "save"):
      reusable_module.save(module, staging, signatures)
    placements, litert_models = [(staging, export_dir)], []
    if options.tflite:
      with timing.phase(timings, "tflite"):
        converted = litert.convert_beside(
          module,
          staging,
          export_dir,
          options.tflite_types,
          calibration_images,
          hub_version=version.number,
        )
      for written, model in converted:
        staged_model = os.path.join(scratch, os.path.basename(written.path))
        with open(staged_model, "wb") as staged:
          staged.write(model)
        placements.append((staged_model, written.path))
        litert_models.append(written)
    files.place_together(placements)
  return ExportResult(options.export_dir, restored, timings, litert_models)
