"""A `.tflite` model of any type loaded into LiteRT's interpreter, run one image at a time; a
quantized model's input and output are (de)quantized around it.

A file with TFLite Model Metadata is held to it (`metadata_reader`): metadata that contradicts
how the model is run here (the SavedModel's [0, 1] input) or its output width is refused with
one line naming the file and the field, and a classifier's packed labels become its labels.
A bare file loads as it is."""

import numpy as np

from export.base import errors
from export.formats import format as format_lib
from export.formats.litert import converter
from export.formats.litert import metadata_reader

check = format_lib.check_model_file


def load(path: str) -> format_lib.Loaded:
  """The LiteRT model in `path`; LoadError (one line) if it is not one."""
  model = format_lib.read_model_file(path)
  try:
    interpreter = converter.make_interpreter(model)
  except (RuntimeError, ValueError) as error:
    raise format_lib.LoadError(f"{path}: not a LiteRT model ({errors.first_line(error)})") from None
  given, returned = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
  num_outputs = int(returned["shape"][-1])
  try:
    described = metadata_reader.read(model)
  except ValueError as error:
    raise format_lib.LoadError(f"{path}: {error}") from None
  if described is not None:
    found = metadata_reader.contradictions(described, given, num_outputs)
    if found:
      raise format_lib.LoadError(f"{path}: its metadata contradicts the model: {found[0]}")

  def run(images: np.ndarray) -> np.ndarray:
    if not len(images):
      return np.zeros((0, num_outputs), np.float32)
    return converter.run(model, images)

  return format_lib.Loaded(
    path=path,
    run=run,
    image_sizes=frozenset({tuple(int(n) for n in given["shape"][1:3])}),
    num_outputs=num_outputs,
    variables=None,  # folded with batch norm into constants, under no TF-Slim name
    labels=described.labels if described is not None else None,
    kind=model_type(interpreter),
  )


def model_type(interpreter) -> str:
  """Which of the four types a loaded model is, from its tensors: uint8 takes uint8 pixels,
  int8 computes in int8, float16 stores float16 weights."""
  if interpreter.get_input_details()[0]["dtype"] == np.uint8:
    return "uint8"
  dtypes = {np.dtype(tensor["dtype"]).name for tensor in interpreter.get_tensor_details()}
  return "int8" if "int8" in dtypes else "float16" if "float16" in dtypes else "float32"
