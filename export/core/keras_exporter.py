"""Exports a TF-Slim checkpoint as a Keras 3 model file (.keras): the library behind
`python -m export.export_keras`.

`export_keras(KerasExportOptions(...))` checks the options (ValueError: a usage error), claims
the output's place (files.UnwritableError before any work), restores the checkpoint with the
SavedModel exporter's reader (checkpoint.CheckpointError), builds the functional model
(export/core/keras_model.py) and writes its reproducible bytes atomically.
"""

import dataclasses
import os
import time

from absl import logging

from export.base import files
from export.core import checkpoint
from export.core import keras_model
from nets import architecture
from nets import variants

_DEFAULT = variants.default()


@dataclasses.dataclass(frozen=True)
class KerasExportOptions:
  checkpoint_path: str
  output: str  # the .keras file to write
  depth_multiplier: float = _DEFAULT.depth_multiplier
  image_size: int = _DEFAULT.image_size
  module_type: str = architecture.MODULE_TYPES[0]
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum: float = keras_model.DEFAULT_BATCH_NORM_MOMENTUM


@dataclasses.dataclass
class KerasExportResult:
  output: str  # absolute path of the written file
  restored: checkpoint.RestoredValues
  weights: int
  trainable_weights: int
  regularization_losses: int
  timings: dict  # phase -> seconds: restore, build, save


def validate(options: KerasExportOptions) -> None:
  """ValueError (a usage error) for options that cannot work."""
  keras_model.check_arguments(
    options.depth_multiplier, options.image_size, options.module_type, options.batch_norm_momentum
  )
  output = str(options.output)
  if not output.endswith(keras_model.KERAS_SUFFIX):
    raise ValueError(f"{output}: a Keras model file must end in {keras_model.KERAS_SUFFIX}")
  if os.path.isdir(output):
    raise ValueError(f"{output}: is a directory, expected a {keras_model.KERAS_SUFFIX} file")
  if os.path.lexists(output) and not options.overwrite:
    raise ValueError(f"{output}: file exists (pass --overwrite to replace it)")


def export_keras(options: KerasExportOptions) -> KerasExportResult:
  """Restores the checkpoint and writes the .keras file atomically to `options.output`."""
  validate(options)
  timings = {}
  with files.staged_file(options.output) as staging:
    started = time.perf_counter()
    with checkpoint.opened(options.checkpoint_path) as prefix:
      restored = checkpoint.model_values(prefix, options.depth_multiplier, options.use_ema)
    logging.info("%s: %s", options.checkpoint_path, restored.summary())
    timings["restore"] = time.perf_counter() - started
    started = time.perf_counter()
    model = keras_model.build_keras_model(
      restored.values,
      options.depth_multiplier,
      options.image_size,
      options.module_type,
      options.batch_norm_momentum,
    )
    timings["build"] = time.perf_counter() - started
    started = time.perf_counter()
    with open(staging, "wb") as staged:
      staged.write(keras_model.keras_file_bytes(model))
    timings["save"] = time.perf_counter() - started
  return KerasExportResult(
    os.path.abspath(options.output),
    restored,
    len(model.weights),
    len(model.trainable_weights),
    len(model.losses),
    timings,
  )
