"""A `.tflite` model of any type loaded into LiteRT's interpreter, run one image at a time; a
quantized model's input and output are (de)quantized around it."""

import os

import numpy as np

from export.base import errors
from export.formats import format as format_lib
from export.formats.litert import converter


def check(path: str) -> None:
  """LoadError unless `path` is a file (without loading it)."""
  if not os.path.isfile(path):
    raise format_lib.LoadError(f"{path}: model file not found")


def load(path: str) -> format_lib.Loaded:
  """The LiteRT model in `path`; LoadError (one line) if it is not one."""
  check(path)
  with open(path, "rb") as stored:
    model = stored.read()
  try:
    interpreter = converter.make_interpreter(model)
  except (RuntimeError, ValueError) as error:
    raise format_lib.LoadError(f"{path}: not a LiteRT model ({errors.first_line(error)})") from None
  given, returned = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
  num_outputs = int(returned["shape"][-1])

  def run(images: np.ndarray) -> np.ndarray:
    if not len(images):
      return np.zeros((0, num_outputs), np.float32)
    return converter.run(model, images)

  return format_lib.Loaded(
    path=path,
    run=run,
    image_sizes=frozenset({tuple(int(n) for n in given["shape"][1:3])}),
    num_outputs=num_outputs,
    variables=dict,  # constants folded into a flatbuffer, under no TF-Slim name
  )
