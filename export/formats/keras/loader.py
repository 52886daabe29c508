"""A `.keras` file loaded on its own with `keras.saving.load_model`, its weights under the
TF-Slim names they stand for."""

import os
import zipfile

from export.base import errors
from export.formats import format as format_lib
from export.formats.keras import model as keras_model


def check(path: str) -> None:
  """LoadError unless `path` is a whole zip file, as a `.keras` file is (without loading it):
  Keras says "File not found" of a truncated one."""
  if not os.path.isfile(path):
    raise format_lib.LoadError(f"{path}: model file not found")
  if not zipfile.is_zipfile(path):
    raise format_lib.LoadError(
      f"{path}: not a Keras model file (a .keras file is a zip archive; this one is not, or "
      "is cut short)"
    )


def load(path: str) -> format_lib.Loaded:
  """The Keras model in `path`; LoadError (one line) if it cannot be loaded."""
  import keras  # pylint: disable=g-import-not-at-top  (only for Keras files)

  check(path)
  try:
    model = keras.saving.load_model(path)
  except Exception as error:  # pylint: disable=broad-except  (any failure: unusable file)
    raise format_lib.LoadError(
      f"{path}: cannot load the Keras model ({errors.first_line(error)})"
    ) from None
  return format_lib.Loaded(
    path=path,
    run=lambda images: keras.ops.convert_to_numpy(model(images, training=False)),
    image_sizes=frozenset({tuple(model.input_shape[1:3])}),
    num_outputs=model.output_shape[-1],
    variables=lambda: {
      keras_model.slim_variable_name(w.path): keras.ops.convert_to_numpy(w) for w in model.weights
    },
  )
