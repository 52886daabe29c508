"""An `.onnx` model of either type loaded into ONNX Runtime (the CPU provider), as verification
and classification run it. Its weights are constants under no TF-Slim name: verification
compares its outputs only."""

import numpy as np

from export.base import errors
from export.formats import format as format_lib
from export.formats.onnx import model as onnx_model

check = format_lib.check_model_file


def load(path: str) -> format_lib.Loaded:
  """The ONNX model in `path`; LoadError (one line) if ONNX Runtime cannot load it."""
  model = format_lib.read_model_file(path)
  try:
    session = onnx_model.session(model)
  except Exception as error:  # pylint: disable=broad-except  (ONNX Runtime's own exceptions)
    raise format_lib.LoadError(
      f"{path}: not an ONNX model ONNX Runtime runs ({errors.first_line(error)})"
    ) from None
  given, returned = session.get_inputs(), session.get_outputs()
  if len(given) != 1 or len(returned) != 1 or len(given[0].shape) != 4:
    raise format_lib.LoadError(
      f"{path}: expected one image input [batch, S, S, 3] and one output, found inputs "
      f"{[value.shape for value in given]} and {len(returned)} outputs"
    )
  (given,), (returned,) = given, returned
  num_outputs = returned.shape[-1] if isinstance(returned.shape[-1], int) else None
  size = tuple(dim if isinstance(dim, int) else None for dim in given.shape[1:3])

  def run(images: np.ndarray) -> np.ndarray:
    if not len(images):
      return np.zeros((0, num_outputs or 0), np.float32)
    (outputs,) = session.run([returned.name], {given.name: np.asarray(images, np.float32)})
    return outputs

  return format_lib.Loaded(
    path=path,
    run=run,
    image_sizes=frozenset({size}),
    num_outputs=num_outputs,
    variables=None,  # constants folded into the graph, under no TF-Slim name
    has_head={"logits": True, "feature_vector": False}.get(returned.name),
    kind=_model_type(model),
  )


def _model_type(model: bytes) -> str:
  """int8 for a quantized (QDQ) graph, else float32: verify holds each to its own threshold."""
  import onnx  # pylint: disable=g-import-not-at-top

  nodes = onnx.load_from_string(model).graph.node
  return "int8" if any(node.op_type == "QuantizeLinear" for node in nodes) else "float32"
