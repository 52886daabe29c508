"""A TF.js graph model directory loaded for verification and classification, run in Node by
`@tensorflow/tfjs` (its wasm backend; export/formats/tfjs/node.py): the client web users run."""

import json
import os

import numpy as np

from export.formats import format as format_lib
from export.formats import tfjs as tfjs_format
from export.formats.tfjs import node as tfjs_node

OUTPUT_HEADS = {"logits": True, "feature_vector": False}  # output name -> holds the Logits layer


def _model_json(path: str) -> dict:
  """The parsed model.json of the directory `path`; LoadError (one line) if it is not one."""
  model_json = os.path.join(path, tfjs_format.MODEL_JSON)
  if not os.path.isdir(path):
    raise format_lib.LoadError(f"{path}: TF.js model directory not found")
  if not os.path.isfile(model_json):
    raise format_lib.LoadError(f"{path}: no {tfjs_format.MODEL_JSON}; not a TF.js graph model")
  try:
    with open(model_json, "rb") as stream:
      model = json.loads(stream.read())
  except (OSError, ValueError) as error:
    raise format_lib.LoadError(f"{model_json}: unreadable ({error})") from None
  if not isinstance(model, dict) or "modelTopology" not in model or "signature" not in model:
    raise format_lib.LoadError(
      f"{model_json}: not a TF.js graph model (no modelTopology/signature)"
    )
  return model


def check(path: str) -> None:
  """LoadError unless `path` is a directory with a parseable graph-model model.json."""
  _model_json(path)


def _dimensions(tensor: dict) -> list:
  return [int(dim.get("size", -1)) for dim in tensor.get("tensorShape", {}).get("dim", ())]


def load(path: str) -> format_lib.Loaded:
  """The TF.js model in `path`; LoadError (one line) if its signature is not an image model's or
  Node cannot run it (and from `run`, if Node fails)."""
  model = _model_json(path)
  try:
    tfjs_node.node_executable()  # before any work: Node and tfjs must be there to run it
  except tfjs_node.NodeError as error:
    raise format_lib.LoadError(f"{path}: cannot run a TF.js model: {error}") from None
  inputs, outputs = model["signature"].get("inputs", {}), model["signature"].get("outputs", {})
  if len(inputs) != 1 or len(outputs) != 1:
    raise format_lib.LoadError(
      f"{path}: expected one input and one output in model.json's signature, found "
      f"{len(inputs)} and {len(outputs)}"
    )
  (given,), ((output_name, returned),) = inputs.values(), outputs.items()
  input_shape, output_shape = _dimensions(given), _dimensions(returned)
  if len(input_shape) != 4 or input_shape[3] != 3 or len(output_shape) != 2:
    raise format_lib.LoadError(
      f"{path}: expected images [N, S, S, 3] in and [N, K] out, found {input_shape} and "
      f"{output_shape}"
    )
  num_outputs = output_shape[1] if output_shape[1] > 0 else None
  height, width = (size if size > 0 else None for size in input_shape[1:3])
  head = output_name.split(":")[0]

  def run(images: np.ndarray) -> np.ndarray:
    if not len(images):
      return np.zeros((0, num_outputs or 0), np.float32)
    try:
      backend = tfjs_node.CHECK_BACKEND
      return tfjs_node.run(path, images, backends=[backend])[backend].outputs
    except tfjs_node.NodeError as error:
      raise format_lib.LoadError(f"{path}: {error}") from None

  return format_lib.Loaded(
    path=path,
    run=run,
    image_sizes=frozenset({(height, width)}),
    num_outputs=num_outputs,
    variables=None,  # folded constants under no TF-Slim name
    has_head=OUTPUT_HEADS.get(head),
    kind=_weight_type(model),
  )


def _weight_type(model: dict) -> str:
  """float32, float16 or uint8: how the converter stored the weights (model.json's manifest)."""
  stored = {
    weight.get("quantization", {}).get("dtype", weight.get("dtype"))
    for group in model.get("weightsManifest", ())
    for weight in group.get("weights", ())
  }
  for kind in ("uint8", "float16"):
    if kind in stored:
      return kind
  return "float32"
