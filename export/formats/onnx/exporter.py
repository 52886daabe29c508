"""ONNX models beside the SavedModel, each checked before it is placed, with test vectors.

Two types, converted from the module's inference network with its batch norm folded exactly
(`export/formats/onnx/model.py`, `export/formats/onnx/quantize.py`):

  float32  `<export_dir>.onnx`       float32 weights, compute and I/O
  int8     `<export_dir>.int8.onnx`  QDQ: 8-bit integers (uint8 weights per channel, uint8
                                     activations: no saturation on any CPU), float32 input in
                                     [0, 1] and float32 output: a drop-in for float32

Beside each model, the test vectors of the ONNX Model Zoo's layout, serialized TensorProtos that
stock ONNX tooling reads (`onnx.numpy_helper.to_array`):

  `<model>.test_data/test_data_set_0/input_0.pb`   `inputs`: TEST_VECTOR_PROBES, [2, S, S, 3]
  `<model>.test_data/test_data_set_0/output_0.pb`  `logits` / `feature_vector` of those images

The expected output is the network's in exact float64 arithmetic, rounded to float32: the same
bits on every machine, unlike any runtime's output. The float32 model meets it within its
threshold; the int8 one in direction and top classes, not digits.

`convert_beside` (the registry's `beside_writer`) converts and checks every model before
anything is written: `onnx.checker` (full check), then agreement with the SavedModel on the 16
probe images run in ONNX Runtime at batch 1 and at batch 8 (`onnx_format.THRESHOLDS`: float32
max |diff| <= 5e-5 * (1 + max |reference|); int8 cosine, top-1 and top-5 as LiteRT's int8). A
model that falls short raises AgreementError (a checker failure, InvalidModelError) and no
file of any type is written. It returns the models and their test-vector directories; the
SavedModel's exporter places them with the SavedModel (export/formats/saved_model/exporter.py).
"""

import hashlib
import pathlib
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import errors
from export.base import probe_images
from export.base import versions
from export.formats import agreement as agreement_lib
from export.formats import format as format_lib
from export.formats import onnx as onnx_format
from export.formats.litert import network as litert_network
from export.formats.onnx import model as onnx_model
from export.formats.onnx import quantize as onnx_quantize

TYPES = onnx_format.TYPES
DEFAULT_TYPES = onnx_format.DEFAULT_TYPES
THRESHOLDS = onnx_format.THRESHOLDS
TEST_DATA_SET = "test_data_set_0"
TEST_VECTOR_PROBES = ("landscape", "gradient_colour")
BATCH_SIZES = (1, probe_images.BATCH_SIZE)
AgreementError = agreement_lib.AgreementError


class InvalidModelError(errors.Failure):
  """A converted model that `onnx.checker` refuses; the message is one line naming it."""


def path_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.onnx` for float32, `<export_dir>.<type>.onnx` for the others."""
  return onnx_format.FORMAT.path_beside(str(pathlib.Path(export_dir).absolute()), model_type)


def test_data_dir(model_path: str) -> str:
  """The directory holding a model's `test_data_set_0`: `<model>.test_data`."""
  return model_path + onnx_format.TEST_DATA_SUFFIX


def convert(
  network,
  image_size: int,
  model_type: str,
  ranges: Optional[np.ndarray] = None,
  float_model=None,
):
  """The serialized model of one type; int8 needs `activation_ranges` of the network.

  `float_model` is the network's float32 ModelProto (`onnx_model.convert`), when an export of
  several types has converted it once for all; it is not changed.
  """
  if float_model is None:
    float_model = onnx_model.convert(network, image_size)
  if model_type == "float32":
    return onnx_model.serialize(float_model)
  if model_type != "int8":
    raise ValueError(f"unknown ONNX model type {model_type!r}; expected one of {TYPES}")
  if ranges is None:
    raise ValueError("an int8 model needs the activation ranges of its calibration")
  return onnx_model.serialize(onnx_quantize.quantize(float_model, network.op_kinds, ranges))


def test_data(network, image_size: int) -> dict:
  """{relative path: TensorProto bytes} of the test vectors: probe images and the exact
  network's outputs, as `<model>.test_data` holds them."""
  from onnx import numpy_helper  # pylint: disable=g-import-not-at-top

  names, probes = probe_images.probe_batch(image_size)
  images = probes[[names.index(name) for name in TEST_VECTOR_PROBES]]
  outputs = litert_network.exact_outputs(network, images).astype(np.float32)
  output_name = onnx_model.OUTPUT_NAMES[onnx_model.module_type_of(network)]
  return {
    f"{TEST_DATA_SET}/input_0.pb": numpy_helper.from_array(
      images, onnx_model.INPUT_NAME
    ).SerializeToString(),
    f"{TEST_DATA_SET}/output_0.pb": numpy_helper.from_array(
      outputs, output_name
    ).SerializeToString(),
  }


def measure(model_type: str, model: bytes, probes, reference, module_type: str, threshold):
  """{batch size: Agreement} of the model run in ONNX Runtime at each of BATCH_SIZES."""
  return {
    size: agreement_lib.measure(
      model_type, onnx_model.run(model, probes, size), reference, module_type, threshold
    )
    for size in BATCH_SIZES
  }


def worst(agreements: dict) -> agreement_lib.Agreement:
  """The agreement that falls furthest short (or is closest to its limits) of several."""
  return min(
    agreements.values(),
    key=lambda a: (a.passed, -a.max_relative_difference, a.min_cosine),
  )


def check(model: bytes, path: str) -> None:
  """InvalidModelError naming `path` unless `onnx.checker` (full check) passes the model."""
  try:
    onnx_model.check(model)
  except Exception as error:  # onnx raises ValidationError, InferenceError, ...
    raise InvalidModelError(
      f"{path}: onnx.checker refuses the converted model ({errors.first_line(error)}); not written"
    ) from None


def _tree_digest(content: dict) -> str:
  """sha256 over each file's relative path and sha256, in path order."""
  digest = hashlib.sha256()
  for relative, data in sorted(content.items()):
    digest.update(f"{relative}\0{hashlib.sha256(data).hexdigest()}\n".encode())
  return digest.hexdigest()


def convert_beside(
  inputs,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  hub_version: int = versions.LATEST_VERSION,
  thresholds: Optional[dict] = None,
) -> list:
  """[(Written, content)] of each type and of its test vectors (content: the model's bytes, or
  {relative path: bytes}), named beside `export_dir`. As LiteRT's `convert_beside`: the
  SavedModel `inputs` names (export/formats/beside_inputs.py) is the reference, int8 is
  calibrated with its ranges (LiteRT's), and AgreementError is raised for a model short of its
  threshold (THRESHOLDS, or `thresholds`) at either batch size. The models carry no hub version:
  the one file serves versions 4 and 5 alike.
  """
  del hub_version
  network, image_size = inputs.network, inputs.image_size
  ranges = inputs.ranges if "int8" in model_types else None
  probes, reference = inputs.probes, inputs.reference
  float_model = onnx_model.convert(network, image_size)  # once: int8 quantizes it
  vectors = test_data(network, image_size)
  vectors_size = sum(len(data) for data in vectors.values())
  checked = []
  for model_type in model_types:
    errors.raise_if_interrupted()  # one lost inside TensorFlow's garbage collection
    path = path_beside(export_dir, model_type)
    model = convert(network, image_size, model_type, ranges, float_model)
    check(model, path)
    threshold = (thresholds or {}).get(model_type) or THRESHOLDS[model_type]
    agreement = worst(measure(model_type, model, probes, reference, inputs.module_type, threshold))
    agreement_lib.check(agreement, path)
    digest = hashlib.sha256(model).hexdigest()
    checked.append((format_lib.Written(model_type, path, len(model), digest, agreement), model))
    directory = test_data_dir(path)
    written = format_lib.Written(
      model_type, directory, vectors_size, _tree_digest(vectors), agreement
    )
    checked.append((written, dict(vectors)))
  return checked
