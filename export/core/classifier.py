"""Runs an exported classification module on image files: the top-k ImageNet labels.

A module is a SavedModel directory, a Keras 3 `.keras` file or a LiteRT `.tflite` model of
any type (float32, float16, int8, uint8). `classify(model_path,
image_paths, top_k)` decodes every image first (export/core/images.py),
so that bad files are found before the seconds a module takes to load, then runs the good
ones through the module and returns one result per path, in order: an `ImageResult`, or an
`ImageFailure` naming what was wrong with that file. A module that cannot be used raises
`ClassifyError`. Probabilities are the softmax of the 1001 logits (class 0 "background");
labels come from a SavedModel's own `assets/ImageNetLabels.txt` (the package's copy for a
`.keras` file, which holds none, and for a `.tflite` file, which packs the same file).
"""

import dataclasses
import os
from typing import Sequence
from typing import Union

import numpy as np
import tensorflow as tf

from export.base import errors
from export.core import images as images_lib
from export.core import labels as labels_lib
from export.core import reusable_module

DEFAULT_TOP_K = labels_lib.DEFAULT_TOP_K
BATCH_SIZE = 32  # images per call of the module; bounds memory for long file lists


class ClassifyError(errors.Failure):
  """A module or request that cannot be used; the message is one line naming the path."""


@dataclasses.dataclass(frozen=True)
class Prediction:
  rank: int  # 1 for the most probable class
  class_index: int  # index into the 1001 logits; 0 is "background"
  label: str
  probability: float  # softmax over all logits
  logit: float


@dataclasses.dataclass(frozen=True)
class ImageResult:
  image_path: str
  height: int  # of the decoded image, before resizing
  width: int
  input_size: tuple  # (height, width) it was resized to: the module's
  predictions: list  # of Prediction, most probable first


@dataclasses.dataclass(frozen=True)
class ImageFailure:
  image_path: str
  message: str  # one line naming the file


class SavedModelClassifier:
  """A loaded classification SavedModel with its input size and labels."""

  def __init__(self, export_dir: str):
    self.path = export_dir
    try:
      self._module = reusable_module.load(export_dir)
    except reusable_module.UnusableExport as error:
      raise ClassifyError(str(error)) from None
    self.image_size, num_outputs = _call_signature(self._module, export_dir)
    if not any("/Logits/" in v.name for v in getattr(self._module, "variables", ())):
      raise ClassifyError(
        f"{export_dir}: is a feature_vector module; classify needs a classification module"
      )
    self.labels = _read_labels(self._module, export_dir)
    if num_outputs is not None and num_outputs != len(self.labels):
      raise ClassifyError(
        f"{export_dir}: the labels asset has {len(self.labels)} lines, but "
        f"the module has {num_outputs} logits"
      )

  def logits(self, images: np.ndarray) -> np.ndarray:
    """float32 [N, classes] of float32 images [N, S, S, 3] in [0, 1]."""
    batches = [
      self._module(tf.constant(images[start : start + BATCH_SIZE])).numpy()
      for start in range(0, len(images), BATCH_SIZE)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, len(self.labels)), np.float32)


class KerasClassifier:
  """A `.keras` classifier (export/core/keras_model.py), with the package's labels."""

  def __init__(self, path: str):
    import keras  # pylint: disable=g-import-not-at-top  (only for Keras files)

    self.path = path
    try:
      self._model = keras.saving.load_model(path)
    except Exception as error:  # pylint: disable=broad-except  (any failure: unusable file)
      raise ClassifyError(
        f"{path}: cannot load the Keras model ({errors.first_line(error)})"
      ) from None
    self.image_size = tuple(self._model.input_shape[1:3])
    self.labels = labels_lib.read_labels()
    if self._model.output_shape[-1] != len(self.labels):
      raise ClassifyError(
        f"{path}: outputs {self._model.output_shape[-1]} values, not "
        f"{len(self.labels)} logits; classify needs a classification model"
      )

  def logits(self, images: np.ndarray) -> np.ndarray:
    return self._model.predict(images, batch_size=BATCH_SIZE, verbose=0)


class LiteRTClassifier:
  """A `.tflite` classifier of any type, run with LiteRT one image at a time, with the
  package's labels; a quantized model's input and output are (de)quantized around it."""

  def __init__(self, path: str):
    from export.core import litert  # pylint: disable=g-import-not-at-top

    self.path, self._litert = path, litert
    with open(path, "rb") as model:
      self._model = model.read()
    try:
      interpreter = litert.make_interpreter(self._model)
    except (RuntimeError, ValueError) as error:
      raise ClassifyError(f"{path}: not a LiteRT model ({errors.first_line(error)})") from None
    given, returned = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    self.image_size = tuple(int(n) for n in given["shape"][1:3])
    self.labels = labels_lib.read_labels()
    if int(returned["shape"][-1]) != len(self.labels):
      raise ClassifyError(
        f"{path}: outputs {returned['shape'][-1]} values, not "
        f"{len(self.labels)} logits; classify needs a classification model"
      )

  def logits(self, images: np.ndarray) -> np.ndarray:
    if not len(images):
      return np.zeros((0, len(self.labels)), np.float32)
    return self._litert.run(self._model, images)


_FILE_CLASSIFIERS = {".keras": KerasClassifier, ".tflite": LiteRTClassifier}


def load(model_path: str):
  """The classifier for an export; ClassifyError if it is not one that classify can run."""
  suffix = os.path.splitext(str(model_path))[1]
  if suffix in _FILE_CLASSIFIERS:
    if not os.path.isfile(model_path):
      raise ClassifyError(f"{model_path}: model file not found")
    return _FILE_CLASSIFIERS[suffix](model_path)
  try:
    reusable_module.check_export_dir(model_path)
  except reusable_module.UnusableExport as error:
    raise ClassifyError(str(error)) from None
  return SavedModelClassifier(model_path)


def _call_signature(module, export_dir: str):
  """((height, width), number of outputs or None) from the traced `__call__`."""
  for spec, outputs in reusable_module.traced_calls(module):
    if None not in spec.shape[1:3]:
      num_outputs = outputs.shape[-1] if isinstance(outputs, tf.TensorSpec) else None
      return (spec.shape[1], spec.shape[2]), num_outputs
  raise ClassifyError(f"{export_dir}: the module's __call__ takes no images of a fixed size")


def _read_labels(module, export_dir: str) -> list:
  asset = getattr(module, "labels_file", None)
  if asset is not None:
    path = asset.asset_path.numpy().decode()
  else:
    path = os.path.join(export_dir, "assets", labels_lib.LABELS_FILE_NAME)
  try:
    labels = labels_lib.read_labels(path)
  except OSError:
    raise ClassifyError(
      f"{export_dir}: no labels asset assets/{labels_lib.LABELS_FILE_NAME} "
      f"(classify reads the class names from it)"
    ) from None
  if not labels:
    raise ClassifyError(f"{path}: the labels asset is empty")
  return labels


def softmax(logits: np.ndarray) -> np.ndarray:
  """Probabilities over the last axis, computed in float64."""
  shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
  exp = np.exp(shifted)
  return exp / exp.sum(axis=-1, keepdims=True)


def top_predictions(logits: np.ndarray, labels: Sequence[str], top_k: int) -> list:
  """The `top_k` most probable classes of one image's logits, most probable first."""
  probabilities = softmax(logits)
  order = np.argsort(-logits, kind="stable")[:top_k]  # ties: the lower class index first
  return [
    Prediction(rank, int(index), labels[index], float(probabilities[index]), float(logits[index]))
    for rank, index in enumerate(order, start=1)
  ]


def classify(model_path: str, image_paths: Sequence[str], top_k: int = DEFAULT_TOP_K) -> list:
  """One ImageResult or ImageFailure per image path, in order (see the module docstring)."""
  decoded = {}
  for path in image_paths:
    try:
      decoded[path] = images_lib.decode_image_file(str(path))
    except images_lib.ImageError as error:
      decoded[path] = ImageFailure(str(path), str(error))
  classifier = load(model_path)
  if not 1 <= top_k <= len(classifier.labels):
    raise ValueError(f"top_k must lie between 1 and {len(classifier.labels)}, got {top_k}")
  good = [path for path in image_paths if not isinstance(decoded[path], ImageFailure)]
  batch = (
    np.stack([images_lib.preprocess(decoded[path], classifier.image_size).numpy() for path in good])
    if good
    else np.zeros((0, *classifier.image_size, 3), np.float32)
  )
  logits = dict(zip(good, classifier.logits(batch)))
  results: list = []
  for path in image_paths:
    item: Union[ImageResult, ImageFailure] = decoded[path]
    if not isinstance(item, ImageFailure):
      item = ImageResult(
        str(path),
        int(item.shape[0]),
        int(item.shape[1]),
        classifier.image_size,
        top_predictions(logits[path], classifier.labels, top_k),
      )
    results.append(item)
  return results
