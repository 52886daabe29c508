"""The TF2 Reusable SavedModel: the module TF Hub publishes, one directory per module version.

`FORMAT` is its entry in the registry (an export's options are checked by
`export.formats.beside.check_request`, with the formats written beside it). `exporter` is the
library behind `python -m export.export_saved_model`; `loader` loads a directory for
verification and classification. The module itself is `export.core.reusable_module`'s. This
module imports no TensorFlow.

May import: `export.base`, `export.core`, `nets`, `export.formats.format`; its exporter also
`export.formats.beside` (the formats it writes beside the SavedModel).
"""

from export.formats import format as format_lib


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
