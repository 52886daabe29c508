r"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel for TF Hub.

  python -m export.export_saved_model \
      --checkpoint_path=mobilenet_v2_0.75_96.ckpt --depth_multiplier=0.75 --image_size=96 \
      --module_type=classification --version=5 --export_dir=/tmp/mobilenet_v2_075_96

The binary is a thin layer over `export_saved_model()`, which tests call directly.
"""

import dataclasses
import os
import pathlib
import shutil
import tempfile
import time
from typing import Optional

from absl import flags
from absl import logging

from export import checkpoint
from export import cli
from export import hub_layout
from export import versions

class ExportError(Exception):
  """An export that cannot be made; the message is one line."""


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  checkpoint_path: str
  export_dir: str
  depth_multiplier: float = 0.75
  image_size: int = 96
  module_type: str = "classification"
  version: int = versions.LATEST_VERSION
  overwrite: bool = False
  use_ema: bool = True
  batch_norm_momentum_default: Optional[float] = None  # None: the version's default
  tflite: bool = False  # also write <export_dir>.tflite, checked against the SavedModel


@dataclasses.dataclass
class ExportResult:
  export_dir: str
  restored: checkpoint.RestoredValues
  timings: dict  # phase -> seconds: restore, build, trace, save (and tflite)


def export_saved_model(options: ExportOptions) -> ExportResult:
  """Restores the checkpoint and writes the SavedModel atomically to `options.export_dir`."""
  version = _validate(options)
  timings = {}
  started = time.perf_counter()
  with checkpoint.opened(options.checkpoint_path) as prefix:
    restored = checkpoint.model_values(prefix, options.depth_multiplier, options.use_ema)
  logging.info("%s: %s", options.checkpoint_path, restored.summary())
  timings["restore"] = time.perf_counter() - started

  # TensorFlow and the module are imported here so that flag errors need no TF start-up.
  from export import reusable_module
  started = time.perf_counter()
  module = reusable_module.build(
      restored.values, options.depth_multiplier, options.image_size, options.module_type,
      _momentum_default(options, version), labels_file=hub_layout.LABELS_FILE)
  timings["build"] = time.perf_counter() - started
  started = time.perf_counter()
  signatures = reusable_module.trace(module, version.serving_signature)
  timings["trace"] = time.perf_counter() - started
  started = time.perf_counter()
  _save_atomically(options.export_dir, options.overwrite,
                   lambda staging: reusable_module.save(module, staging, signatures))
  timings["save"] = time.perf_counter() - started
  if options.tflite:
    timings["tflite"] = _write_tflite(module, options.export_dir)
  return ExportResult(options.export_dir, restored, timings)


def _validate(options: ExportOptions) -> "versions.Version":
  try:
    version = versions.producible(options.version)
    cli.check_module_type(options.module_type)
    cli.check_depth_multiplier_and_size(options.depth_multiplier, options.image_size)
  except ValueError as error:
    raise ExportError(str(error)) from None
  momentum = options.batch_norm_momentum_default
  if momentum is not None and not 0.0 <= momentum <= 1.0:
    raise ExportError(f"batch-norm momentum default must lie in [0, 1], got {momentum}")
  target = pathlib.Path(options.export_dir)
  if target.exists() and not target.is_dir():
    raise ExportError(f"{target}: exists and is not a directory")
  if target.is_dir() and any(target.iterdir()) and not options.overwrite:
    raise ExportError(f"{target}: directory exists and is not empty (pass --overwrite to "
                      f"replace it)")
  return version


def _momentum_default(options: ExportOptions, version: "versions.Version") -> float:
  if options.batch_norm_momentum_default is None:
    return version.batch_norm_momentum_default
  return options.batch_norm_momentum_default


def _write_tflite(module, export_dir: str) -> float:
  """Writes <export_dir>.tflite beside the finished SavedModel; returns the seconds taken."""
  from export import tflite  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  try:
    tflite.write_beside(module, export_dir)
  except tflite.ParityError as error:
    raise ExportError(str(error)) from None
  return time.perf_counter() - started


def _save_atomically(export_dir: str, overwrite: bool, write) -> None:
  """Writes into a staging directory beside the target and renames it into place."""
  target = pathlib.Path(export_dir).absolute()
  target.parent.mkdir(parents=True, exist_ok=True)
  staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
  try:
    write(str(staging))
    if target.exists():
      # Only an empty directory or an --overwrite reaches here (checked before the work).
      retired = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
      os.rename(target, retired / target.name)
      os.rename(staging, target)
      shutil.rmtree(retired, ignore_errors=True)
    else:
      os.rename(staging, target)
  finally:
    if staging.exists():
      shutil.rmtree(staging, ignore_errors=True)


# --- the binary --------------------------------------------------------------------------
cli.define_variant_flags()
flags.DEFINE_string("checkpoint_path", None,
                    "Checkpoint prefix (.../mobilenet_v2_0.75_96.ckpt) or a released .tgz archive.")
flags.DEFINE_enum("module_type", "classification", ["classification", "feature_vector"],
                  "Classification (logits) or feature_vector (global pool) module.")
flags.DEFINE_integer("version", versions.LATEST_VERSION,
                     f"TF Hub version to produce: one of {versions.PRODUCED_VERSIONS}.")
flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (written atomically).")
flags.DEFINE_bool("overwrite", False, "Replace a non-empty --export_dir.")
flags.DEFINE_bool("use_ema", True,
                  "Restore trainable variables from their ExponentialMovingAverage shadows, as "
                  "TF-Slim's evaluation does; false takes the raw values.")
flags.DEFINE_float("batch_norm_momentum_default", None,
                   "Default of the batch_norm_momentum argument of __call__ (default: the "
                   "version's, 0.99 for versions 4 and 5).")
flags.DEFINE_bool("tflite", False,
                  "Also write a float TFLite model of the inference function to "
                  "<export_dir>.tflite, beside the SavedModel, after checking its outputs "
                  "against the SavedModel's.")


def options_from_flags(argv) -> ExportOptions:
  """Typed options from the parsed flags; ValueError on a usage error."""
  cli.reject_positional_arguments(argv)
  depth_multiplier, image_size = cli.variant_from_flags()
  for name in ("checkpoint_path", "export_dir"):
    if not flags.FLAGS[name].value:
      raise ValueError(f"--{name} is required")
  return ExportOptions(
      checkpoint_path=flags.FLAGS.checkpoint_path, export_dir=flags.FLAGS.export_dir,
      depth_multiplier=depth_multiplier, image_size=image_size,
      module_type=flags.FLAGS.module_type, version=flags.FLAGS.version,
      overwrite=flags.FLAGS.overwrite, use_ema=flags.FLAGS.use_ema,
      batch_norm_momentum_default=flags.FLAGS.batch_norm_momentum_default,
      tflite=flags.FLAGS.tflite)


def main(argv):
  options = cli.parse_or_exit(options_from_flags, argv)
  try:
    result = export_saved_model(options)
  except (ExportError, checkpoint.CheckpointError) as error:
    cli.fail(str(error), exit_code=1)
  restored = result.restored
  print(f"{'EMA' if options.use_ema else 'raw'} weights: {restored.summary()}")
  print(f"exported {options.module_type} version {options.version} to "
        f"{os.path.abspath(result.export_dir)}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
