"""Keras 3 measurements: images/s of the .keras model on the TensorFlow and JAX backends at
batch 1 and 64, beside `keras.applications.MobileNetV2` carrying the same weights and (on
TensorFlow) the SavedModel's serving_default.

Keras picks its backend when first imported, so each backend runs in a fresh process
(`scripts/benchmark.py --child keras3 ARGS` with KERAS_BACKEND set). The models alternate
within each round; each figure is the median over the rounds.
"""

import json
import statistics
import time

from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER
from benchmarking.processes import run_child

BATCH_SIZES = (1, 64)
BACKENDS = ("tensorflow", "jax")
MEASURE_SECONDS = 0.5


def copy_weights(source, target) -> None:
  """Copies our model's weights into keras.applications' MobileNetV2 of the same multiplier.

  Both are the same network with the same weight layout, layer for layer in topological
  order (Conv1 is MobilenetV2.Conv, block_<i>_* is expanded_conv_<i>, ...); only the logits
  kernel changes shape, [1, 1, C, 1001] to Dense's [C, 1001], and our input rescaling has no
  counterpart: Keras' model takes [-1, 1].
  """
  import keras  # pylint: disable=g-import-not-at-top

  ours = [layer for layer in source.layers if layer.weights]
  theirs = [layer for layer in target.layers if layer.weights]
  if len(ours) != len(theirs):
    raise ValueError(f"{len(ours)} layers with weights against {len(theirs)}")
  for our_layer, their_layer in zip(ours, theirs):
    for ours_weight, theirs_weight in zip(our_layer.weights, their_layer.weights):
      theirs_weight.assign(keras.ops.convert_to_numpy(ours_weight).reshape(theirs_weight.shape))


def _images_per_second(run, images) -> float:
  calls, started = 0, time.perf_counter()
  while True:
    run(images)
    calls += 1
    elapsed = time.perf_counter() - started
    if elapsed >= MEASURE_SECONDS:
      return calls * len(images) / elapsed


def child(arguments: dict) -> dict:
  """In a fresh process whose KERAS_BACKEND is set: the figures of one backend."""
  # pylint: disable=g-import-not-at-top
  import keras
  import numpy as np
  # pylint: enable=g-import-not-at-top

  backend = keras.backend.backend()
  ours = keras.saving.load_model(arguments["keras_file"])
  theirs = keras.applications.MobileNetV2(
    input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    alpha=MULTIPLIER,
    weights=None,
    classes=1001,
    classifier_activation=None,
  )
  copy_weights(ours, theirs)
  rng = np.random.default_rng(0)
  images = {
    batch: rng.uniform(size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    for batch in BATCH_SIZES
  }
  parity_images = images[BATCH_SIZES[-1]][:8]
  want = ours.predict_on_batch(parity_images)
  difference = float(np.abs(theirs.predict_on_batch(parity_images * 2 - 1) - want).max())
  tolerance = 1e-5 * (1 + float(np.abs(want).max()))
  if not difference <= tolerance:
    raise AssertionError(f"keras.applications with our weights differs by {difference:.3g}")
  runs = {
    ".keras file": ours.predict_on_batch,
    "keras.applications, same weights": lambda x: theirs.predict_on_batch(x * 2 - 1),
  }
  if backend == "tensorflow":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    serving = tf.saved_model.load(arguments["saved_model"]).signatures["serving_default"]
    runs["SavedModel serving_default"] = lambda x: serving(inputs=tf.constant(x))
  figures = {name: {batch: [] for batch in BATCH_SIZES} for name in runs}
  for run in runs.values():  # warm up: tracing and compilation happen here
    for batch in BATCH_SIZES:
      for _ in range(3):
        run(images[batch])
  for _ in range(arguments["rounds"]):
    for batch in BATCH_SIZES:
      for name, run in runs.items():
        figures[name][batch].append(_images_per_second(run, images[batch]))
  return {
    "backend": backend,
    "max_difference": difference,
    "images_per_second": {
      name: {str(batch): statistics.median(values) for batch, values in by_batch.items()}
      for name, by_batch in figures.items()
    },
  }


def measure(keras_file: str, saved_model: str, rounds: int) -> list:
  """The figures of each backend, each measured in a fresh process."""
  arguments = json.dumps({"keras_file": keras_file, "saved_model": saved_model, "rounds": rounds})
  return [
    run_child("keras3", arguments, environment={"KERAS_BACKEND": backend}) for backend in BACKENDS
  ]
