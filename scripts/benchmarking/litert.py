"""LiteRT measurements: images/s (batch 1, 2 threads, XNNPACK), size and agreement of the four
types the export writes, beside Keras' own MobileNetV2 converted the same way as our float32
model. Used by scripts/benchmark.py (the table of docs/benchmark.md) and
scripts/benchmark_litert.py (the calibration and threshold studies of docs/litert.md)."""

import collections
import pathlib
import statistics
import time

from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER

THREADS = 2
MEASURE_SECONDS = 0.2  # one timed measurement; the median over rounds is reported


def alternating_medians(callables: dict, rounds: int) -> dict:
  """Calls/s of each callable: the median over rounds, each round timing every one in turn."""
  for call in callables.values():
    for _ in range(20):
      call()
  rates = collections.defaultdict(list)
  names = list(callables)
  for index in range(rounds):
    shift = index % len(names)
    for name in names[shift:] + names[:shift]:
      calls, started = 0, time.perf_counter()
      while time.perf_counter() - started < MEASURE_SECONDS:
        callables[name]()
        calls += 1
      rates[name].append(calls / (time.perf_counter() - started))
  return {name: statistics.median(values) for name, values in rates.items()}


def keras_float32() -> bytes:
  """Keras' MobileNetV2 (random weights) converted as our float32 model is converted."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from export.formats.litert import converter as litert
  # pylint: enable=g-import-not-at-top

  model = keras.applications.MobileNetV2(
    alpha=MULTIPLIER, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), weights=None
  )
  spec = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)
  inference = tf.function(lambda images: model(images, training=False), autograph=False)
  return litert.convert_function(inference.get_concrete_function(spec), model)


def measure_speed(models: dict, rounds: int) -> dict:
  """name -> images/s at batch 1 of each model (bytes), the interpreters alternating."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from export.formats.litert import converter as litert  # pylint: disable=g-import-not-at-top

  callables = {}
  for name, model in models.items():
    interpreter = litert.make_interpreter(model, num_threads=THREADS)
    given = interpreter.get_input_details()[0]
    image = np.random.default_rng(1).uniform(size=given["shape"]).astype(np.float32)
    interpreter.set_tensor(given["index"], litert.input_values(image, given))
    callables[name] = interpreter.invoke
  return alternating_medians(callables, rounds)


def measure(written_models: list, rounds: int) -> dict:
  """name -> {images_per_second, size_bytes, agreement} of the export's LiteRT models (each
  {model_type, path, agreement} as the export child reports it) and of Keras' float32 model."""
  models = {
    written["model_type"]: pathlib.Path(written["path"]).read_bytes() for written in written_models
  }
  models["Keras float32"] = keras_float32()
  speed = measure_speed(models, rounds)
  results = {
    name: {"images_per_second": speed[name], "size_bytes": len(model)}
    for name, model in models.items()
  }
  for written in written_models:
    results[written["model_type"]]["agreement"] = written["agreement"]
  return results
