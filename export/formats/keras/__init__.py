"""Keras 3: the module as one `.keras` file of built-in layers, made from the checkpoint.

`FORMAT` is its entry in the registry; `check_request` checks a Keras export's options before
TensorFlow is imported. `model` builds the functional model (the layer table interpreted a
third time) and writes its reproducible bytes, `exporter` is the library behind
`python -m export.export_keras`, `loader` loads a file for verification and classification.
This module imports no TensorFlow or Keras.

May import: `export.base`, `export.core`, `nets`, and `export.formats.format`.
"""

import os

from export.core import options as options_lib
from export.formats import agreement
from export.formats import format as format_lib

SUFFIX = ".keras"


def _kaggle_usage(handle: str, file_name: str, image_size: int) -> list:
  del image_size  # the file says
  return [
    "import os",
    "import kagglehub",
    "import keras",
    "",
    f'path = kagglehub.model_download("{handle}")',
    f'model = keras.saving.load_model(os.path.join(path, "{file_name}"))',
  ]


FORMAT = format_lib.Format(
  name="keras",
  label="Keras 3",
  title="Keras 3 model",
  suffix=SUFFIX,
  implementation="export.formats.keras.loader",
  per_version=False,
  writer="export.formats.keras.exporter",
  # The same float32 arithmetic as the SavedModel's, in another order (tests/test_keras_model.py)
  thresholds=(agreement.Threshold(max_relative_difference=1e-5),),
  verifiable=True,
  kaggle_framework="keras",
  kaggle_hub_versions=format_lib.NO_VERSION,
  fine_tunable=True,
  kaggle_usage=_kaggle_usage,
)


def check_request(options: options_lib.KerasExportOptions) -> None:
  """ValueError (a usage error) for options that cannot work."""
  options_lib.check_momentum(options.batch_norm_momentum)
  output = str(options.output)
  if not output.endswith(SUFFIX):
    raise ValueError(f"{output}: a Keras model file must end in {SUFFIX}")
  if os.path.isdir(output):
    raise ValueError(f"{output}: is a directory, expected a {SUFFIX} file")
  if os.path.lexists(output) and not options.overwrite:
    raise ValueError(f"{output}: file exists (pass --overwrite to replace it)")
