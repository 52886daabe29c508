"""Exports a TF-Slim checkpoint as a Keras 3 model file (.keras): the library behind
`python -m export.export_keras`.

`export_keras(options.KerasExportOptions(...))` checks the options (ValueError: a usage
error), claims the output's place (files.UnwritableError before any work), restores the
checkpoint with the SavedModel exporter's reader (checkpoint.CheckpointError), builds the
functional model (export/formats/keras/model.py) and writes its reproducible bytes atomically.
"""

import dataclasses
import os

from export.base import files
from export.base import timing
from export.core import checkpoint
from export.core import options as options_lib
from export.formats import keras as keras_format
from export.formats.keras import model as keras_model


@dataclasses.dataclass
class KerasExportResult:
  output: str  # absolute path of the written file
  restored: checkpoint.RestoredValues
  weights: int
  trainable_weights: int
  regularization_losses: int
  timings: dict  # phase -> seconds: restore, build, save


def export_keras(options: options_lib.KerasExportOptions) -> KerasExportResult:
  """Restores the checkpoint and writes the .keras file atomically to `options.output`."""
  keras_format.check_request(options)
  timings = {}
  with files.staged_file(options.output) as staging:
    with timing.phase(timings, "restore"):
      restored = checkpoint.restore(
        options.checkpoint_path, options.spec.depth_multiplier, options.use_ema
      )
    with timing.phase(timings, "build"):
      model = keras_model.build_keras_model(
        restored.values, options.spec, options.batch_norm_momentum
      )
    with timing.phase(timings, "save"), open(staging, "wb") as staged:
      staged.write(keras_model.keras_file_bytes(model))
  return KerasExportResult(
    os.path.abspath(options.output),
    restored,
    len(model.weights),
    len(model.trainable_weights),
    len(model.losses),
    timings,
  )


def write_module_file(
  checkpoint_path: str, path: str, *, spec, use_ema: bool = True
) -> KerasExportResult:
  """The regeneration's call (`Format.write_module_file`): a module's file, written anew."""
  return export_keras(
    options_lib.KerasExportOptions(
      checkpoint_path=checkpoint_path, output=path, spec=spec, use_ema=use_ema
    )
  )
