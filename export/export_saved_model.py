r"""Exports a TF-Slim MobileNet V2 checkpoint as a TF2 Reusable SavedModel for TF Hub.

  python -m export.export_saved_model \
      --checkpoint_path=mobilenet_v2_0.75_96.ckpt --module_type=classification --version=5 \
      --export_dir=/tmp/mobilenet_v2_075_96

The network comes from --variant, or --depth_multiplier and --image_size, or else the
checkpoint's file name (mobilenet_v2_<multiplier>_<size>). A thin binary over
`export.formats.saved_model.exporter.export_saved_model`, which tests call directly.
TensorFlow is imported once the options are checked, the checkpoint found and the export
directory found writable (export/cli.py quiets its start-up first).
"""

import functools
import os

from absl import flags

from export import cli
from export.base import files
from export.base import versions
from export.core import checkpoint
from export.core import options as options_lib
from export.formats import beside
from export.formats import registry

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_export_source_flags()
  flags.DEFINE_integer(
    "version",
    versions.LATEST_VERSION,
    f"TF Hub version to produce: one of {versions.PRODUCED_VERSIONS}.",
  )
  cli.define_required_string("export_dir", "Where the SavedModel goes (written atomically).")
  flags.DEFINE_bool(
    "overwrite", False, "Replace an earlier export at --export_dir (never other files)."
  )
  flags.DEFINE_float(
    "batch_norm_momentum_default",
    None,
    "Default of the batch_norm_momentum argument of __call__ (default: the "
    "version's, 0.99 for versions 4 and 5).",
  )
  for fmt in beside.FORMATS:
    flag, default = fmt.export_flag, fmt.types[0]
    flags.DEFINE_bool(
      flag,
      False,
      f"Also write {fmt.label} models of the inference function beside the SavedModel, each "
      "after checking its outputs against the SavedModel's.",
    )
    others = ", ".join(fmt.types[1:])
    flags.DEFINE_list(
      f"{flag}_types",
      [default],
      f"With --{flag}: comma-separated {fmt.label} types among {default} "
      f"(<export_dir>{fmt.suffix}) and {others} (<export_dir>.<type>{fmt.suffix}).",
    )
  flags.DEFINE_string(
    "calibration_images",
    None,
    f"With {beside.calibrated_types_text('--')}: a directory of JPEG/PNG photos to calibrate "
    "on (default: generated images).",
  )


def options_from_flags(argv):
  """Typed, checked ExportOptions from the parsed flags; ValueError on a usage error."""
  cli.reject_positional_arguments(argv)
  # Checked here as well as in check_request, so that the message names the flag.
  cli.from_flag("version", versions.producible)
  if FLAGS.batch_norm_momentum_default is not None:
    cli.from_flag(
      "batch_norm_momentum_default",
      lambda momentum: options_lib.check_momentum(momentum, "batch-norm momentum default"),
    )
  options = options_lib.ExportOptions(
    **cli.export_source_from_flags(),
    export_dir=FLAGS.export_dir,
    version=FLAGS.version,
    overwrite=FLAGS.overwrite,
    batch_norm_momentum_default=FLAGS.batch_norm_momentum_default,
    calibration_images=FLAGS.calibration_images,
    **_beside_requests(),
  )
  beside.check_request(options, flag_prefix="--")
  return options


def _beside_requests() -> dict:
  """The ExportOptions fields of --tflite, --tflite_types and their kind, typed and checked."""
  requests = {}
  for fmt in beside.FORMATS:
    flag = fmt.export_flag
    requests[flag] = FLAGS[flag].value
    types_flag = f"{flag}_types"
    requests[types_flag] = cli.from_flag(types_flag, functools.partial(beside.check_types, fmt))
  return requests


def main(argv) -> None:
  options = cli.parse_or_exit(options_from_flags, argv)
  cli.work_or_exit(checkpoint.locate, options.checkpoint_path)
  cli.work_or_exit(files.check_writable, options.export_dir)
  # TensorFlow from here on: usage errors, a missing checkpoint and an unwritable output come
  # back first.
  from export.formats.saved_model import exporter  # pylint: disable=g-import-not-at-top

  result = cli.work_or_exit(exporter.export_saved_model, options)
  print(f"{'EMA' if options.use_ema else 'raw'} weights: {result.restored.summary()}")
  print(
    f"exported mobilenet_v2 {options.spec.depth_multiplier} {options.spec.image_size}x"
    f"{options.spec.image_size} {options.spec.module_type} version {options.version} to "
    f"{os.path.abspath(result.export_dir)}"
  )
  for name, by_type in result.written.items():
    companion_suffix = registry.by_name(name).companion_suffix
    for written in by_type:
      if companion_suffix and written.path.endswith(companion_suffix):  # ONNX's test vectors
        print(f"wrote {written.path} (test vectors of the {written.model_type} model)")
        continue
      print(
        f"wrote {written.path} ({written.model_type}, {written.size_bytes / 1e6:.2f} MB; "
        f"{written.summary()})"
      )


def run() -> None:
  """Console-script entry point (mobilenet-v2-export)."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
