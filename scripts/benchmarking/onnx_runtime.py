"""ONNX Runtime measurements: images/s of the ONNX models at batch 1 and 64 beside the SavedModel
in TensorFlow and the LiteRT models, in one process and alternating; and the agreement of each
ONNX type, with int8 (QInt8) activations as the alternative to the uint8 (QUInt8) ones the
export writes. Used by scripts/benchmark_onnx.py (the tables of docs/onnx.md)."""

import pathlib

from benchmarking.litert import THREADS
from benchmarking.litert import alternating_medians

BATCH_SIZES = (1, 64)

# Heavy modules (TensorFlow, ONNX Runtime) are imported where needed.
# pylint: disable=g-import-not-at-top


def int8_activation_variant(result) -> bytes:
  """The export's int8 model remade with int8 (QInt8) activations instead of uint8."""
  from export.formats.litert import calibration as litert_calibration
  from export.formats.litert import network as litert_network
  from export.formats.onnx import model as onnx_model
  from export.formats.onnx import quantize as onnx_quantize

  network = litert_network.fold(result.restored.values, 0.75, "classification")
  ranges = litert_network.activation_ranges(network, litert_calibration.default_images(96))
  float_model = onnx_model.convert(network, 96)
  return onnx_model.serialize(
    onnx_quantize.quantize(float_model, network.op_kinds, ranges, "QInt8")
  )


def speed(export_dir: str, onnx_models: dict, litert_paths: dict, rounds: int) -> dict:
  """{(runtime and type, batch size): images/s}; LiteRT at batch 1 only (as on a device)."""
  import numpy as np
  import tensorflow as tf

  from export.formats.litert import converter as litert
  from export.formats.onnx import model as onnx_model

  loaded = tf.saved_model.load(export_dir)
  results = {}
  for batch in BATCH_SIZES:
    images = np.random.default_rng(1).uniform(size=(batch, 96, 96, 3)).astype(np.float32)
    tensor = tf.constant(images)
    callables = {"SavedModel (TensorFlow)": lambda tensor=tensor: loaded(tensor)}
    for name, model in onnx_models.items():
      session = onnx_model.session(model)
      callables[f"ONNX Runtime {name}"] = lambda s=session, i=images: s.run(None, {"inputs": i})
    if batch == 1:
      for name, path in litert_paths.items():
        interpreter = litert.make_interpreter(pathlib.Path(path).read_bytes(), THREADS)
        given = interpreter.get_input_details()[0]
        interpreter.set_tensor(given["index"], litert.input_values(images, given))
        callables[f"LiteRT {name}"] = interpreter.invoke
    for name, calls in alternating_medians(callables, rounds).items():
      results[(name, batch)] = calls * batch
  return results


def agreement_rows(written: list) -> list:
  """One row per ONNX model and batch size: its agreement figures with the SavedModel."""
  rows = []
  for model in written:
    for batch, agreement in sorted(model.agreements.items()):
      rows.append((model.model_type, batch, agreement))
  return rows
