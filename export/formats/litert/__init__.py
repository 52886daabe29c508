"""LiteRT (TensorFlow Lite): the inference function as `.tflite` models of four types, written
beside the SavedModel they are converted from and checked against.

`FORMAT` is its entry in the registry; the rest of the package implements it: `converter`
(conversion, quantization, running, the models beside an export), `network` (batch norm folded in
exact arithmetic), `calibration` (activation ranges' images), `metadata` and `flatbuffers` (the
TFLite Model Metadata in every file), `metadata_reader` (that metadata read back and held to the
model), `loader` (a model loaded for classification). This module imports no TensorFlow.

May import: `export.base`, `export.core`, `nets`, and `export.formats.format`, `.agreement`.
"""

import pathlib

from export.formats import agreement
from export.formats import format as format_lib

TYPES = ("float32", "float16", "int8", "uint8")
DEFAULT_TYPES = ("float32",)
FULL_INTEGER_TYPES = ("int8", "uint8")
SUFFIX = ".tflite"

# How closely each type must reproduce the SavedModel on the probe images, and why:
# Float models compute the SavedModel's function with other rounding, so they must agree
# elementwise, relative to 1 + max |reference|: float32 within 5e-5, float16 within 5e-2 and in
# direction (cosine similarity 0.999 on every probe). Measured on seed-0 synthetic checkpoints
# of all 22 variants, both module types (docs/litert.md): float32 up to 1.5e-5 (0.5/128; the
# SavedModel itself is 1.1e-5 from the exact float64 network there, LiteRT 0.7e-5), so the
# 1e-5 first asked for cannot hold between two float32 implementations of every variant; float16
# up to 2.2e-2 (0.5/224), whose cosine never fell below 0.9996.
#
# Full-integer models compute a different function (every activation rounded to 256 levels), so
# they are held to what a user of the outputs relies on, per probe image: the direction of the
# output vector (cosine similarity with the SavedModel's, for logits and feature vectors alike),
# and for classifiers the top-1 class and the top-5 set. Over the same 44 synthetic modules the
# worst probe's cosine was 0.77-0.99 and the mean 0.975-0.998; broken quantization (ranges
# assigned to the wrong ops, halved, or the input scaled or offset wrongly) gave worst cosines
# of 0.23 and below and means of 0.62 and below. On synthetic (random) weights the logits are
# nearly tied, so top-1 and top-5 agreement there say little; their bounds are loose guards.
FLOAT32 = agreement.Threshold(max_relative_difference=5e-5)
FLOAT16 = agreement.Threshold(max_relative_difference=5e-2, min_cosine=0.999)
FULL_INTEGER = agreement.Threshold(
  min_cosine=0.7, min_mean_cosine=0.96, min_top1_agreement=0.5, min_top5_overlap=0.6
)
THRESHOLDS = {"float32": FLOAT32, "float16": FLOAT16, "int8": FULL_INTEGER, "uint8": FULL_INTEGER}


def _kaggle_usage(handle: str, file_name: str, image_size: int) -> list:
  return [
    "import os",
    "import kagglehub",
    "import numpy as np",
    "from ai_edge_litert.interpreter import Interpreter",
    "",
    f'path = kagglehub.model_download("{handle}")',
    f'interpreter = Interpreter(model_path=os.path.join(path, "{file_name}"))',
    "interpreter.allocate_tensors()",
    "inputs = interpreter.get_input_details()[0]",
    "outputs = interpreter.get_output_details()[0]",
    f"images = np.zeros([1, {image_size}, {image_size}, 3], np.float32)  # RGB in [0, 1]",
    'scale, zero_point = inputs["quantization"]',
    "if scale:  # integer inputs: quantize the [0, 1] images first",
    "  images = np.round(images / scale + zero_point)",
    'interpreter.set_tensor(inputs["index"], images.astype(inputs["dtype"]))',
    "interpreter.invoke()",
    'result = interpreter.get_tensor(outputs["index"])',
    'scale, zero_point = outputs["quantization"]',
    "if scale:  # integer outputs: back to floats",
    "  result = (result.astype(np.float32) - zero_point) * scale",
  ]


FORMAT = format_lib.Format(
  name="litert",
  label="LiteRT",
  title="LiteRT {kind} model",
  suffix=SUFFIX,
  implementation="export.formats.litert.loader",
  types=TYPES,
  made_with="saved_model",
  export_flag="tflite",
  beside_writer="export.formats.litert.converter",
  calibrated_types=FULL_INTEGER_TYPES,
  verifiable=True,  # without variables; float16, int8 and uint8 against their THRESHOLDS
  files_written=lambda result: [
    (written.model_type, written.path, {"agreement": written.agreement.as_dict()})
    for written in result.written.get("litert", ())
  ],
  thresholds=tuple(THRESHOLDS[kind] for kind in TYPES),
  # Each type adds a conversion and its agreement check, the integer types a calibration (112
  # images through the exact float64 network): with the four types a version 5 took about 1.6
  # times its version 4 at 0.75/96 and about 2 times at 1.0/224.
  cost_per_type=0.15,
  cost_per_billion_macs=1.7,
  kaggle_framework="tfLite",
  kaggle_slug_suffixes=("", "-fp16", "-int8", "-uint8"),
  # Hub versions 4 and 5 differ in SavedModel features (a signature, a GradientTape fix) that
  # a flatbuffer does not have: a second version would repeat the same model.
  kaggle_hub_versions=format_lib.LATEST_VERSION,
  kaggle_usage=_kaggle_usage,
)


def path_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.tflite` for float32, `<export_dir>.<type>.tflite` for the others."""
  return FORMAT.path_beside(str(pathlib.Path(export_dir).absolute()), model_type)
