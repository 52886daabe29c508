"""Runs an exported classification module on image files: the top-k ImageNet labels.

A module is an export of any format in the registry (a SavedModel directory, a Keras 3 `.keras`
file, a LiteRT `.tflite` model of any type, a TF.js model directory run in Node), loaded through
`export.runtime.loading`.
`classify(model_path, image_paths, top_k)` decodes every image first (export/core/images.py), so
that bad files are found before the seconds a module takes to load, then runs the good ones
through the module and returns one result per path, in order: an `ImageResult`, or an
`ImageFailure` naming what was wrong with that file. A module that cannot be used raises
`ClassifyError`. Probabilities are the softmax of the 1001 logits (class 0 "background"); labels
come from the export itself: a SavedModel's `assets/ImageNetLabels.txt`, the file a `.tflite`
model's metadata packs; the package's copy for an export that holds none (a `.keras` file, a
TF.js model, a bare `.tflite`).
"""

import dataclasses
from typing import Sequence
from typing import Union

import numpy as np

from export.base import errors
from export.core import images as images_lib
from export.core import labels as labels_lib
from export.runtime import loading

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


class Classifier:
  """A loaded classification export with its input size and labels (any format)."""

  def __init__(self, model_path: str):
    self.path = model_path
    try:
      self._loaded = loading.load(model_path)
    except loading.LoadError as error:
      raise ClassifyError(str(error)) from None
    fixed = sorted(size for size in self._loaded.image_sizes if None not in size)
    if not fixed:
      raise ClassifyError(f"{model_path}: the module's __call__ takes no images of a fixed size")
    self.image_size = fixed[0]
    if self._loaded.has_head is False:
      raise ClassifyError(
        f"{model_path}: is a feature_vector module; classify needs a classification module"
      )
    num_outputs = self._loaded.num_outputs
    if self._loaded.labels is not None:  # packed in the file (its loader matched the count)
      self.labels = list(self._loaded.labels)
      return
    if self._loaded.labels_path is None:  # a file without labels: the package's copy
      self.labels = labels_lib.read_labels()
      if num_outputs is not None and num_outputs != len(self.labels):
        raise ClassifyError(
          f"{model_path}: outputs {num_outputs} values, not "
          f"{len(self.labels)} logits; classify needs a classification model"
        )
      return
    self.labels = _read_labels(self._loaded.labels_path, model_path)
    if num_outputs is not None and num_outputs != len(self.labels):
      raise ClassifyError(
        f"{model_path}: the labels asset has {len(self.labels)} lines, but "
        f"the module has {num_outputs} logits"
      )

  def logits(self, images: np.ndarray) -> np.ndarray:
    """float32 [N, classes] of float32 images [N, S, S, 3] in [0, 1], in batches."""
    batches = [
      self._loaded.run(images[start : start + BATCH_SIZE])
      for start in range(0, len(images), BATCH_SIZE)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, len(self.labels)), np.float32)


def load(model_path: str) -> Classifier:
  """The classifier for an export; ClassifyError if it is not one that classify can run."""
  return Classifier(model_path)


def _read_labels(path: str, export_dir: str) -> list:
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
