"""ONNX Runtime measurements: images/s of the export's ONNX models at batch 1 and 64 beside the
SavedModel in TensorFlow and the LiteRT models, in one process and alternating; size and
agreement of each ONNX type. Used by scripts/benchmark.py (the ONNX table of
docs/benchmark.md) and scripts/benchmark_onnx.py (agreement per batch size and the activation
type study of docs/onnx.md)."""

import pathlib

from benchmarking.litert import THREADS
from benchmarking.litert import alternating_medians
from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER

BATCH_SIZES = (1, 64)
SAVED_MODEL = "SavedModel (TensorFlow)"
NOT_SPINNING = f"{THREADS} threads, no spinning"

# Heavy modules (TensorFlow, ONNX Runtime) are imported where needed.
# pylint: disable=g-import-not-at-top


# The 8-bit types the export does not write, beside the one it writes (uint8 weights and
# activations): {label: quantize's keyword arguments}.
QUANTIZED_VARIANTS = {
  "int8 weights": {"weight_type": "QInt8"},
  "7-bit int8 weights (reduce_range)": {"weight_type": "QInt8", "reduce_range": True},
  "int8 weights and activations": {"weight_type": "QInt8", "activation_type": "QInt8"},
}


def quantized_variants(values: dict, module_type: str) -> dict:
  """{label: model bytes} of each of QUANTIZED_VARIANTS, quantized from the network of
  checkpoint `values` with the export's ranges."""
  from export.formats.litert import calibration as litert_calibration
  from export.formats.litert import network as litert_network
  from export.formats.onnx import model as onnx_model
  from export.formats.onnx import quantize as onnx_quantize

  network = litert_network.fold(values, MULTIPLIER, module_type)
  ranges = litert_network.activation_ranges(network, litert_calibration.default_images(IMAGE_SIZE))
  float_model = onnx_model.convert(network, IMAGE_SIZE)
  return {
    label: onnx_model.serialize(
      onnx_quantize.quantize(float_model, network.op_kinds, ranges, **options)
    )
    for label, options in QUANTIZED_VARIANTS.items()
  }


def speed(export_dir: str, onnx_models: dict, litert_paths: dict, rounds: int) -> dict:
  """{runtime and type: {batch size: images/s}}; LiteRT at batch 1 only (as on a device), with
  THREADS threads as in the LiteRT table; TensorFlow with its defaults; ONNX Runtime with its
  defaults, and with THREADS threads that do not spin while they wait for work."""
  import numpy as np
  import tensorflow as tf

  from export.formats.litert import converter as litert
  from export.formats.onnx import model as onnx_model

  loaded = tf.saved_model.load(export_dir)
  results = {}
  for batch in BATCH_SIZES:
    shape = (batch, IMAGE_SIZE, IMAGE_SIZE, 3)
    images = np.random.default_rng(1).uniform(size=shape).astype(np.float32)
    tensor = tf.constant(images)
    callables = {SAVED_MODEL: lambda tensor=tensor: loaded(tensor)}
    for name, model in onnx_models.items():
      for label, session in (
        (name, onnx_model.session(model)),
        (f"{name}, {NOT_SPINNING}", onnx_model.session(model, THREADS, spinning=False)),
      ):
        callables[f"ONNX Runtime {label}"] = lambda s=session, i=images: s.run(None, {"inputs": i})
    if batch == 1:
      for name, path in litert_paths.items():
        interpreter = litert.make_interpreter(pathlib.Path(path).read_bytes(), THREADS)
        given = interpreter.get_input_details()[0]
        interpreter.set_tensor(given["index"], litert.input_values(images, given))
        callables[f"LiteRT {name}"] = interpreter.invoke
    for name, calls in alternating_medians(callables, rounds).items():
      results.setdefault(name, {})[batch] = calls * batch
  return results


def measure(export_dir: str, onnx_written: list, litert_written: list, rounds: int) -> dict:
  """{speed, models} of the export's ONNX models (each {model_type, path, agreement} as the
  export child reports it), beside its SavedModel and its LiteRT models."""
  models = {w["model_type"]: pathlib.Path(w["path"]).read_bytes() for w in onnx_written}
  litert_paths = {w["model_type"]: w["path"] for w in litert_written}
  return {
    "speed": speed(export_dir, models, litert_paths, rounds),
    "models": {
      w["model_type"]: {"size_bytes": len(models[w["model_type"]]), "agreement": w["agreement"]}
      for w in onnx_written
    },
  }


def speed_table(speed: dict) -> list:
  """Markdown: images/s per runtime and model at each batch size, and against the SavedModel."""
  reference = speed[SAVED_MODEL]
  lines = [
    "| runtime and model | " + " | ".join(f"batch {b} | x SavedModel" for b in BATCH_SIZES) + " |",
    "|---|" + "---|---|" * len(BATCH_SIZES),
  ]
  for name, by_batch in speed.items():
    cells = [
      f"{by_batch[b]:.0f} | {by_batch[b] / reference[b]:.2f}" if b in by_batch else "– | –"
      for b in BATCH_SIZES
    ]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return lines


def section(onnx: dict) -> list:
  """The ONNX part of docs/benchmark.md."""
  models = onnx["models"]
  lines = ["", "## ONNX Runtime (images/s, median of alternating rounds)", ""]
  lines += speed_table(onnx["speed"])
  lines += [
    "",
    "| ONNX model | size (MB) | % of float32 | max abs diff | min cosine | top-1 | top-5 |",
    "|---|---|---|---|---|---|---|",
  ]
  for name, model in models.items():
    a = model["agreement"]
    lines.append(
      f"| {name} | {model['size_bytes'] / 1e6:.2f} | "
      f"{model['size_bytes'] / models['float32']['size_bytes']:.0%} | "
      f"{a['max_abs_difference']:.2g} | {a['min_cosine']:.4f} | {a['top1_agreement']:.0%} | "
      f"{a['top5_overlap']:.0%} |"
    )
  return lines + [
    "",
    "The export's models (`--onnx --onnx_types=float32,int8`, docs/onnx.md) in ONNX Runtime's "
    "CPU provider, with its default threads and with "
    f"{THREADS} threads that do not spin while waiting (`session.intra_op.allow_spinning` 0), "
    "the SavedModel's `__call__` in TensorFlow and the "
    f"LiteRT models ({THREADS} threads, batch 1) in one process, alternating round by round. "
    "Agreement is the worse of batch 1 and 8 against the SavedModel on the 16 probe images, "
    f"as the export checks it. Converting and checking both types took "
    f"{onnx['export_seconds']:.1f} s of the export (`--onnx --onnx_types=float32,int8`).",
  ]
