"""ONNX: the inference function as `.onnx` models (float32, int8) with test vectors, written
beside the SavedModel they are converted from and checked against (docs/onnx.md).

`FORMAT` is its entry in the registry; the rest of the package implements it: `exporter` (the
models and test vectors of an export, converted and checked before they are placed), `model`
(tf2onnx's conversion of the folded network, names and bytes made stable; running it in ONNX
Runtime), `quantize` (ONNX Runtime's static QDQ quantization on exact ranges), `loader` (a
model loaded for verification and classification). This module imports no TensorFlow, onnx or
ONNX Runtime.

May import: `export.base`, `export.core`, `nets`, `export.formats.format`, `.agreement`, the
other formats' packages (LiteRT's folded network and calibration), tf2onnx, onnx and ONNX
Runtime (only here).
"""

from export.formats import agreement
from export.formats import format as format_lib
from export.formats import litert

TYPES = ("float32", "int8")
DEFAULT_TYPES = ("float32",)
SUFFIX = ".onnx"
# Beside each model, its test vectors as the ONNX Model Zoo ships them:
# `<model>.test_data/test_data_set_0/{input_0,output_0}.pb`.
TEST_DATA_SUFFIX = ".test_data"

# How closely each type must reproduce the SavedModel on the probe images, at batch 1 and at a
# larger batch: float32 is the SavedModel's function in other rounding, held as LiteRT's float32
# (5e-5 relative to 1 + max |reference|; measured 1.1e-5 at 0.75/96, docs/onnx.md); int8 rounds
# every activation to 256 levels, held as LiteRT's full-integer models are (direction and top
# classes, export/formats/litert/__init__.py).
THRESHOLDS = {
  "float32": agreement.Threshold(max_relative_difference=5e-5),
  "int8": litert.FULL_INTEGER,
}


def _files_written(result) -> list:
  """The models an export wrote (their test vectors are their companions), with the worse of
  their agreements at the two batch sizes."""
  return [
    (written.model_type, written.path, {"agreement": written.agreement.as_dict()})
    for written in result.written.get("onnx", ())
    if written.path.endswith(SUFFIX)
  ]


def _kaggle_usage(handle: str, file_name: str, image_size: int) -> list:
  return [
    "import os",
    "import kagglehub",
    "import numpy as np",
    "import onnxruntime",
    "",
    f'path = kagglehub.model_download("{handle}")',
    "session = onnxruntime.InferenceSession(",
    f'  os.path.join(path, "{file_name}"), providers=["CPUExecutionProvider"]',
    ")",
    f"images = np.zeros([1, {image_size}, {image_size}, 3], np.float32)  # RGB in [0, 1]",
    '(result,) = session.run(None, {"inputs": images})  # any batch size',
  ]


FORMAT = format_lib.Format(
  name="onnx",
  label="ONNX",
  title="ONNX {kind} model",
  suffix=SUFFIX,
  implementation="export.formats.onnx.loader",
  types=TYPES,
  made_with="saved_model",
  export_flag="onnx",
  beside_writer="export.formats.onnx.exporter",
  calibrated_types=("int8",),
  files_written=_files_written,
  companion_suffix=TEST_DATA_SUFFIX,
  thresholds=tuple(THRESHOLDS[kind] for kind in TYPES),
  verifiable=True,  # its outputs; its weights are constants under no TF-Slim name
  # Each type adds a tf2onnx conversion, the checker and ONNX Runtime runs at two batch sizes;
  # int8 also the exact calibration (as LiteRT's) and ONNX Runtime's quantizer. At 0.75/96 both
  # types added 11.7 s to an export where LiteRT's four added 15.4 s (docs/onnx.md): about
  # 1.3 LiteRT types each. The size term is taken as LiteRT's (the same network work).
  cost_per_type=0.2,
  cost_per_billion_macs=1.7,
  kaggle_framework="onnx",
  kaggle_slug_suffixes=("", "-int8"),
  # As LiteRT's: hub versions 4 and 5 differ in SavedModel features the ONNX graph has not.
  kaggle_hub_versions=format_lib.LATEST_VERSION,
  kaggle_usage=_kaggle_usage,
)
