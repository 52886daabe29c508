r"""Benchmarks the exporter and its SavedModel against Keras' MobileNetV2 with the same weights.

  .venv/bin/python -m pip install -e .[benchmark,jax]   # matplotlib for the chart, jax
  .venv/bin/python scripts/benchmark.py --output_dir=/tmp/benchmark [--checkpoint_path=...]
  .venv/bin/python scripts/benchmark.py --output_dir=docs   # updates the committed report

Measures side by side, in one run on this machine, for depth multiplier 0.75 at 96x96:
  export   one export in a fresh process: import, restore, build, trace and save;
  serving  images/s of our SavedModel (serving_default and __call__) and of
           tf_keras.applications.MobileNetV2 carrying the same weights, saved as a SavedModel,
           at batch 1, 8 and 64, alternating the models and taking medians;
  LiteRT   the four types of --tflite (float32, float16, int8, uint8): images/s (batch 1,
           2 threads, XNNPACK), size and agreement, and Keras' MobileNetV2 converted as our
           float32 model;
  ONNX     the two types of --onnx (float32, int8) in ONNX Runtime: images/s at batch 1 and
           64 beside the SavedModel in TensorFlow and the LiteRT models, alternating; size
           and agreement;
  TF.js    the three types of --tfjs (float32, float16, uint8) in Node's @tensorflow/tfjs,
           cpu and wasm backends: images/s at batch 1, beside the SavedModel's, size and
           agreement (needs tfjs/node_modules: scripts/setup_tfjs.sh);
  Keras 3  the .keras model on the TensorFlow and JAX backends at batch 1 and 64, beside
           keras.applications.MobileNetV2 with the same weights and the SavedModel;
  size     the SavedModel and its archive against the float32 weights;
  load     tf.saved_model.load in fresh processes.
It writes a Markdown report (benchmark.md) and a chart (benchmark.png) into --output_dir
that state each target and whether it is met; `--output_dir=docs` replaces the committed ones.
The modules it needs beyond the core install (matplotlib, jax) and the output directory are
checked before the minutes of work: exit 1 with one line naming the extra to install. Without --checkpoint_path it exports a seed-0 synthetic
checkpoint (random weights; speed and size do not depend on the values). The fresh processes
are this script again, with `--child`.

Run it on an otherwise idle machine: the report records the load average before and after,
and timings taken while other processes compete for the cores say little.
"""

import datetime
import importlib.util
import os
import pathlib
import platform
import tempfile

from absl import flags

from benchmarking import keras3  # beside this script
from benchmarking import keras_twin
from benchmarking import litert
from benchmarking import measure
from benchmarking import onnx_runtime
from benchmarking import processes
from benchmarking import report
from benchmarking import tfjs
from export import cli
from export.base import files
from nets import variants

FLAGS = flags.FLAGS
# Modules beyond the core install -> the setup.cfg extra that installs them.
OPTIONAL_MODULES = {"matplotlib": "benchmark", "jax": "jax"}


def define_flags() -> None:
  flags.DEFINE_string(
    "checkpoint_path",
    None,
    "A mobilenet_v2_0.75_96 checkpoint prefix or .tgz; default: a synthetic one.",
  )
  flags.DEFINE_string(
    "output_dir",
    None,
    "Where benchmark.md and benchmark.png go (created); docs to update the committed report. "
    "Required (never the checkout's docs/ unless asked), but not of --child processes.",
  )
  flags.DEFINE_string("work_dir", None, "Keeps the exports here (default: a temporary directory).")
  flags.DEFINE_integer("rounds", 9, "Timed rounds per serving and TFLite figure.")
  flags.DEFINE_integer("export_runs", 3, "Exports in fresh processes.")
  flags.DEFINE_integer("load_runs", 5, "Fresh-process loads per SavedModel.")
  flags.DEFINE_bool("child", False, "Internal: measure one export or load in this process.")


def _machine() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as info:
      cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cpu": cpu,
    "cores": os.cpu_count(),
    "python": platform.python_version(),
    "load_before": os.getloadavg()[0],
  }


def _checkpoint(work_dir: pathlib.Path) -> tuple:
  if FLAGS.checkpoint_path:
    return FLAGS.checkpoint_path, f"the checkpoint {FLAGS.checkpoint_path}"
  from export.testing import synthetic_checkpoint  # pylint: disable=g-import-not-at-top

  prefix = synthetic_checkpoint.write_checkpoint(
    str(work_dir / "checkpoint"), processes.MULTIPLIER, processes.IMAGE_SIZE
  )
  return prefix, "a seed-0 synthetic checkpoint (random weights)"


def _check_flags(argv) -> None:
  cli.reject_positional_arguments(argv)
  if not FLAGS.output_dir:  # checked here: the --child processes have none
    raise ValueError("--output_dir is required")


def check_optional_modules() -> None:
  """Exit 1 with one line unless every optional module is installed (before any work)."""
  missing = [name for name in OPTIONAL_MODULES if importlib.util.find_spec(name) is None]
  if missing:
    extras = ",".join(dict.fromkeys(OPTIONAL_MODULES[name] for name in missing))
    cli.fail(
      f"scripts/benchmark.py needs {' and '.join(missing)}, not installed: install the "
      f"{extras} extra{'s' if ',' in extras else ''} (pip install -e '.[{extras}]')",
      cli.FAILED,
    )


def benchmark(work_dir: pathlib.Path) -> dict:
  results = {"machine": _machine(), "load_runs": FLAGS.load_runs}
  checkpoint_path, results["checkpoint"] = _checkpoint(work_dir)
  print("exporting in fresh processes ...", flush=True)
  results["export"] = export = measure.measure_exports(checkpoint_path, work_dir, FLAGS.export_runs)

  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf

  from export.core import checkpoint

  # pylint: enable=g-import-not-at-top
  results["machine"]["tensorflow"] = tf.__version__
  with checkpoint.opened(checkpoint_path) as prefix:
    values = checkpoint.model_values(prefix, processes.MULTIPLIER, use_ema=True).values
  keras_model = keras_twin.keras_twin(values)
  ours = tf.saved_model.load(export["export_dir"])
  images = (
    np.random.default_rng(0)
    .uniform(size=(4, processes.IMAGE_SIZE, processes.IMAGE_SIZE, 3))
    .astype(np.float32)
  )
  results["parity"] = keras_twin.check_same_outputs(ours, keras_model, images)
  keras_dir = str(work_dir / "keras")
  tf.saved_model.save(keras_model, keras_dir)

  print("serving ...", flush=True)
  results["grappler"] = {
    "ours": measure.grappler_summary(export["export_dir"], keras_range=False),
    "Keras": measure.grappler_summary(keras_dir, keras_range=True),
  }
  results["serving"] = measure.measure_serving(ours, tf.saved_model.load(keras_dir), FLAGS.rounds)

  print("LiteRT ...", flush=True)
  results["litert"] = litert.measure(export["litert"], FLAGS.rounds)

  print("ONNX Runtime ...", flush=True)
  results["onnx"] = onnx_runtime.measure(
    export["export_dir"], export["onnx"], export["litert"], FLAGS.rounds
  )
  results["onnx"]["export_seconds"] = export["onnx_seconds"]
  print("TF.js in Node ...", flush=True)
  tfjs_models, results["tfjs_seconds"] = tfjs.export(
    checkpoint_path, str(work_dir / "tfjs"), processes.MULTIPLIER, processes.IMAGE_SIZE
  )
  results["tfjs"] = tfjs.measure(tfjs_models, processes.IMAGE_SIZE)

  print("Keras 3 ...", flush=True)
  from export.core import options  # pylint: disable=g-import-not-at-top
  from export.formats.keras import exporter as keras_exporter  # pylint: disable=g-import-not-at-top

  keras_file = str(work_dir / "classifier.keras")
  keras_exporter.export_keras(
    options.KerasExportOptions(
      checkpoint_path=checkpoint_path,
      output=keras_file,
      spec=variants.ModelSpec(processes.MULTIPLIER, processes.IMAGE_SIZE),
    )
  )
  results["keras3"] = keras3.measure(keras_file, export["export_dir"], FLAGS.rounds)

  print("size and load time ...", flush=True)
  results["sizes"] = measure.measure_sizes(export["export_dir"], keras_dir, work_dir)
  results["composition"] = measure.saved_model_pb_composition(export["export_dir"])
  results["load"] = measure.measure_load(export["export_dir"], keras_dir, FLAGS.load_runs)
  results["machine"]["load_after"] = os.getloadavg()[0]
  return results


def main(argv) -> int:
  if FLAGS.child:
    result = cli.parse_or_exit(measure.child, argv[1:])
    processes.print_result(result)
    return 0
  cli.parse_or_exit(_check_flags, argv)
  check_optional_modules()
  output_dir = pathlib.Path(FLAGS.output_dir)
  cli.work_or_exit(files.make_directories, output_dir, f"--output_dir={output_dir}")
  if FLAGS.work_dir:
    work_dir = pathlib.Path(FLAGS.work_dir).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    if any(work_dir.iterdir()):
      cli.fail(f"--work_dir={work_dir} must be empty or absent", cli.USAGE_ERROR)
    results = benchmark(work_dir)
  else:
    with tempfile.TemporaryDirectory(prefix="mobilenet_v2_benchmark_") as scratch:
      results = benchmark(pathlib.Path(scratch))
  (output_dir / "benchmark.md").write_text(report.markdown(results))
  report.chart(results, str(output_dir / "benchmark.png"))
  for target, measured, met in report.targets(results):
    print(f"{'met   ' if met else 'MISSED'} {target}: {measured}")
  print(f"wrote {output_dir / 'benchmark.md'} and {output_dir / 'benchmark.png'}")
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
