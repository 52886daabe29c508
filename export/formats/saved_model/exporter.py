"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel: the library behind
`python -m export.export_saved_model`.

`export_saved_model(options.ExportOptions(...))` checks the options (ValueError: a usage error),
claims the export directory's place (files.UnwritableError before any work), restores the
checkpoint (checkpoint.CheckpointError), builds, traces and saves the module into a staging
directory, converts and checks the files of the formats asked for beside it (LiteRT, ONNX,
TF.js), and only then renames them all into place: an error or an interrupt at any point leaves
no SavedModel, no file of another format and no staging directory.
"""

import dataclasses
import os

from export.base import files
from export.base import timing
from export.core import checkpoint
from export.core import labels
from export.core import options as options_lib
from export.core import reusable_module
from export.formats import beside
from export.formats import beside_inputs
from export.formats.litert import calibration as litert_calibration


@dataclasses.dataclass
class ExportResult:
  export_dir: str
  restored: checkpoint.RestoredValues
  timings: dict  # phase -> seconds: restore, build, trace, save (and each format beside it)
  # format name -> what its `convert_beside` wrote, one per type (LiteRT's WrittenModel, ...)
  written: dict = dataclasses.field(default_factory=dict)

  @property
  def litert_models(self) -> list:
    return self.written.get("litert", [])


def export_saved_model(options: options_lib.ExportOptions) -> ExportResult:
  """Restores the checkpoint and writes the SavedModel atomically to `options.export_dir`."""
  version = beside.check_request(options)
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
    placements, written = [(staging, export_dir)], {}
    inputs = beside_inputs.BesideInputs(module, staging, calibration_images)
    for fmt in beside.FORMATS:
      types = fmt.requested_types(options)
      if not types:
        continue
      with timing.phase(timings, fmt.export_flag):
        converted = fmt.convert_beside(inputs, export_dir, types, hub_version=version.number)
      for made, content in converted:
        staged = os.path.join(scratch, os.path.basename(made.path))  # beside `staging`
        _stage(staged, content)
        placements.append((staged, made.path))
        written.setdefault(fmt.name, []).append(made)
    # An earlier export's files of types not written again would no longer match it.
    targets = {target for _, target in placements}
    stale = [path for path in beside.paths_beside(export_dir) if path not in targets]
    files.place_together(placements, removed=[p for p in stale if os.path.lexists(p)])
  return ExportResult(options.export_dir, restored, timings, written)


def _stage(path: str, content) -> None:
  """Writes a file's bytes, or a directory's {relative path: bytes}, at `path`."""
  if isinstance(content, bytes):
    files.write_file(path, content)
    return
  for relative, data in sorted(content.items()):
    target = os.path.join(path, *relative.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    files.write_file(target, data)
