"""The TF2 Reusable SavedModel: the module TF Hub publishes, one directory per module version.

`FORMAT` is its entry in the registry; `check_request` checks an export's options (its LiteRT
models' too, which it writes beside it) before TensorFlow is imported. `exporter` is the
library behind `python -m export.export_saved_model`; `loader` loads a directory for
verification and classification. The module itself is `export.core.reusable_module`'s. This
module imports no TensorFlow.

May import: `export.base`, `export.core`, `nets`, `export.formats.format` and the formats its
exporter writes beside it (`export.formats.litert`).
"""

from export.base import versions
from export.core import options as options_lib
from export.formats import format as format_lib
from export.formats import litert


def _kaggle_usage(handle: str, file_name: str, image_size: int) -> list:
  del file_name  # the instance is the SavedModel directory itself
  return [
    "import kagglehub",
    "import tensorflow_hub as hub",
    "import tf_keras",
    "",
    f'path = kagglehub.model_download("{handle}")  # the latest version',
    "model = tf_keras.Sequential([hub.KerasLayer(path)])",
    f"model.build([None, {image_size}, {image_size}, 3])",
  ]


FORMAT = format_lib.Format(
  name="saved_model",
  label="SavedModel",
  title="TF2 SavedModel",
  suffix="",  # a directory, named after the module version
  implementation="export.formats.saved_model.loader",
  verifiable=True,
  kaggle_framework="tensorFlow2",
  kaggle_hub_versions=format_lib.ALL_VERSIONS,
  fine_tunable=True,
  kaggle_usage=_kaggle_usage,
)


def check_request(options: options_lib.ExportOptions) -> versions.Version:
  """The version to produce; ValueError (a usage error) for options that cannot work."""
  version = options_lib.check_export(options)
  litert.check_request(options.tflite, options.tflite_types, options.calibration_images)
  return version
