r"""Classifies image files with an exported classification SavedModel: the top-k labels.

  python -m export.classify --export_dir=/tmp/mobilenet_v2_075_96 photo.jpg drawing.png
  python -m export.classify --export_dir=/tmp/mobilenet_v2_075_96 --json --top_k=3 photo.jpg

Each image goes through what a TF Hub image module expects of its caller:

  1. decode: `tf.io.decode_image(channels=3, expand_animations=False)`, so JPEG, PNG, GIF
     (first frame), BMP and WebP files all work; grey and RGBA images become RGB;
  2. scale: `tf.image.convert_image_dtype(image, tf.float32)`, pixels / 255, in [0, 1];
  3. resize: the whole image, bilinear with antialiasing, to the module's S x S, without
     keeping the aspect ratio and without cropping. S is read from the SavedModel itself (the
     input signature of its traced `__call__`). Antialiasing matters when a photo shrinks to
     96 pixels: plain bilinear samples only the 4 source pixels nearest each output pixel and
     aliases; upscaling is the same either way.

The module maps [0, 1] to [-1, 1] itself. Probabilities are the softmax of the 1001 logits
(class 0 is "background"), and labels come from the SavedModel's own
`assets/ImageNetLabels.txt`. The binary prints the top 5 (`--top_k`) per image, or one JSON
document with `--json`. Exit codes: 0 done; 2 bad flags, an image that cannot be read or
decoded, or an export that is not a classification SavedModel with its labels.
"""

import dataclasses
import json
import os
import pathlib
import re
from typing import Sequence

from absl import flags
import numpy as np
import tensorflow as tf

from export import checkpoint
from export import cli
from export import hub_layout
from export import probe_images
from export import reusable_module

DEFAULT_TOP_K = 5
BATCH_SIZE = 32  # images per call of the module; bounds memory for long file lists
ANTIALIAS = True
PREPROCESSING = ("tf.io.decode_image(channels=3) -> float32 in [0, 1] -> bilinear resize of "
                 f"the whole image to the module's size (antialias={ANTIALIAS}, aspect ratio "
                 "not kept, no crop)")


class ClassifyError(Exception):
  """An image or export that cannot be used; the message is one line naming the path."""


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


# --- images ------------------------------------------------------------------------------
def decode_image_file(path: str) -> tf.Tensor:
  """uint8 [H, W, 3] of an image file; ClassifyError naming the file if it is not one."""
  try:
    with open(path, "rb") as image_file:
      data = image_file.read()
  except OSError as error:
    raise ClassifyError(f"{path}: cannot read the file ({error.strerror})") from None
  try:
    return tf.io.decode_image(data, channels=3, expand_animations=False)
  except tf.errors.InvalidArgumentError as error:
    raise ClassifyError(f"{path}: not an image that tf.io.decode_image can decode "
                        f"({_op_message(error)})") from None


def _op_message(error: tf.errors.OpError) -> str:
  # Kernel errors carry "{{function_node ...}}" and "[Op:...]" around the readable part.
  message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", checkpoint.first_line(error))
  return message.strip().rstrip(".")


def preprocess(image: tf.Tensor, image_size: Sequence[int]) -> tf.Tensor:
  """float32 [S, S, 3] in [0, 1]: a decoded uint8 image as the module expects it."""
  image = tf.image.convert_image_dtype(image, tf.float32)
  resized = tf.image.resize(image, image_size, method="bilinear", antialias=ANTIALIAS)
  # Antialiased weights sum to 1 only up to rounding (1 + 2e-7 seen): keep inside [0, 1].
  return tf.clip_by_value(resized, 0.0, 1.0)


def write_example_image(path: str, size: int = 256, kind: str = "landscape",
                        seed: int = 0) -> str:
  """Writes a synthetic photo (export/probe_images.py) as PNG or JPEG, by the file suffix."""
  pixels = probe_images.quantize(probe_images.synthetic_photo(kind, size, seed))
  suffix = pathlib.Path(path).suffix.lower()
  if suffix == ".png":
    encoded = tf.io.encode_png(pixels)
  elif suffix in (".jpg", ".jpeg"):
    encoded = tf.io.encode_jpeg(pixels, quality=95)
  else:
    raise ValueError(f"{path}: write a .png, .jpg or .jpeg file")
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(path).write_bytes(encoded.numpy())
  return path


# --- the module --------------------------------------------------------------------------
class Classifier:
  """A loaded classification SavedModel with its input size and labels."""

  def __init__(self, export_dir: str):
    self.export_dir = export_dir
    self._module = _load(export_dir)
    self.image_size, num_outputs = _call_signature(self._module, export_dir)
    if not _has_logits(self._module):
      raise ClassifyError(f"{export_dir}: is a feature_vector module; classify needs a "
                          f"classification module")
    self.labels = _read_labels(self._module, export_dir)
    if num_outputs is not None and num_outputs != len(self.labels):
      raise ClassifyError(f"{export_dir}: the labels asset has {len(self.labels)} lines, but "
                          f"the module has {num_outputs} logits")

  def logits(self, images: np.ndarray) -> np.ndarray:
    """float32 [N, classes] of float32 images [N, S, S, 3] in [0, 1]."""
    batches = [self._module(tf.constant(images[start:start + BATCH_SIZE])).numpy()
               for start in range(0, len(images), BATCH_SIZE)]
    return np.concatenate(batches) if batches else np.zeros((0, len(self.labels)), np.float32)


def _load(export_dir: str):
  try:
    return reusable_module.load(export_dir)
  except reusable_module.UnusableExport as error:
    raise ClassifyError(str(error)) from None


def _call_signature(module, export_dir: str):
  """((height, width), number of outputs or None) from the traced `__call__`."""
  for spec, outputs in reusable_module.traced_calls(module):
    if None not in spec.shape[1:3]:
      num_outputs = outputs.shape[-1] if isinstance(outputs, tf.TensorSpec) else None
      return (spec.shape[1], spec.shape[2]), num_outputs
  raise ClassifyError(f"{export_dir}: the module's __call__ takes no images of a fixed size")


def _has_logits(module) -> bool:
  # A feature-vector export is the same network without the TF-Slim Logits layer.
  return any("/Logits/" in variable.name for variable in getattr(module, "variables", ()))


def _read_labels(module, export_dir: str) -> list:
  asset = getattr(module, "labels_file", None)
  if asset is not None:
    path = asset.asset_path.numpy().decode()
  else:
    path = os.path.join(export_dir, "assets", hub_layout.LABELS_FILE_NAME)
  try:
    with open(path, encoding="utf-8") as labels_file:
      labels = labels_file.read().splitlines()
  except OSError:
    raise ClassifyError(f"{export_dir}: no labels asset assets/{hub_layout.LABELS_FILE_NAME} (classify "
                        f"reads the class names from it)") from None
  if not labels:
    raise ClassifyError(f"{path}: the labels asset is empty")
  return labels


# --- classification ----------------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
  """Probabilities over the last axis, computed in float64."""
  shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
  exp = np.exp(shifted)
  return exp / exp.sum(axis=-1, keepdims=True)


def top_predictions(logits: np.ndarray, labels: Sequence[str], top_k: int) -> list:
  """The `top_k` most probable classes of one image's logits, most probable first."""
  probabilities = softmax(logits)
  order = np.argsort(-logits, kind="stable")[:top_k]  # ties: the lower class index first
  return [Prediction(rank, int(index), labels[index], float(probabilities[index]),
                     float(logits[index]))
          for rank, index in enumerate(order, start=1)]


def classify(export_dir: str, image_paths: Sequence[str],
             top_k: int = DEFAULT_TOP_K) -> list:
  """One ImageResult per image path, in order. Raises ClassifyError (one line) on bad input."""
  try:
    reusable_module.check_export_dir(export_dir)
  except reusable_module.UnusableExport as error:
    raise ClassifyError(str(error)) from None
  # Images are decoded first: a bad file fails before the seconds the module takes to load.
  images = [decode_image_file(str(path)) for path in image_paths]
  classifier = Classifier(export_dir)
  if not 1 <= top_k <= len(classifier.labels):
    raise ClassifyError(f"top_k must lie between 1 and {len(classifier.labels)}, got {top_k}")
  logits = classifier.logits(_batch(images, classifier.image_size))
  return [ImageResult(str(path), int(image.shape[0]), int(image.shape[1]),
                      classifier.image_size, top_predictions(row, classifier.labels, top_k))
          for path, image, row in zip(image_paths, images, logits)]


def _batch(images: Sequence[tf.Tensor], image_size: tuple) -> np.ndarray:
  """float32 [N, S, S, 3]: the decoded images, preprocessed."""
  if not images:
    return np.zeros((0, *image_size, 3), np.float32)
  return np.stack([preprocess(image, image_size).numpy() for image in images])


# --- output ------------------------------------------------------------------------------
def format_text(results: Sequence[ImageResult]) -> str:
  """Per image a heading line, then one line per class: rank, probability, label, index."""
  lines = []
  for result in results:
    height, width = result.input_size
    lines.append(f"{result.image_path} ({result.width}x{result.height} -> {width}x{height}):")
    lines += [f"  {p.rank}  {p.probability:.4f}  {p.label} (class {p.class_index})"
              for p in result.predictions]
  return "\n".join(lines)


def to_dict(export_dir: str, results: Sequence[ImageResult]) -> dict:
  """The JSON document of `--json`."""
  return {
      "export_dir": os.path.abspath(export_dir),
      "preprocessing": PREPROCESSING,
      "results": [dataclasses.asdict(result) for result in results],
  }


# --- the binary --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Options:
  export_dir: str
  image_paths: tuple
  top_k: int = DEFAULT_TOP_K
  json: bool = False


def execute(options: Options) -> None:
  """What the binary does once its flags are parsed; bad input exits 2 with one line."""
  try:
    results = classify(options.export_dir, options.image_paths, options.top_k)
  except ClassifyError as error:
    cli.fail(str(error), cli.USAGE_ERROR)
  if options.json:
    print(json.dumps(to_dict(options.export_dir, results), indent=2))
  else:
    print(format_text(results))


FLAGS = flags.FLAGS


def _define_flags() -> None:
  # Defined only when run as a binary: the exporter defines --export_dir at import.
  flags.DEFINE_string("export_dir", None, "The classification SavedModel to run.")
  flags.DEFINE_integer("top_k", DEFAULT_TOP_K, "How many classes to print per image.",
                       lower_bound=1)
  flags.DEFINE_bool("json", False, "Print one JSON document instead of text.")


def _options_from_flags(argv) -> Options:
  if not FLAGS.export_dir:
    raise ValueError("--export_dir is required")
  if len(argv) < 2:
    raise ValueError("give at least one image file after the flags")
  return Options(FLAGS.export_dir, tuple(argv[1:]), FLAGS.top_k, FLAGS.json)


def main(argv) -> None:
  execute(cli.parse_or_exit(_options_from_flags, argv))


def run() -> None:
  """Console-script entry point (mobilenet-v2-classify)."""
  _define_flags()
  cli.run(main)


if __name__ == "__main__":
  run()
