r"""Benchmarks the exporter and its SavedModel against Keras' MobileNetV2 with the same weights.

  .venv/bin/python -m pip install -e .[benchmark]   # matplotlib, for the chart
  .venv/bin/python scripts/benchmark.py [--checkpoint_path=...] [--output_dir=docs]

Measures side by side, in one run on this machine, for depth multiplier 0.75 at 96x96:
  export   one export in a fresh process: import, restore, build, trace and save;
  serving  images/s of our SavedModel (serving_default and __call__) and of
           tf_keras.applications.MobileNetV2 carrying the same weights, saved as a SavedModel,
           at batch 1, 8 and 64, alternating the models and taking medians;
  TFLite   our --tflite model against Keras' model converted the same way (batch 1, 2 threads);
  size     the SavedModel and its archive against the float32 weights;
  load     tf.saved_model.load in fresh processes.
It writes a Markdown report (docs/benchmark.md) and a chart (docs/benchmark.png) that state
each target and whether it is met. Without --checkpoint_path it exports a seed-0 synthetic
checkpoint (random weights; speed and size do not depend on the values).

Run it on an otherwise idle machine: the report records the load average before and after,
and timings taken while other processes compete for the cores say little.
"""

import collections
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

# Read when TensorFlow's native library loads, here and in the child processes.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

import benchmark_child  # pylint: disable=g-import-not-at-top  (beside this script)

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # run as a file, the script still finds the packages

MULTIPLIER = benchmark_child.MULTIPLIER  # 0.75
IMAGE_SIZE = benchmark_child.IMAGE_SIZE  # 96
BATCH_SIZES = (1, 8, 64)
TFLITE_THREADS = 2
MEASURE_SECONDS = 0.3  # length of one timed measurement; a median is taken over rounds
# A TFLite round is short (two models, one batch size): more, shorter ones resist the bursts
# of other processes better, at the same total time.
TFLITE_ROUND_FACTOR = 3
CHILD_SCRIPT = pathlib.Path(benchmark_child.__file__).resolve()
MB = 1e6

# The targets, as the report states them.
EXPORT_SECONDS_TARGET = 10.0
TFLITE_SLOWDOWN_ALLOWED = 0.05
SIZE_FACTOR, SIZE_SLACK = 1.10, 1 * MB

_CHECKPOINT_PATH = flags.DEFINE_string(
    "checkpoint_path", None,
    "A mobilenet_v2_0.75_96 checkpoint prefix or .tgz; default: a synthetic one.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", str(PROJECT_ROOT / "docs"),
                                  "Where benchmark.md and benchmark.png go.")
_WORK_DIR = flags.DEFINE_string("work_dir", None,
                                "Keeps the exports here (default: a temporary directory).")
_ROUNDS = flags.DEFINE_integer("rounds", 9, "Timed rounds per serving and TFLite figure.")
_EXPORT_RUNS = flags.DEFINE_integer("export_runs", 3, "Exports in fresh processes.")
_LOAD_RUNS = flags.DEFINE_integer("load_runs", 5, "Fresh-process loads per SavedModel.")


# --- child processes ---------------------------------------------------------------------
def _run_child(*arguments: str) -> dict:
  """Runs scripts/benchmark_child.py in a fresh process; its result plus the process time."""
  command = [sys.executable, str(CHILD_SCRIPT), *arguments]
  started = time.perf_counter()
  run = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
  wall = time.perf_counter() - started
  prefix = benchmark_child.RESULT_PREFIX  # the result among TensorFlow's log lines
  results = [line[len(prefix):] for line in run.stdout.splitlines() if line.startswith(prefix)]
  if run.returncode or not results:
    raise RuntimeError(f"{' '.join(arguments)} failed ({run.returncode}): {run.stderr[-2000:]}")
  return dict(json.loads(results[-1]), process=wall)


# --- export ------------------------------------------------------------------------------
def measure_exports(checkpoint_path: str, work_dir: pathlib.Path) -> dict:
  """Exports in fresh processes; median phase times, and whether the exports are identical.

  The last export also writes the .tflite (its time is reported separately), so it is not
  part of the export figures; its SavedModel must still equal the others byte for byte.
  """
  runs = [_run_child("export", checkpoint_path, str(work_dir / f"export_{index}"))
          for index in range(_EXPORT_RUNS.value)]
  with_tflite = _run_child("export", checkpoint_path, str(work_dir / "ours"), "tflite")
  directories = [work_dir / f"export_{index}" for index in range(_EXPORT_RUNS.value)]
  identical = all(_same_tree(directories[0], other)
                  for other in directories[1:] + [work_dir / "ours"])
  phases = ["import", "restore", "build", "trace", "save", "process"]
  return {"median": {phase: statistics.median(run[phase] for run in runs) for phase in phases},
          "runs": runs, "tflite_seconds": with_tflite["tflite"], "identical": identical,
          "export_dir": str(work_dir / "ours"), "tflite_path": str(work_dir / "ours.tflite")}


def _same_tree(first: pathlib.Path, second: pathlib.Path) -> bool:
  files = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
  if files(first) != files(second):
    return False
  return all((first / name).read_bytes() == (second / name).read_bytes()
             for name in files(first))


# --- Keras' MobileNetV2 with our weights -------------------------------------------------
def keras_layer_names(scope: str) -> tuple:
  """(conv, batch norm) layer names in Keras' MobileNetV2 of a TF-Slim conv unit scope.

  TF-Slim's Conv, expanded_conv, expanded_conv_<k>, Conv_1 are Keras' Conv1, expanded_conv,
  block_<k>, Conv_1; the expand / depthwise / project units keep their names.
  """
  if scope == "Conv":
    return "Conv1", "bn_Conv1"
  if scope == "Conv_1":
    return "Conv_1", "Conv_1_bn"
  block, unit = scope.split("/")
  prefix = "expanded_conv" if block == "expanded_conv" else "block_" + block.rsplit("_", 1)[1]
  return f"{prefix}_{unit}", f"{prefix}_{unit}_BN"


def keras_twin(values: dict):
  """Keras' MobileNetV2(alpha=0.75, 96x96) with 1001 logits, carrying our checkpoint values.

  classes=1001 without softmax makes Keras' head compute what ours does: 1001 logits from the
  pooled features. Every Keras weight is set, so nothing of its random init survives.
  """
  import tf_keras  # pylint: disable=g-import-not-at-top
  from nets import architecture  # pylint: disable=g-import-not-at-top

  model = tf_keras.applications.MobileNetV2(
      alpha=MULTIPLIER, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), weights=None, classes=1001,
      classifier_activation=None)
  assigned = set()
  for layer in architecture.resolve(MULTIPLIER):
    for unit in architecture.conv_units(layer):
      prefix = f"{architecture.SCOPE}/{unit.scope}"
      kernel = "depthwise_weights" if unit.kind == "depthwise" else "weights"
      conv, batch_norm = keras_layer_names(unit.scope)
      model.get_layer(conv).set_weights([values[f"{prefix}/{kernel}"]])
      model.get_layer(batch_norm).set_weights(  # Keras' order: gamma, beta, mean, variance
          [values[f"{prefix}/BatchNorm/{name}"]
           for name in architecture.BATCH_NORM_PARAMS + architecture.BATCH_NORM_STATS])
      assigned.update([conv, batch_norm])
  logits = f"{architecture.SCOPE}/{architecture.LOGITS_SCOPE}"
  weights = values[f"{logits}/weights"]
  model.get_layer("predictions").set_weights(
      [weights.reshape(weights.shape[2:]), values[f"{logits}/biases"]])
  assigned.add("predictions")
  unassigned = [layer.name for layer in model.layers if layer.weights and
                layer.name not in assigned]
  if unassigned:
    raise RuntimeError(f"Keras layers without our weights: {unassigned}")
  return model


def to_keras_range(images):
  """Our modules take [0, 1] and scale inside; Keras' MobileNetV2 takes [-1, 1]."""
  return images * 2.0 - 1.0


def check_same_outputs(ours, keras_model, images) -> dict:
  """Max |diff| of the logits of our SavedModel and Keras' model, and the tolerance."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  want = ours(tf.constant(images)).numpy()
  got = keras_model(to_keras_range(images), training=False).numpy()
  difference = float(abs(got - want).max())
  tolerance = 1e-4 * (1.0 + float(abs(want).max()))
  if not difference <= tolerance:
    raise RuntimeError(f"Keras' model with copied weights differs from ours by {difference} "
                       f"(tolerance {tolerance}): the weight copy is wrong")
  return {"max_diff": difference, "tolerance": tolerance}


# --- serving -----------------------------------------------------------------------------
def _signature_caller(loaded):
  signature = loaded.signatures["serving_default"]
  (input_name,) = signature.structured_input_signature[1]
  return lambda images: signature(**{input_name: images})


def _calls_per_measurement(callables: dict, seconds: float) -> int:
  """Warms every callable up; the number of calls that makes one measurement ~`seconds`."""
  slowest = 0.0
  for call in callables.values():
    for _ in range(2):
      call()
    started = time.perf_counter()
    call()
    slowest = max(slowest, time.perf_counter() - started)
  return max(2, round(seconds / max(slowest, 1e-6)))


def alternating_medians(callables: dict, items_per_call: int, rounds: int,
                        seconds: float = MEASURE_SECONDS) -> dict:
  """Items/s of each callable: median over rounds, each round timing every callable in turn.

  The order rotates from round to round, so none always runs first or right after another.
  """
  calls = _calls_per_measurement(callables, seconds)
  rates = collections.defaultdict(list)
  names = list(callables)
  for index in range(rounds):
    shift = index % len(names)
    for name in names[shift:] + names[:shift]:
      call = callables[name]
      started = time.perf_counter()
      for _ in range(calls):
        call()
      rates[name].append(calls * items_per_call / (time.perf_counter() - started))
  return {name: statistics.median(values) for name, values in rates.items()}


def measure_serving(ours, keras_loaded, rounds: int) -> dict:
  """Images/s per batch size of our and Keras' SavedModels, signature and __call__."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ours_signature, keras_signature = _signature_caller(ours), _signature_caller(keras_loaded)
  results = {}
  for batch in BATCH_SIZES:
    images = np.random.default_rng(batch).uniform(
        size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    ours_input = tf.constant(images)
    keras_input = tf.constant(to_keras_range(images))
    results[batch] = alternating_medians({
        "ours serving_default": lambda: ours_signature(ours_input),
        "ours __call__": lambda: ours(ours_input),
        "Keras serving_default": lambda: keras_signature(keras_input),
        "Keras __call__": lambda: keras_loaded(keras_input),
    }, batch, rounds)
  return results


def optimized_op_counts(call, *args) -> collections.Counter:
  """Ops of the graphs Grappler made of `call`'s functions (first call of a fresh load).

  Uses TensorFlow's eager run metadata, a private API, to see what actually runs.
  """
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  ctx = context.context()
  ctx.enable_run_metadata()
  ctx.enable_graph_collection()
  try:
    call(*args)
    metadata = ctx.export_run_metadata()
  finally:
    ctx.disable_graph_collection()
    ctx.disable_run_metadata()
  return collections.Counter(node.op for graph in metadata.function_graphs
                             for node in graph.post_optimization_graph.node)


def grappler_summary(saved_model_dir: str, keras_range: bool) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 0.5, np.float32)
  images = to_keras_range(images) if keras_range else images
  call = _signature_caller(tf.saved_model.load(saved_model_dir))
  counts = optimized_op_counts(call, tf.constant(images))
  keys = ["_FusedConv2D", "Conv2D", "_FusedDepthwiseConv2dNative", "DepthwiseConv2dNative",
          "FusedBatchNormV3", "Relu6"]
  return {key: counts.get(key, 0) for key in keys}


# --- TFLite ------------------------------------------------------------------------------
def keras_tflite(keras_model) -> bytes:
  """Keras' model converted as the exporter converts ours: its inference function."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  spec = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)
  inference = tf.function(lambda images: keras_model(images, training=False), autograph=False)
  return tflite.convert(inference.get_concrete_function(spec), keras_model)


def measure_tflite(ours_model: bytes, keras_model_bytes: bytes, rounds: int) -> dict:
  """Images/s at batch 1 on TFLITE_THREADS threads, alternating the two interpreters."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  image = np.random.default_rng(1).uniform(size=(1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(
      np.float32)
  callables = {}
  for name, model, inputs in (("ours", ours_model, image),
                              ("Keras", keras_model_bytes, to_keras_range(image))):
    interpreter = tflite.make_interpreter(model, num_threads=TFLITE_THREADS)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
    callables[name] = interpreter.invoke
  return alternating_medians(callables, 1, rounds * TFLITE_ROUND_FACTOR,
                             MEASURE_SECONDS / TFLITE_ROUND_FACTOR)


def tflite_outputs_agree(ours_model: bytes, keras_model_bytes: bytes) -> float:
  """Max |diff| between the two TFLite models (the weights being the same)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  images = tflite.parity_images(IMAGE_SIZE)
  ours = tflite.run(ours_model, images)
  keras = tflite.run(keras_model_bytes, to_keras_range(images))
  return float(np.abs(ours - keras).max())


# --- size and load time ------------------------------------------------------------------
def tree_bytes(directory) -> int:
  return sum(path.stat().st_size for path in pathlib.Path(directory).rglob("*")
             if path.is_file())


def measure_sizes(export_dir: str, keras_dir: str, work_dir: pathlib.Path) -> dict:
  from export import hub_layout  # pylint: disable=g-import-not-at-top
  from nets import architecture  # pylint: disable=g-import-not-at-top
  archive = hub_layout.write_reproducible_archive(export_dir, str(work_dir / "ours.tar.gz"))
  variables = tree_bytes(pathlib.Path(export_dir) / "variables")
  return {
      "weights": 4 * architecture.parameter_count(MULTIPLIER, include_batch_norm=True),
      "saved_model": tree_bytes(export_dir),
      "variables": variables,
      "saved_model_pb": os.path.getsize(os.path.join(export_dir, "saved_model.pb")),
      "archive": os.path.getsize(archive),
      "keras_saved_model": tree_bytes(keras_dir),
  }


def saved_model_pb_composition(export_dir: str) -> dict:
  """Bytes of saved_model.pb by what they serve."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  saved_model = saved_model_pb2.SavedModel()
  saved_model.ParseFromString(pathlib.Path(export_dir, "saved_model.pb").read_bytes())
  meta_graph = saved_model.meta_graphs[0]
  sizes, counts = collections.Counter(), collections.Counter()
  for function in meta_graph.graph_def.library.function:
    sizes[_function_role(function)] += function.ByteSize()
    counts[_function_role(function)] += 1
  parts = collections.Counter(
      {f"{role} ({counts[role]} function{'s' if counts[role] > 1 else ''})": size
       for role, size in sizes.items()})
  parts["object graph (objects, variables, function specs)"] = (
      meta_graph.object_graph_def.ByteSize())
  parts["graph nodes (a handle per variable, saver ops)"] = sum(
      node.ByteSize() for node in meta_graph.graph_def.node)
  parts["signatures, meta info, framing"] = saved_model.ByteSize() - sum(parts.values())
  return dict(parts.most_common())


def _function_role(function) -> str:
  name = function.signature.name
  if "_traced_save" in name or "_traced_restore" in name:
    return "checkpoint save/restore for TF1 loaders and TF Serving"
  if "l2_loss" in name:
    return "regularization losses"
  if "serving_default" in name:
    return "serving_default and its wrapper"
  # is_training=True is the op's default, which saving strips from the node.
  training = any(node.op == "FusedBatchNormV3" and
                 ("is_training" not in node.attr or node.attr["is_training"].b)
                 for node in function.node_def)
  return "__call__, training" if training else "__call__, inference"


def measure_load(export_dir: str, keras_dir: str, runs: int) -> dict:
  """Median seconds of tf.saved_model.load in fresh processes, alternating the two."""
  times = collections.defaultdict(list)
  for _ in range(runs):
    for name, directory in (("ours", export_dir), ("Keras", keras_dir)):
      times[name].append(_run_child("load", directory)["load"])
  return {name: statistics.median(values) for name, values in times.items()}


# --- report ------------------------------------------------------------------------------
def targets(results: dict) -> list:
  """(target, measured, met) rows."""
  rows = []
  serving = results["serving"]
  for ours, keras in (("ours serving_default", "Keras serving_default"),
                      ("ours __call__", "Keras __call__")):
    ratios = {batch: serving[batch][ours] / serving[batch][keras] for batch in BATCH_SIZES}
    measured = ", ".join(f"batch {batch}: {ratio:.2f}x" for batch, ratio in ratios.items())
    rows.append((f"{ours} at least as fast as {keras} at every batch size", measured,
                 all(ratio >= 1.0 for ratio in ratios.values())))
  tflite = results["tflite"]
  ratio = tflite["ours"] / tflite["Keras"]
  rows.append((f"TFLite within {TFLITE_SLOWDOWN_ALLOWED:.0%} of Keras' TFLite or faster",
               f"{ratio:.2f}x Keras' images/s", ratio >= 1.0 - TFLITE_SLOWDOWN_ALLOWED))
  export = results["export"]["median"]["process"]
  rows.append((f"one export, TF import included, under {EXPORT_SECONDS_TARGET:.0f} s",
               f"{export:.1f} s (whole process)", export < EXPORT_SECONDS_TARGET))
  sizes = results["sizes"]
  limit = SIZE_FACTOR * sizes["weights"] + SIZE_SLACK
  rows.append((f"SavedModel at most {SIZE_FACTOR - 1:.0%} larger than the float32 weights "
               f"+ 1 MB ({limit / MB:.2f} MB)", f"{sizes['saved_model'] / MB:.2f} MB",
               sizes["saved_model"] <= limit))
  return rows


def _code(text: str) -> str:
  """Markdown would read __call__ as bold "call"."""
  return text.replace("__call__", "`__call__`").replace("serving_default", "`serving_default`")


def markdown(results: dict) -> str:
  export, sizes = results["export"], results["sizes"]
  lines = [
      "# Benchmark: MobileNet V2 0.75/96, exporter and SavedModel against Keras",
      "",
      f"Written by `scripts/benchmark.py` on {results['machine']['date']}: "
      f"{results['machine']['cpu']}, {results['machine']['cores']} cores, TensorFlow "
      f"{results['machine']['tensorflow']}, Python {results['machine']['python']}. Load "
      f"average {results['machine']['load_before']:.2f} before the run, "
      f"{results['machine']['load_after']:.2f} after it; other processes running meanwhile "
      f"disturb the timings, so compare the columns of one run, not runs of different "
      f"days. Weights: {results['checkpoint']}.",
      "",
      "## Targets",
      "",
      "| target | measured | met |",
      "|---|---|---|",
  ]
  lines += [f"| {_code(target)} | {measured} | {'yes' if met else '**no**'} |"
            for target, measured, met in targets(results)]
  median = export["median"]
  lines += [
      "",
      f"## Export (fresh process, median of {len(export['runs'])})",
      "",
      "| phase | seconds |",
      "|---|---|",
  ]
  for phase, label in (("import", "import TensorFlow and the exporter"),
                       ("restore", "restore the checkpoint values"),
                       ("build", "build the module (variables)"),
                       ("trace", "trace `__call__` (inference, training) and serving"),
                       ("save", "save (checkpoint functions, variables, saved_model.pb)")):
    lines.append(f"| {label} | {median[phase]:.2f} |")
  other = median["process"] - sum(median[p] for p in ("import", "restore", "build", "trace",
                                                      "save"))
  lines += [
      f"| Python start-up and exit (mostly TensorFlow's teardown) | {other:.2f} |",
      f"| **whole process** | **{median['process']:.2f}** |",
      "",
      f"The `--tflite` option adds {export['tflite_seconds']:.2f} s (conversion, loading the "
      f"SavedModel back and the parity check). Exports in fresh processes are byte-identical: "
      f"{'yes' if export['identical'] else '**no**'}.",
      "",
      "## Serving (images/s, median of alternating rounds)",
      "",
      "| batch | ours serving_default | ours `__call__` | Keras serving_default | "
      "Keras `__call__` | ours / Keras (signature) |",
      "|---|---|---|---|---|---|",
  ]
  for batch, rates in results["serving"].items():
    ratio = rates["ours serving_default"] / rates["Keras serving_default"]
    lines.append(f"| {batch} | {rates['ours serving_default']:.0f} | "
                 f"{rates['ours __call__']:.0f} | {rates['Keras serving_default']:.0f} | "
                 f"{rates['Keras __call__']:.0f} | {ratio:.2f} |")
  tflite = results["tflite"]
  lines += [
      "",
      f"## TFLite (batch 1, {TFLITE_THREADS} threads, XNNPACK)",
      "",
      "| model | images/s | size (MB) |",
      "|---|---|---|",
      f"| ours (`--tflite`) | {tflite['ours']:.0f} | {tflite['ours_bytes'] / MB:.2f} |",
      f"| Keras, converted the same way | {tflite['Keras']:.0f} | "
      f"{tflite['keras_bytes'] / MB:.2f} |",
      "",
      "On the parity images of `export/tflite.py` the two TFLite models "
      + (f"differ by at most {tflite['max_diff']:.2g}." if tflite["max_diff"]
         else "give identical outputs."),
      "",
      "## Size on disk",
      "",
      "| what | MB |",
      "|---|---|",
      f"| float32 weights (4 bytes x {sizes['weights'] // 4:,} parameters incl. batch norm) "
      f"| {sizes['weights'] / MB:.2f} |",
      f"| our SavedModel | {sizes['saved_model'] / MB:.2f} |",
      f"| of which variables/ | {sizes['variables'] / MB:.2f} |",
      f"| of which saved_model.pb | {sizes['saved_model_pb'] / MB:.2f} |",
      f"| its archive (.tar.gz) | {sizes['archive'] / MB:.2f} |",
      f"| Keras' SavedModel (same weights) | {sizes['keras_saved_model'] / MB:.2f} |",
      "",
      "What saved_model.pb holds:",
      "",
      "| part | kB |",
      "|---|---|",
  ]
  lines += [f"| {_code(part)} | {size / 1e3:.0f} |"
            for part, size in results["composition"].items()]
  load = results["load"]
  lines += [
      "",
      f"## Load time (`tf.saved_model.load`, fresh process, median of {_LOAD_RUNS.value})",
      "",
      "| SavedModel | seconds |",
      "|---|---|",
      f"| ours | {load['ours']:.2f} |",
      f"| Keras' | {load['Keras']:.2f} |",
      "",
      "## What runs: Grappler's graph of serving_default",
      "",
      "| op after Grappler | ours | Keras |",
      "|---|---|---|",
  ]
  ours_ops, keras_ops = results["grappler"]["ours"], results["grappler"]["Keras"]
  lines += [f"| `{op}` | {ours_ops[op]} | {keras_ops[op]} |" for op in ours_ops]
  parity = results["parity"]
  lines += [
      "",
      "Grappler's remapper fuses each Conv2D with its FusedBatchNorm and Relu6, but not a "
      "depthwise convolution with its batch norm; our inference function folds the batch "
      "norm of the 17 depthwise convolutions into their kernels and a bias, which Grappler "
      "fuses with the convolution and Relu6. Keras' model keeps three ops there.",
      "",
      "## How the comparison is made",
      "",
      "- Keras' model is `tf_keras.applications.MobileNetV2(alpha=0.75, input_shape=(96, 96, 3), "
      "weights=None, classes=1001, classifier_activation=None)`: 1001 logits, as our "
      "classifier. Every one of its weights is copied from the same checkpoint values "
      "(TF-Slim names mapped to Keras layers), and it is saved with `tf.saved_model.save`.",
      f"- Same outputs: on the same images (ours in [0, 1], Keras' scaled to [-1, 1]) the "
      f"logits differ by at most {parity['max_diff']:.2g} (tolerance "
      f"{parity['tolerance']:.2g}), so both compute the same function.",
      "- Keras' model receives inputs already in [-1, 1]; ours scales [0, 1] inside (two "
      "elementwise ops). Keras pads explicitly before its 4 stride-2 depthwise convolutions, "
      "ours uses SAME padding: the same arithmetic.",
      "- Serving: both SavedModels are loaded in one process and called with the same "
      "images, in rounds that alternate the models; each figure is the median over rounds.",
      "- TFLite: both are converted from their inference function with "
      "`tf.lite.TFLiteConverter.from_concrete_functions`, float32, no optimizations "
      f"(`export/tflite.py`), and run by `tf.lite.Interpreter(num_threads={TFLITE_THREADS})`.",
      "- Export and load times come from fresh processes (`scripts/benchmark_child.py`). The "
      "export's import is timed without matplotlib, as the core install has it: the "
      "benchmark extra installs matplotlib for the chart, and `import tensorflow` loads Keras "
      "3, which then imports matplotlib.pyplot too (0.5-1.5 s more).",
      "",
      "To measure again (on an otherwise idle machine):",
      "",
      "```sh",
      "pip install -e .[benchmark]",
      "python scripts/benchmark.py",
      "```",
      "",
  ]
  return "\n".join(lines)


def chart(results: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top

  figure, axes = pyplot.subplots(2, 3, figsize=(16, 9), layout="constrained")
  _plot_export(axes[0][0], results["export"]["median"])
  _plot_serving(axes[0][1], results["serving"])
  _plot_tflite(axes[0][2], results["tflite"])
  _plot_sizes(axes[1][0], results["sizes"])
  _plot_composition(axes[1][1], results["composition"])
  _plot_load(axes[1][2], results["load"])
  figure.suptitle("MobileNet V2 0.75/96: our exporter and SavedModel vs Keras (same weights)")
  figure.savefig(path, dpi=100)
  pyplot.close(figure)


def _plot_export(axis, median):
  left = 0.0
  phases = ["import", "restore", "build", "trace", "save"]
  widths = [median[phase] for phase in phases]
  widths.append(median["process"] - sum(widths))
  for label, width in zip(phases + ["start-up/exit"], widths):
    axis.barh([0], [width], height=0.5, left=left, label=f"{label} {width:.1f} s")
    left += width
  axis.axvline(EXPORT_SECONDS_TARGET, color="red", linestyle="--", label="target")
  axis.set_xlim(0, max(left, EXPORT_SECONDS_TARGET) * 1.05)
  axis.set_ylim(-0.5, 1.5)
  axis.set_yticks([])
  axis.set_xlabel("seconds (fresh process)")
  axis.set_title("Export, one process")
  axis.legend(fontsize=8, loc="upper center", ncol=3)


def _plot_serving(axis, serving):
  names = list(serving[BATCH_SIZES[0]])
  width = 0.8 / len(names)
  for index, name in enumerate(names):
    positions = [b + index * width for b in range(len(BATCH_SIZES))]
    axis.bar(positions, [serving[batch][name] for batch in BATCH_SIZES], width, label=name)
  axis.set_xticks([b + 0.4 - width / 2 for b in range(len(BATCH_SIZES))],
                  [f"batch {batch}" for batch in BATCH_SIZES])
  axis.set_ylabel("images/s")
  axis.set_title("Serving a SavedModel (TensorFlow)")
  axis.legend(fontsize=7)


def _plot_tflite(axis, tflite):
  axis.bar(["ours", "Keras"], [tflite["ours"], tflite["Keras"]], color=["C0", "C2"])
  axis.set_ylabel("images/s")
  axis.set_title(f"TFLite, batch 1, {TFLITE_THREADS} threads")


def _plot_sizes(axis, sizes):
  labels = ["float32\nweights", "our\nSavedModel", "its\narchive", "Keras'\nSavedModel"]
  values = [sizes["weights"], sizes["saved_model"], sizes["archive"],
            sizes["keras_saved_model"]]
  axis.bar(labels, [value / MB for value in values], color=["C7", "C0", "C1", "C2"])
  axis.axhline((SIZE_FACTOR * sizes["weights"] + SIZE_SLACK) / MB, color="red", linestyle="--",
               label="target limit")
  axis.set_ylabel("MB")
  axis.set_title("Size on disk")
  axis.legend(fontsize=7)


def _plot_composition(axis, composition):
  labels = [textwrap.fill(label, 26) for label in composition]
  axis.barh(labels, [size / 1e3 for size in composition.values()])
  axis.invert_yaxis()
  axis.tick_params(axis="y", labelsize=7)
  axis.set_xlabel("kB")
  axis.set_title("What saved_model.pb holds")


def _plot_load(axis, load):
  axis.bar(["ours", "Keras"], [load["ours"], load["Keras"]], color=["C0", "C2"])
  axis.set_ylabel("seconds")
  axis.set_title("tf.saved_model.load, fresh process")


# --- main --------------------------------------------------------------------------------
def _machine() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as info:
      cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
          "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
          "load_before": os.getloadavg()[0]}


def _checkpoint(work_dir: pathlib.Path) -> tuple:
  if _CHECKPOINT_PATH.value:
    return _CHECKPOINT_PATH.value, f"the checkpoint {_CHECKPOINT_PATH.value}"
  from nets import synthetic  # pylint: disable=g-import-not-at-top
  prefix = synthetic.write_checkpoint(str(work_dir / "checkpoint"), MULTIPLIER, IMAGE_SIZE)
  return prefix, "a seed-0 synthetic checkpoint (random weights)"


def benchmark(work_dir: pathlib.Path) -> dict:
  results = {"machine": _machine()}
  checkpoint_path, results["checkpoint"] = _checkpoint(work_dir)
  print("exporting in fresh processes ...", flush=True)
  results["export"] = export = measure_exports(checkpoint_path, work_dir)

  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import checkpoint  # pylint: disable=g-import-not-at-top
  results["machine"]["tensorflow"] = tf.__version__
  with checkpoint.opened(checkpoint_path) as prefix:
    values = checkpoint.model_values(prefix, MULTIPLIER, use_ema=True).values
  keras_model = keras_twin(values)
  ours = tf.saved_model.load(export["export_dir"])
  images = np.random.default_rng(0).uniform(size=(4, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(
      np.float32)
  results["parity"] = check_same_outputs(ours, keras_model, images)
  keras_dir = str(work_dir / "keras")
  tf.saved_model.save(keras_model, keras_dir)

  print("serving ...", flush=True)
  results["grappler"] = {"ours": grappler_summary(export["export_dir"], keras_range=False),
                         "Keras": grappler_summary(keras_dir, keras_range=True)}
  results["serving"] = measure_serving(ours, tf.saved_model.load(keras_dir), _ROUNDS.value)

  print("TFLite ...", flush=True)
  ours_tflite = pathlib.Path(export["tflite_path"]).read_bytes()
  keras_tflite_model = keras_tflite(keras_model)
  results["tflite"] = measure_tflite(ours_tflite, keras_tflite_model, _ROUNDS.value)
  results["tflite"].update(ours_bytes=len(ours_tflite), keras_bytes=len(keras_tflite_model),
                           max_diff=tflite_outputs_agree(ours_tflite, keras_tflite_model))

  print("size and load time ...", flush=True)
  results["sizes"] = measure_sizes(export["export_dir"], keras_dir, work_dir)
  results["composition"] = saved_model_pb_composition(export["export_dir"])
  results["load"] = measure_load(export["export_dir"], keras_dir, _LOAD_RUNS.value)
  results["machine"]["load_after"] = os.getloadavg()[0]
  return results


def main(argv):
  del argv
  if _WORK_DIR.value:
    work_dir = pathlib.Path(_WORK_DIR.value).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    if any(work_dir.iterdir()):
      sys.exit(f"benchmark.py: --work_dir {work_dir} must be empty or absent")
    results = benchmark(work_dir)
  else:
    with tempfile.TemporaryDirectory(prefix="mobilenet_v2_benchmark_") as scratch:
      results = benchmark(pathlib.Path(scratch))
  output_dir = pathlib.Path(_OUTPUT_DIR.value)
  output_dir.mkdir(parents=True, exist_ok=True)
  (output_dir / "benchmark.md").write_text(markdown(results))
  chart(results, str(output_dir / "benchmark.png"))
  for target, measured, met in targets(results):
    print(f"{'met   ' if met else 'MISSED'} {target}: {measured}")
  print(f"wrote {output_dir / 'benchmark.md'} and {output_dir / 'benchmark.png'}")


if __name__ == "__main__":
  app.run(main)
