"""The float32 ONNX model of a module's inference function, with names and bytes made stable.

The model is converted by tf2onnx (opset `OPSET`) from the same function the LiteRT models are
converted from (`litert_network.conversion_function`): the network with its batch norm folded
in exact float64 and rounded to float32, so the converter only transposes and reshapes
constants and no TensorFlow float kernel (the approximate `Rsqrt` of a converter's folding)
touches a weight. tests/test_onnx.py checks that every weight in the file is, bit for bit, a
folded weight.

Interface, as on TF Hub's SavedModel: input `inputs` float32 [batch, S, S, 3] in [0, 1]; output
`logits` [batch, 1001] or `feature_vector` [batch, 1280]; `batch` is a dynamic dimension.

tf2onnx's output is not a pure function of its input: its duplicate-constant merge keeps one of
several identical constants (the Relu6 clip bounds) by an order that varies between processes,
and with it the surviving initializer names and their order; the graph's documentation names
the traced function with a per-process counter; the dynamic dimension gets a generated name.
`normalize` gives every node, tensor and initializer a name that follows from the graph alone
(nodes numbered per op type in their order, which MobileNet's graph fixes; each initializer
named after its first consumer and the input it feeds there), orders the initializers by first
use, and rewrites tf2onnx's `MatMul` + `Add` logits head as one `Gemm`, the form ONNX Runtime
quantizes with an int32 bias (as the ONNX Model Zoo's MobileNet V2 has it).
"""

from typing import Optional

import numpy as np

OPSET = 17
INPUT_NAME = "inputs"
BATCH_DIMENSION = "batch"
OUTPUT_NAMES = {"classification": "logits", "feature_vector": "feature_vector"}
# Ops that only move values: their output takes the range of their input.
VALUE_PRESERVING_OPS = ("Transpose", "Squeeze", "Reshape", "Flatten", "Identity")


def module_type_of(network) -> str:
  return "feature_vector" if network.logits_kernel is None else "classification"


def convert(network, image_size: int):
  """The normalized float32 ModelProto of a `litert_network.FoldedNetwork`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf2onnx  # pylint: disable=g-import-not-at-top

  from export.formats.litert import network as litert_network  # pylint: disable=g-import-not-at-top

  function, _ = litert_network.conversion_function(network, image_size)
  spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name=INPUT_NAME)
  # tf2onnx traces a tf.function itself; wrapping the concrete function adds no op.
  model, _ = tf2onnx.convert.from_function(
    tf.function(function, autograph=False), input_signature=[spec], opset=OPSET
  )
  return normalize(model, OUTPUT_NAMES[module_type_of(network)])


def normalize(model, output_name: str):
  """`model` (changed in place and returned) with names and order that follow from its graph."""
  import onnx  # pylint: disable=g-import-not-at-top

  graph = model.graph
  _fuse_logits_head(graph)
  if len(graph.input) != 1 or len(graph.output) != 1:
    raise ValueError(
      f"expected one input and one output, found {len(graph.input)}, {len(graph.output)}"
    )
  renamed = {graph.input[0].name: INPUT_NAME, graph.output[0].name: output_name}
  counts = {}
  for node in graph.node:
    index = counts[node.op_type] = counts.get(node.op_type, -1) + 1
    node.name = f"{node.op_type}_{index}"
    for position, name in enumerate(node.output):
      renamed.setdefault(name, node.name if len(node.output) == 1 else f"{node.name}:{position}")
  initializers = {tensor.name: tensor for tensor in graph.initializer}
  order = []
  for node in graph.node:
    inputs = onnx.defs.get_schema(node.op_type, OPSET, node.domain).inputs
    for position, name in enumerate(node.input):
      if name in initializers and name not in renamed:
        role = inputs[min(position, len(inputs) - 1)].name
        renamed[name] = f"{node.name}/{role}"
        order.append(initializers[name])
  unused = set(initializers) - {tensor.name for tensor in order}
  if unused:
    raise ValueError(f"initializers no node reads: {sorted(unused)}")
  for node in graph.node:
    node.input[:] = [renamed.get(name, name) for name in node.input]
    node.output[:] = [renamed[name] for name in node.output]
  for tensor in order:
    tensor.name = renamed[tensor.name]
  graph.ClearField("initializer")
  graph.initializer.extend(order)
  graph.ClearField("value_info")  # tf2onnx's shapes under the old names; inferred when needed
  for value in (graph.input[0], graph.output[0]):
    value.name = renamed[value.name]
    value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIMENSION
  graph.name = "mobilenet_v2"
  graph.doc_string = ""
  model.doc_string = ""
  # tf2onnx also imports the ai.onnx.ml domain, which no node uses.
  opsets = [opset for opset in model.opset_import if opset.domain in ("", "ai.onnx")]
  model.ClearField("opset_import")
  model.opset_import.extend(opsets)
  return model


def _fuse_logits_head(graph) -> None:
  """`Add(MatMul(x, W), b)` with constant W and b, the graph's last nodes, as `Gemm(x, W, b)`."""
  import onnx  # pylint: disable=g-import-not-at-top

  nodes = list(graph.node)
  if len(nodes) < 2 or [node.op_type for node in nodes[-2:]] != ["MatMul", "Add"]:
    return
  matmul, add = nodes[-2:]
  constants = {tensor.name for tensor in graph.initializer}
  bias = [name for name in add.input if name != matmul.output[0]]
  if matmul.output[0] not in add.input or len(bias) != 1 or matmul.input[1] not in constants:
    return
  gemm = onnx.helper.make_node(
    "Gemm", [matmul.input[0], matmul.input[1], bias[0]], list(add.output), name="Gemm"
  )
  graph.ClearField("node")
  graph.node.extend(nodes[:-2] + [gemm])


def serialize(model) -> bytes:
  return model.SerializeToString(deterministic=True)


def check(model_bytes: bytes) -> None:
  """`onnx.checker` with full checks (shape inference included); raises on an invalid model."""
  import onnx  # pylint: disable=g-import-not-at-top

  onnx.checker.check_model(onnx.load_from_string(model_bytes), full_check=True)


def session(model_bytes: bytes, threads: Optional[int] = None, spinning: bool = True):
  """An ONNX Runtime session of the model on the CPU: `threads` intra-op threads (default: ONNX
  Runtime's, one per core), which wait for work spinning unless `spinning` is False (spinning
  costs a machine shared with other work more than it gains: docs/onnx.md)."""
  import onnxruntime  # pylint: disable=g-import-not-at-top

  options = onnxruntime.SessionOptions()
  if threads:
    options.intra_op_num_threads = threads
  if not spinning:
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
  return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run(model_bytes: bytes, images: np.ndarray, batch_size: Optional[int] = None) -> np.ndarray:
  """float32 outputs of float32 images [N, S, S, 3] in [0, 1], in batches of `batch_size`
  (default: all at once)."""
  runner = session(model_bytes)
  (given,), (wanted,) = runner.get_inputs(), runner.get_outputs()
  images = np.asarray(images, np.float32)
  size = batch_size or len(images)
  return np.concatenate(
    [
      runner.run([wanted.name], {given.name: images[start : start + size]})[0]
      for start in range(0, len(images), size)
    ]
  )
