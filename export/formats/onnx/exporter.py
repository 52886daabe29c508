"""ONNX models beside the SavedModel, each checked before it is placed, with test vectors.

Two types, converted from the module's inference network with its batch norm folded exactly
(`export/formats/onnx/model.py`, `export/formats/onnx/quantize.py`):

  float32  `<export_dir>.onnx`       float32 weights, compute and I/O
  int8     `<export_dir>.int8.onnx`  QDQ: per-channel int8 weights, uint8 activations, float32
                                     input in [0, 1] and float32 output: a drop-in for float32

Beside each model, the test vectors of the ONNX Model Zoo's layout, serialized TensorProtos that
stock ONNX tooling reads (`onnx.numpy_helper.to_array`):

  `<model>.test_data/test_data_set_0/input_0.pb`   `inputs`: TEST_VECTOR_PROBES, [2, S, S, 3]
  `<model>.test_data/test_data_set_0/output_0.pb`  `logits` / `feature_vector` of those images

The expected output is the network's in exact float64 arithmetic, rounded to float32: the same
bits on every machine, unlike any runtime's output. The float32 model meets it within
`litert_format.FLOAT32`; the int8 one within `litert_format.FULL_INTEGER` (direction and
top classes, not digits).

Before anything is written, each model must pass `onnx.checker` (full check) and agree with the
SavedModel on the 16 probe images run in ONNX Runtime at batch 1 and at batch 8 (float32:
max |diff| <= 5e-5 * (1 + max |reference|); int8: cosine, top-1 and top-5 as LiteRT's int8).
A model that falls short raises AgreementError and no file of any type is written.
"""

import dataclasses
import hashlib
import os
import pathlib
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import files
from export.base import probe_images
from export.formats import agreement as litert_agreement
from export.formats import litert as litert_format
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import converter as litert
from export.formats.litert import network as litert_network
from export.formats.onnx import model as onnx_model
from export.formats.onnx import quantize as onnx_quantize

TYPES = ("float32", "int8")
DEFAULT_TYPES = ("float32",)
SUFFIX = ".onnx"
TEST_DATA_SUFFIX = ".test_data"
TEST_DATA_SET = "test_data_set_0"
TEST_VECTOR_PROBES = ("landscape", "gradient_colour")
BATCH_SIZES = (1, probe_images.BATCH_SIZE)
THRESHOLDS = {"float32": litert_format.FLOAT32, "int8": litert_format.FULL_INTEGER}
AgreementError = litert_agreement.AgreementError


@dataclasses.dataclass(frozen=True)
class WrittenModel:
  """One ONNX file beside the SavedModel, and its agreement at each batch size."""

  model_type: str
  path: str
  size_bytes: int
  sha256: str
  agreements: dict  # batch size -> litert_agreement.Agreement
  test_data_dir: str


def path_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.onnx` for float32, `<export_dir>.<type>.onnx` for the others."""
  target = pathlib.Path(export_dir).absolute()
  infix = "" if model_type == "float32" else f".{model_type}"
  return str(target.with_name(target.name + infix + SUFFIX))


def test_data_dir(model_path: str) -> str:
  """The directory holding a model's `test_data_set_0`: `<model>.test_data`."""
  return model_path + TEST_DATA_SUFFIX


def convert(network, image_size: int, model_type: str, ranges: Optional[np.ndarray] = None):
  """The serialized model of one type; int8 needs `activation_ranges` of the network."""
  float_model = onnx_model.convert(network, image_size)
  if model_type == "float32":
    return onnx_model.serialize(float_model)
  if model_type != "int8":
    raise ValueError(f"unknown ONNX model type {model_type!r}; expected one of {TYPES}")
  if ranges is None:
    raise ValueError("an int8 model needs the activation ranges of its calibration")
  return onnx_model.serialize(onnx_quantize.quantize(float_model, network.op_kinds, ranges))


def test_vectors(network, image_size: int) -> tuple:
  """(input, output) TensorProto bytes: probe images and the exact network's outputs."""
  from onnx import numpy_helper  # pylint: disable=g-import-not-at-top

  names, probes = probe_images.probe_batch(image_size)
  images = probes[[names.index(name) for name in TEST_VECTOR_PROBES]]
  outputs = litert_network.exact_outputs(network, images).astype(np.float32)
  output_name = onnx_model.OUTPUT_NAMES[onnx_model.module_type_of(network)]
  return (
    numpy_helper.from_array(images, onnx_model.INPUT_NAME).SerializeToString(),
    numpy_helper.from_array(outputs, output_name).SerializeToString(),
  )


def measure(model_type: str, model: bytes, probes, reference, module_type: str, threshold):
  """{batch size: Agreement} of the model run in ONNX Runtime at each of BATCH_SIZES."""
  return {
    size: litert_agreement.measure(
      model_type, onnx_model.run(model, probes, size), reference, module_type, threshold
    )
    for size in BATCH_SIZES
  }


def write_beside(
  root,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  calibration_images: Optional[np.ndarray] = None,
  thresholds: Optional[dict] = None,
) -> list:
  """Converts `root` to each type, checks every model, then writes them; a WrittenModel each.

  As `litert.write_beside`: the SavedModel in `export_dir` is the reference, int8 is calibrated
  on `calibration_images` (default: `litert_calibration.default_images`), and AgreementError
  (nothing written) is raised for a model short of its threshold (THRESHOLDS, or `thresholds`).
  """
  network = litert.network_of(root)
  ranges = None
  if "int8" in model_types:
    if calibration_images is None:
      calibration_images = litert_calibration.default_images(root.image_size)
    ranges = litert_network.activation_ranges(network, calibration_images)
  _, probes = probe_images.probe_batch(root.image_size)
  reference = litert.reference_outputs(export_dir, probes)
  vectors = test_vectors(network, root.image_size)
  checked = []
  for model_type in model_types:
    path = path_beside(export_dir, model_type)
    model = convert(network, root.image_size, model_type, ranges)
    onnx_model.check(model)
    threshold = (thresholds or {}).get(model_type) or THRESHOLDS[model_type]
    agreements = measure(model_type, model, probes, reference, root.module_type, threshold)
    for agreement in agreements.values():
      litert_agreement.check(agreement, path)
    checked.append((model_type, path, model, agreements))
  written = []
  for model_type, path, model, agreements in checked:
    directory = test_data_dir(path)
    with files.staged_directory(directory) as staging:
      os.mkdir(os.path.join(staging, TEST_DATA_SET))
      for name, content in zip(("input_0.pb", "output_0.pb"), vectors):
        files.write_file(os.path.join(staging, TEST_DATA_SET, name), content)
    files.write_file(path, model)
    digest = hashlib.sha256(model).hexdigest()
    written.append(WrittenModel(model_type, path, len(model), digest, agreements, directory))
  return written
