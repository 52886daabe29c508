r"""TF.js models measured in one run beside the SavedModel: sizes, agreement, latency at batch 1.

  python scripts/benchmark_tfjs.py [--variants=0.75/96,1.0/224] [--repeats=30] \
      [--screenshot=docs/tfjs.png] [--json=out.json]

For each variant, a seed-0 synthetic classification checkpoint is exported (SavedModel) and
converted to the three TF.js weight types (export/formats/tfjs/exporter.py, which checks each in Node).
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

from export.base import probe_images
from export.core import images as images_lib
from export.core import options as options_lib
from export.formats.saved_model import exporter
from export.formats.tfjs import exporter as tfjs
from export.formats.tfjs import node as tfjs_node
from export.formats.tfjs import server as tfjs_server
from export.testing import synthetic_checkpoint
from nets import variants

FLAGS = flags.FLAGS
flags.DEFINE_list("variants", ["0.75/96", "1.0/224"], "multiplier/size of each variant")
flags.DEFINE_integer("repeats", 30, "timed runs of one image per runtime (after one warm-up)")
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
  prefix = synthetic_checkpoint.write_checkpoint(str(work / "checkpoint"), multiplier, size)
  export_dir = str(work / "module")
  exporter.export_saved_model(
    options_lib.ExportOptions(
      checkpoint_path=prefix, export_dir=export_dir, spec=variants.ModelSpec(multiplier, size)
    )
  )
  network = tfjs.network_of_checkpoint(prefix, multiplier, "classification")
  started = time.perf_counter()
  written = tfjs.write_network(network, size, "classification", export_dir, tfjs.TYPES)
  conversion_seconds = (time.perf_counter() - started) / len(written)
  _, probes = probe_images.probe_batch(size)
  float32_dir = tfjs.dir_beside(export_dir)
  runs = tfjs_node.run(float32_dir, probes[:1], repeats=FLAGS.repeats)
  picture = images_lib.write_example_image(str(work / "picture.png"), size=size)
  server = tfjs_server.start_in_thread(float32_dir)
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
      {
        "type": model.model_type,
        "size_bytes": model.size_bytes,
        "seconds_each": conversion_seconds,
        "agreement": model.agreement.as_dict(),
      }
      for model in written
    ],
    "latency_ms": {
      "SavedModel (TF)": saved_model_latency(export_dir, probes[0], FLAGS.repeats),
      "Node cpu": runs["cpu"].latency_ms,
      "Node wasm": runs["wasm"].latency_ms,
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
