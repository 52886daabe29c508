r"""Exports a TF-Slim MobileNet V2 checkpoint as a Keras 3 model file (.keras).

  python -m export.export_keras --checkpoint_path=mobilenet_v2_0.75_96.ckpt \
      --module_type=classification --output=/tmp/mobilenet_v2_075_96_classification.keras

The file is a functional model of built-in Keras layers (export/formats/keras/model.py): it
loads with `keras.saving.load_model(path)` on the TensorFlow or JAX backend, without this
project (docs/keras3.md). The network comes from --variant, or --depth_multiplier and --image_size, or
else the checkpoint's file name. A thin binary over `export.formats.keras.exporter.export_keras`;
exit codes as every binary's (README): 0 written, 1 the work failed, 2 usage error, 130
interrupted (nothing placed).
"""

from absl import flags

from export import cli
from export.base import files
from export.base import versions
from export.core import checkpoint
from export.core import options as options_lib
from export.formats import keras

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_export_source_flags()
  cli.define_required_string("output", "The .keras file to write (atomically).")
  flags.DEFINE_bool("overwrite", False, "Replace an existing --output file.")
  flags.DEFINE_float(
    "batch_norm_momentum",
    versions.HUB_BATCH_NORM_MOMENTUM,
    "Momentum of every BatchNormalization layer when fine-tuning (the hub "
    "modules' default is 0.99; TF-Slim trained with 0.997).",
  )


def options_from_flags(argv):
  """Typed, checked KerasExportOptions from the parsed flags; ValueError on a usage error."""
  cli.reject_positional_arguments(argv)
  options = options_lib.KerasExportOptions(
    **cli.export_source_from_flags(),
    output=FLAGS.output,
    overwrite=FLAGS.overwrite,
    batch_norm_momentum=FLAGS.batch_norm_momentum,
  )
  keras.check_request(options)
  return options


def main(argv) -> None:
  options = cli.parse_or_exit(options_from_flags, argv)
  cli.work_or_exit(checkpoint.locate, options.checkpoint_path)
  cli.work_or_exit(files.check_writable, options.output)
  # TensorFlow and Keras from here on: usage errors, a missing checkpoint and an unwritable
  # output come back first.
  from export.formats.keras import exporter as keras_exporter  # pylint: disable=g-import-not-at-top

  result = cli.work_or_exit(keras_exporter.export_keras, options)
  print(f"{'EMA' if options.use_ema else 'raw'} weights: {result.restored.summary()}")
  print(
    f"wrote {options.spec.module_type} Keras model ({result.weights} weights, "
    f"{result.trainable_weights} trainable) to {result.output}"
  )


def run() -> None:
  """Console-script entry point (mobilenet-v2-export-keras)."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
