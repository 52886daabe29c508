r"""One measurement of scripts/benchmark.py, in the fresh process it needs.

  python scripts/benchmark_child.py export CHECKPOINT EXPORT_DIR [tflite]
  python scripts/benchmark_child.py load SAVED_MODEL_DIR

Prints one line `BENCHMARK_RESULT {json}`: the export's phase times in seconds, import of
TensorFlow and the exporter first, or the seconds of `tf.saved_model.load`. A separate script
without flags of its own, because the export binary's module defines absl flags when imported
that would clash with the benchmark's.
"""

import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

RESULT_PREFIX = "BENCHMARK_RESULT "
MULTIPLIER = 0.75
IMAGE_SIZE = 96


def export(checkpoint_path: str, export_dir: str, tflite: bool) -> dict:
  # `import tensorflow` loads Keras 3, which imports matplotlib.pyplot when it is installed
  # (0.5-1.5 s here). Only the benchmark extra installs it, for the chart: time the export as
  # the core install runs it.
  sys.modules["matplotlib"] = None
  started = time.perf_counter()
  from export import export_saved_model  # pylint: disable=g-import-not-at-top
  timings = {"import": time.perf_counter() - started}
  result = export_saved_model.export_saved_model(export_saved_model.ExportOptions(
      checkpoint_path=checkpoint_path, export_dir=export_dir, depth_multiplier=MULTIPLIER,
      image_size=IMAGE_SIZE, tflite=tflite))
  timings.update(result.timings)
  return timings


def load(saved_model_dir: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  tf.saved_model.load(saved_model_dir)
  return {"load": time.perf_counter() - started}


def main(argv) -> None:
  if len(argv) in (3, 4) and argv[0] == "export" and argv[3:] in ([], ["tflite"]):
    result = export(argv[1], argv[2], tflite=argv[3:] == ["tflite"])
  elif len(argv) == 2 and argv[0] == "load":
    result = load(argv[1])
  else:
    sys.exit(__doc__)
  print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
