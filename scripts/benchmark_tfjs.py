r"""TF.js models measured in one run beside the SavedModel: sizes, agreement, latency at batch 1.

  python scripts/benchmark_tfjs.py [--variants=0.75/96,1.0/224] [--repeats=30] \
      [--screenshot=docs/tfjs.png] [--json=out.json]

For each variant, a seed-0 synthetic classification checkpoint is exported with the three TF.js
weight types beside the SavedModel (`--tfjs`; the exporter checks each in Node), and measured as
scripts/benchmark.py measures its TF.js table (scripts/benchmarking/tfjs.py).
Prints Markdown tables (docs/tfjs.md):
  models    per weight type: size, conversion + Node check time, agreement with the SavedModel
            on the 16 probe images (Node cpu backend);
  latency   median milliseconds of one image (batch 1, after a warm-up) in the SavedModel
            (TensorFlow, this process), Node's cpu and wasm backends, and the demo page in
            headless Chromium (wasm backend; the time the page itself reports).
Timings on a shared machine move with its load: compare within a run.
"""

import json
import pathlib
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

from benchmarking import tfjs as tfjs_benchmark  # beside this script
from export.base import probe_images
from export.formats.tfjs import node as tfjs_node
from export.formats.tfjs import server as tfjs_server
from export.testing import synthetic_checkpoint

FLAGS = flags.FLAGS
flags.DEFINE_list("variants", ["0.75/96", "1.0/224"], "multiplier/size of each variant")
flags.DEFINE_integer(
  "repeats", tfjs_benchmark.REPEATS, "timed runs of one image per runtime (after one warm-up)"
)
flags.DEFINE_string("screenshot", None, "write the page's screenshot of the last variant here")
flags.DEFINE_string("json", None, "also write the figures as JSON here")


def saved_model_latency(export_dir: str, image, repeats: int) -> float:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  module = tf.saved_model.load(export_dir)
  batch = tf.constant(image[None])
  module(batch).numpy()
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    module(batch).numpy()
    times.append((time.perf_counter() - started) * 1e3)
  return statistics.median(times)


def measure_variant(multiplier: float, size: int, work: pathlib.Path, screenshot) -> dict:
  from export.core import images as images_lib  # pylint: disable=g-import-not-at-top  # TensorFlow

  prefix = synthetic_checkpoint.write_checkpoint(str(work / "checkpoint"), multiplier, size)
  export_dir = str(work / "module")
  written, seconds_each = tfjs_benchmark.export(prefix, export_dir, multiplier, size)
  models = tfjs_benchmark.measure(written, size, FLAGS.repeats)
  _, probes = probe_images.probe_batch(size)
  picture = images_lib.write_example_image(str(work / "picture.png"), size=size)
  server = tfjs_server.start_in_thread(written[0].path)  # float32
  try:
    page = tfjs_node.browser_classify(
      tfjs_server.url_of(server), picture, screenshot, runs=FLAGS.repeats + 1
    )
  finally:
    server.shutdown()
    server.server_close()
  return {
    "variant": f"{multiplier}/{size}",
    "models": [
      dict(models[model.model_type], type=model.model_type, seconds_each=seconds_each)
      for model in written
    ],
    "latency_ms": {
      "SavedModel (TF)": saved_model_latency(export_dir, probes[0], FLAGS.repeats),
      "Node cpu": models["float32"]["latency_ms"]["cpu"],
      "Node wasm": models["float32"]["latency_ms"]["wasm"],
      "Chromium (page, wasm)": statistics.median(page["runs_ms"][1:]),
    },
    "chromium": page["chromium"],
  }


def markdown(results: list) -> str:
  lines = [
    "| variant | weights | size | max rel. diff | min cosine | top-1 | top-5 overlap |",
    "|---|---|---:|---:|---:|---:|---:|",
  ]
  for result in results:
    for model in result["models"]:
      a = model["agreement"]
      lines.append(
        f"| {result['variant']} | {model['type']} | {model['size_bytes'] / 1e6:.2f} MB | "
        f"{a['max_relative_difference']:.2g} | {a['min_cosine']:.5f} | "
        f"{a['top1_agreement']:.3f} | {a['top5_overlap']:.3f} |"
      )
  runtimes = list(results[0]["latency_ms"])
  lines += ["", "| variant | " + " | ".join(runtimes) + " |", "|---|" + "---:|" * len(runtimes)]
  for result in results:
    cells = " | ".join(f"{result['latency_ms'][name]:.1f} ms" for name in runtimes)
    lines.append(f"| {result['variant']} | {cells} |")
  return "\n".join(lines)


def main(argv) -> None:
  del argv
  results = []
  with tempfile.TemporaryDirectory(prefix="benchmark-tfjs.") as scratch:
    for index, variant in enumerate(FLAGS.variants):
      multiplier, size = variant.split("/")
      work = pathlib.Path(scratch, str(index))
      work.mkdir()
      last = index == len(FLAGS.variants) - 1
      shot = FLAGS.screenshot if last else None
      results.append(measure_variant(float(multiplier), int(size), work, shot))
      print(f"measured {variant}", file=sys.stderr, flush=True)
  print(markdown(results))
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
  app.run(main)
