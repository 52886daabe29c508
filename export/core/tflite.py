"""An optional float TFLite model of the inference function, written beside the SavedModel.

`write_beside(root, export_dir)` writes `<export_dir>.tflite`, a sibling of the SavedModel
directory rather than a file inside it, so the SavedModel (and its archive and fingerprint)
is the same with or without it. The model is converted from `__call__(images,
training=False)` with the default batch-norm momentum, in float32 without quantization, and
written only after it reproduces the SavedModel's outputs on a few fixed inputs within the
verification tolerance `1e-4 * (1 + max |ref|)` (docs/verification.md).
"""

import pathlib
from typing import Optional
import warnings

import numpy as np
import tensorflow as tf

from export.base import errors
from export.base import files
from export.core import reusable_module

SUFFIX = ".tflite"
PARITY_RANDOM_IMAGES = 2  # seeded uniform images, besides an all-black and an all-white one
PARITY_SEED = 0


class ParityError(errors.Failure):
  """The converted model does not reproduce the SavedModel; the message is one line."""


def path_beside(export_dir: str) -> str:
  """`<export_dir>.tflite`, whatever trailing separator `export_dir` has."""
  target = pathlib.Path(export_dir).absolute()
  return str(target.with_name(target.name + SUFFIX))


def convert(concrete_function, trackable) -> bytes:
  """A float32 TFLite flatbuffer of `concrete_function`, whose variables `trackable` holds.

  The converter freezes the variables into constants and folds batch norm into the
  convolutions; no optimization flag is set, so nothing is quantized. The model has one input
  and one output and no signature def, as TF Hub's classic TFLite MobileNets.
  """
  converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], trackable)
  # By default the converter saves `trackable` as a SavedModel and loads it back first: for
  # 0.75/96, 4 of its 5.5 s. Freezing the function directly gives the same ops and outputs.
  converter.experimental_lower_to_saved_model = False
  return converter.convert()


def inference_function(root: reusable_module.ReusableModule):
  """The concrete `__call__` that serving uses: training=False, default momentum."""
  images = reusable_module.input_spec(root.image_size)
  return root.__call__.get_concrete_function(images, training=False)


def make_interpreter(model: bytes, num_threads: Optional[int] = None) -> tf.lite.Interpreter:
  """An interpreter of `model` with its tensors allocated (XNNPACK applies by default)."""
  with warnings.catch_warnings():
    # TF 2.21 announces the move of tf.lite.Interpreter to ai_edge_litert; it works as is.
    warnings.filterwarnings("ignore", ".*tf.lite.Interpreter is deprecated", UserWarning)
    result = tf.lite.Interpreter(model_content=model, num_threads=num_threads)
  result.allocate_tensors()
  return result


def run(model: bytes, images: np.ndarray, num_threads: Optional[int] = None) -> np.ndarray:
  """The model's output for each image, run one at a time (batch 1, as on a device)."""
  interpreter = make_interpreter(model, num_threads)
  input_index = interpreter.get_input_details()[0]["index"]
  output_index = interpreter.get_output_details()[0]["index"]
  outputs = []
  for image in images:
    interpreter.set_tensor(input_index, image[np.newaxis])
    interpreter.invoke()
    outputs.append(interpreter.get_tensor(output_index)[0])
  return np.stack(outputs)


def parity_images(image_size: int) -> np.ndarray:
  """Fixed inputs in [0, 1]: black, white and seeded noise (float32, NHWC)."""
  shape = (image_size, image_size, 3)
  noise = np.random.default_rng(PARITY_SEED).uniform(size=(PARITY_RANDOM_IMAGES,) + shape)
  return np.concatenate([np.zeros((1,) + shape), np.ones((1,) + shape), noise]).astype(np.float32)


def check_parity(model: bytes, export_dir: str, image_size: int) -> float:
  """Compares the model with the SavedModel in `export_dir`; returns the max |diff|."""
  images = parity_images(image_size)
  want = tf.saved_model.load(export_dir)(tf.constant(images)).numpy()
  got = run(model, images)
  if got.shape != want.shape:
    raise ParityError(
      f"{path_beside(export_dir)}: the TFLite model's output has shape "
      f"{list(got.shape)}, the SavedModel's {list(want.shape)}; not written"
    )
  difference = float(np.abs(got - want).max())
  tolerance = 1e-4 * (1.0 + float(np.abs(want).max()))
  if not difference <= tolerance:  # also catches NaN
    raise ParityError(
      f"{path_beside(export_dir)}: the TFLite model differs from the "
      f"SavedModel by up to {difference:.3g} (tolerance {tolerance:.3g}); "
      f"not written"
    )
  return difference


def write_beside(root: reusable_module.ReusableModule, export_dir: str) -> str:
  """Converts `root`, checks it against the SavedModel saved from it, writes the .tflite.

  The SavedModel must already be complete in `export_dir`; it is left as it is when the
  check fails (ParityError), and the .tflite is then not written. Returns the path.
  """
  model = convert(inference_function(root), root)
  check_parity(model, export_dir, root.image_size)
  path = path_beside(export_dir)
  files.write_file(path, model)
  return path
