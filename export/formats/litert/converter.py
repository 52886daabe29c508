"""LiteRT (TensorFlow Lite) models of the inference function, written beside the SavedModel.

Four types, each converted from the module's inference network with its batch norm folded
exactly (`export/formats/litert/network.py`):

  float32  `<export_dir>.tflite`          float32 weights, compute and I/O
  float16  `<export_dir>.float16.tflite`  float16 weights (dequantized when loaded), float32
                                          compute and I/O: half the size
  int8     `<export_dir>.int8.tflite`     full-integer weights and activations, float32 input
                                          in [0, 1] and float32 output: a drop-in for float32
  uint8    `<export_dir>.uint8.tflite`    full-integer; uint8 input = raw pixels 0..255 (scale
                                          1/255, zero point 0), uint8 output with its own
                                          scale and zero point (the hosted `_quant` models' way)

The files are siblings of the SavedModel directory, so the SavedModel (and its archive and
fingerprint) is the same with or without them. Each model is checked against the SavedModel on the
16 probe images (`export/formats/litert/__init__.py` `THRESHOLDS`, measured by
`export/formats/agreement.py`) before anything is written; one that falls short is refused
(AgreementError) and no file of any type is written. The exporter stages the files with the
SavedModel and places them all together, or none (export/formats/saved_model/exporter.py).

Full-integer models are calibrated in exact arithmetic: the range of every activation over the
calibration images comes from the float64 network (`litert_network.activation_ranges`), is
written into the float32 model's tensors, and TensorFlow's quantizer (the one the converter
runs after its own calibration) turns those ranges into scales and zero points. The
converter's own calibration runs LiteRT's float kernels, whose last bits depend on the CPU;
with exact ranges the int8 and uint8 bytes are a function of the checkpoint alone. The input's
range is [0, 1] by definition, which gives exactly scale 1/255 on the input whatever the
calibration images hold.

Everything that runs a model uses LiteRT's own runtime, `ai_edge_litert` (XNNPACK applies by
default), not the deprecated `tf.lite.Interpreter`.
"""

import hashlib
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import errors
from export.base import versions
from export.formats import agreement as litert_agreement
from export.formats import format as format_lib
from export.formats import litert as litert_format
from export.formats.litert import metadata as litert_metadata
from export.formats.litert import network as litert_network

TYPES = litert_format.TYPES
DEFAULT_TYPES = litert_format.DEFAULT_TYPES
FULL_INTEGER_TYPES = litert_format.FULL_INTEGER_TYPES
AgreementError = litert_agreement.AgreementError


# One LiteRT file beside the SavedModel, with what the export result and cards carry.
WrittenModel = format_lib.Written


# --- conversion --------------------------------------------------------------------------
def network_of(root) -> litert_network.FoldedNetwork:
  """The folded inference network of a module built by `export.core.reusable_module.build`."""
  network = root.network
  values = {
    spec.name: variable.numpy() for spec, variable in zip(network.specs, network.model_variables)
  }
  return litert_network.fold(values, network.depth_multiplier, root.module_type)


def convert_function(concrete_function, trackable, float16: bool = False) -> bytes:
  """A float32 (or float16-weight) flatbuffer of a concrete function taking one image batch.

  The converter freezes the function's variables into constants; nothing is quantized unless
  `float16`. The model has one input and one output and no signature def, as TF Hub's classic
  TFLite MobileNets.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], trackable)
  # By default the converter saves `trackable` as a SavedModel and loads it back first (for
  # 0.75/96, 4 of its 5.5 s); freezing the function directly gives the same ops and outputs.
  converter.experimental_lower_to_saved_model = False
  if float16:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  return converter.convert()


def convert(
  network: litert_network.FoldedNetwork,
  image_size: int,
  model_type: str,
  ranges: Optional[np.ndarray] = None,
) -> bytes:
  """The flatbuffer of one type; full-integer types need `activation_ranges` of the network."""
  function, trackable = litert_network.conversion_function(network, image_size)
  if model_type in ("float32", "float16"):
    return convert_function(function, trackable, float16=model_type == "float16")
  if model_type not in FULL_INTEGER_TYPES:
    raise ValueError(f"unknown LiteRT model type {model_type!r}; expected one of {TYPES}")
  if ranges is None:
    raise ValueError(f"a {model_type} model needs the activation ranges of its calibration")
  float_model = convert_function(function, trackable)
  return quantize(float_model, network.op_kinds, ranges, model_type)


def quantize(
  float_model: bytes, op_kinds: Sequence[str], ranges: np.ndarray, model_type: str
) -> bytes:
  """A full-integer model of `float_model`, with each activation quantized over its range.

  `ranges[0]` is the input's (min, max), `ranges[k + 1]` the output's of the k-th op, whose
  kinds must be `op_kinds`. The ranges are rounded outwards to float32 and stored as the
  calibration statistics the quantizer reads; the quantizer is TensorFlow's own post-training
  one (`mlir_quantize`), as `TFLiteConverter` runs it after calibrating.
  """
  # Internal modules of the pinned TensorFlow (2.21): the public converter offers no way to
  # give it ranges instead of data. Tests check the quantized models' I/O and agreement.
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tensorflow.lite.python import convert as lite_convert
  from tensorflow.lite.python import schema_py_generated as schema
  from tensorflow.lite.tools import flatbuffer_utils
  # pylint: enable=g-import-not-at-top

  model = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_model))
  graph = model.subgraphs[0]
  found = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators]
  if found != list(op_kinds) or len(ranges) != len(op_kinds) + 1:
    raise ValueError(f"the float model's ops {found} are not the network's {list(op_kinds)}")
  tensors = [graph.inputs[0]] + [op.outputs[0] for op in graph.operators]
  for tensor, (low, high) in zip(tensors, ranges):
    graph.tensors[tensor].quantization = schema.QuantizationParametersT(
      min=[_float32_towards(low, -np.inf)], max=[_float32_towards(high, np.inf)]
    )
  io_type = tf.uint8 if model_type == "uint8" else tf.float32
  quantized = lite_convert.mlir_quantize(
    flatbuffer_utils.convert_object_to_bytearray(model),
    input_data_type=io_type,
    output_data_type=io_type,
  )
  return lite_convert.deduplicate_readonly_buffers(quantized)


def _float32_towards(value: float, direction: float) -> float:
  """The float32 nearest `value` on its side of `direction`, so a range only widens."""
  rounded = np.float32(value)
  if (direction < 0 and rounded > value) or (direction > 0 and rounded < value):
    rounded = np.nextafter(rounded, np.float32(direction))
  return float(rounded)


# --- running -----------------------------------------------------------------------------
def make_interpreter(model: bytes, num_threads: Optional[int] = None):
  """A LiteRT interpreter of `model` with its tensors allocated (XNNPACK applies by default)."""
  from ai_edge_litert import interpreter  # pylint: disable=g-import-not-at-top

  result = interpreter.Interpreter(model_content=model, num_threads=num_threads)
  result.allocate_tensors()
  return result


def run(model: bytes, images: np.ndarray, num_threads: Optional[int] = None) -> np.ndarray:
  """float32 outputs of float32 images in [0, 1], one image at a time (batch 1, as on a device).

  A quantized input receives the images quantized with its scale and zero point (for uint8,
  the pixel values when the images are multiples of 1/255); a quantized output is returned
  dequantized.
  """
  interpreter = make_interpreter(model, num_threads)
  given, wanted = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
  outputs = []
  for image in np.asarray(images, np.float32):
    interpreter.set_tensor(given["index"], input_values(image[np.newaxis], given))
    interpreter.invoke()
    outputs.append(_from_output(interpreter.get_tensor(wanted["index"])[0], wanted))
  return np.stack(outputs)


def input_values(images: np.ndarray, details: dict) -> np.ndarray:
  """Float images in [0, 1] as the input tensor (`details`) takes them: quantized if it is."""
  if details["dtype"] == np.float32:
    return images
  scale, zero_point = details["quantization"]
  limits = np.iinfo(details["dtype"])
  levels = np.round(images.astype(np.float64) / scale) + zero_point
  return np.clip(levels, limits.min, limits.max).astype(details["dtype"])


def _from_output(output: np.ndarray, details: dict) -> np.ndarray:
  if details["dtype"] == np.float32:
    return output
  scale, zero_point = details["quantization"]
  return (output.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


# --- the export's LiteRT models ----------------------------------------------------------
def convert_beside(
  inputs,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  thresholds: Optional[dict] = None,
  hub_version: int = versions.LATEST_VERSION,
) -> list:
  """Converts the module of `inputs` (export/formats/beside_inputs.py) to each type and checks
  every model: (WrittenModel, bytes) each.

  The SavedModel `inputs` names (the staged one: the exporter places it together with these
  files) is the reference; the models are named beside `export_dir`. Full-integer types are
  calibrated with the ranges of `inputs` (its calibration images, e.g. from
  `litert_calibration.images_from_directory`, or else the generated default set). Raises
  AgreementError when a model falls short of its threshold (`litert_format.THRESHOLDS`,
  or `thresholds` {type: Threshold}). Writes nothing. Each model carries its TFLite Model
  Metadata (`litert_metadata`), which names `hub_version`.
  """
  network, root = inputs.network, inputs.root
  full_integer = any(model_type in FULL_INTEGER_TYPES for model_type in model_types)
  ranges = inputs.ranges if full_integer else None
  probes, reference = inputs.probes, inputs.reference
  checked = []
  for model_type in model_types:
    errors.raise_if_interrupted()  # one lost inside TensorFlow's garbage collection
    model = convert(network, root.image_size, model_type, ranges)
    subject = litert_metadata.Subject(
      root.module_type, model_type, root.network.depth_multiplier, root.image_size, hub_version
    )
    model = litert_metadata.attach(model, subject)  # checked below as it will be written
    threshold = (thresholds or {}).get(model_type) or litert_format.THRESHOLDS[model_type]
    agreement = litert_agreement.measure(
      model_type, run(model, probes), reference, root.module_type, threshold
    )
    path = litert_format.path_beside(export_dir, model_type)
    litert_agreement.check(agreement, path)
    written = WrittenModel(
      model_type, path, len(model), hashlib.sha256(model).hexdigest(), agreement
    )
    checked.append((written, model))
  return checked


def reference_outputs(export_dir: str, images: np.ndarray) -> np.ndarray:
  """The SavedModel's outputs (logits or features) of the images, as one batch."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.saved_model.load(export_dir)(tf.constant(images)).numpy()
