"""LiteRT (TensorFlow Lite): the inference function as `.tflite` models of four types, written
beside the SavedModel they are converted from and checked against.

`FORMAT` is its entry in the registry; the rest of the package implements it: `converter`
(conversion, quantization, running, the models beside an export), `network` (batch norm folded
in exact arithmetic), `calibration` (activation ranges' images) and `agreement` (how close each
type must stay to the SavedModel), `loader` (a model loaded for classification). This module
imports no TensorFlow.

May import: `export.base`, `export.core`, `nets`, and `export.formats.format`.
"""

import pathlib

from export.formats import format as format_lib

TYPES = ("float32", "float16", "int8", "uint8")
DEFAULT_TYPES = ("float32",)
FULL_INTEGER_TYPES = ("int8", "uint8")
SUFFIX = ".tflite"

FORMAT = format_lib.Format(
  name="litert",
  title="LiteRT model",
  suffix=SUFFIX,
  implementation="export.formats.litert.loader",
  types=TYPES,
  made_with="saved_model",
  kaggle_framework="tfLite",
  kaggle_slug_suffixes=("", "-fp16", "-int8", "-uint8"),
  # Hub versions 4 and 5 differ in SavedModel features (a signature, a GradientTape fix) that
  # a flatbuffer does not have: a second version would repeat the same model.
  kaggle_hub_versions=format_lib.LATEST_VERSION,
)


def path_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.tflite` for float32, `<export_dir>.<type>.tflite` for the others."""
  return FORMAT.path_beside(str(pathlib.Path(export_dir).absolute()), model_type)


def check_request(tflite: bool, tflite_types, calibration_images) -> None:
  """ValueError for LiteRT options that cannot work (checked before TensorFlow is imported)."""
  if not tflite_types or any(name not in TYPES for name in tflite_types):
    raise ValueError(
      f"tflite types must be a non-empty subset of {', '.join(TYPES)}, "
      f"got {', '.join(tflite_types) or 'none'}"
    )
  if not tflite and tuple(tflite_types) != DEFAULT_TYPES:
    raise ValueError("--tflite_types needs --tflite")
  if calibration_images is not None and not (
    tflite and set(FULL_INTEGER_TYPES) & set(tflite_types)
  ):
    raise ValueError("--calibration_images needs --tflite with int8 or uint8 in --tflite_types")
