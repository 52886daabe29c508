"""Measurements of scripts/benchmark.py: exports in fresh processes, serving, TFLite, sizes,
load times, and Keras' MobileNetV2 carrying the same weights."""

import collections
import json
import os
import pathlib
import statistics
import sys
import time

from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER
from benchmarking.processes import run_child
from nets import architecture
from nets import variants

BATCH_SIZES = (1, 8, 64)
MEASURE_SECONDS = 0.3  # length of one timed measurement; a median is taken over rounds


# --- child processes ---------------------------------------------------------------------
def child(arguments: list) -> dict:
  """What a fresh process measures: `export CHECKPOINT EXPORT_DIR [tflite]` (the exporter's
  import and phase times; with `tflite`, the four LiteRT types and the two ONNX types too), `keras3 ARGS` (one Keras
  backend's figures) or `load SAVED_MODEL_DIR` (tf.saved_model.load's time)."""
  if len(arguments) in (3, 4) and arguments[0] == "export" and arguments[3:] in ([], ["tflite"]):
    # `import tensorflow` imports matplotlib.pyplot (through Keras 3) and jax (through
    # tf.lite) when they are installed: 0.5-1.5 s each here. Only the benchmark, jax and test
    # extras install them: time the export as the core install runs it.
    sys.modules["matplotlib"] = None
    sys.modules["jax"] = None
    started = time.perf_counter()
    from export.core import options  # pylint: disable=g-import-not-at-top
    from export.formats.litert import converter as litert  # pylint: disable=g-import-not-at-top
    from export.formats.saved_model import exporter  # pylint: disable=g-import-not-at-top

    timings = {"import": time.perf_counter() - started}
    result = exporter.export_saved_model(
      options.ExportOptions(
        checkpoint_path=arguments[1],
        export_dir=arguments[2],
        spec=variants.ModelSpec(MULTIPLIER, IMAGE_SIZE),
        tflite=arguments[3:] == ["tflite"],
        tflite_types=litert.TYPES if arguments[3:] == ["tflite"] else litert.DEFAULT_TYPES,
        onnx=arguments[3:] == ["tflite"],
        onnx_types=("float32", "int8") if arguments[3:] == ["tflite"] else ("float32",),
      )
    )
    written = {
      name: [
        {"model_type": w.model_type, "path": w.path, "agreement": w.agreement.as_dict()}
        for w in by_type
        if w.path.endswith((".tflite", ".onnx"))  # not the ONNX models' test vectors
      ]
      for name, by_type in result.written.items()
    }
    return dict(timings, **result.timings, written=written)  # timings are keyed by flag
  if len(arguments) == 2 and arguments[0] == "keras3":
    from benchmarking import keras3  # pylint: disable=g-import-not-at-top

    return keras3.child(json.loads(arguments[1]))
  if len(arguments) == 2 and arguments[0] == "load":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    started = time.perf_counter()
    tf.saved_model.load(arguments[1])
    return {"load": time.perf_counter() - started}
  raise ValueError(
    f"--child: expected 'export CHECKPOINT DIR [tflite]', 'keras3 JSON' or 'load DIR', "
    f"got {' '.join(arguments)}"
  )


# --- export ------------------------------------------------------------------------------
def measure_exports(checkpoint_path: str, work_dir: pathlib.Path, export_runs: int) -> dict:
  """Exports in fresh processes; median phase times, and whether the exports are identical.

  The last export also writes the four LiteRT types and the two ONNX types (their times are
  reported separately), so it is not part of the export figures; its SavedModel must still
  equal the others byte for byte.
  """
  runs = [
    run_child("export", checkpoint_path, str(work_dir / f"export_{index}"))
    for index in range(export_runs)
  ]
  with_tflite = run_child("export", checkpoint_path, str(work_dir / "ours"), "tflite")
  directories = [work_dir / f"export_{index}" for index in range(export_runs)]
  identical = all(
    _same_tree(directories[0], other) for other in directories[1:] + [work_dir / "ours"]
  )
  phases = ["import", "restore", "build", "trace", "save", "process"]
  return {
    "median": {phase: statistics.median(run[phase] for run in runs) for phase in phases},
    "runs": runs,
    "tflite_seconds": with_tflite["tflite"],
    "onnx_seconds": with_tflite["onnx"],
    "identical": identical,
    "export_dir": str(work_dir / "ours"),
    "litert": with_tflite["written"]["litert"],
    "onnx": with_tflite["written"]["onnx"],
  }


def _same_tree(first: pathlib.Path, second: pathlib.Path) -> bool:
  def files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())

  if files(first) != files(second):
    return False
  return all((first / name).read_bytes() == (second / name).read_bytes() for name in files(first))


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


def alternating_medians(
  callables: dict, items_per_call: int, rounds: int, seconds: float = MEASURE_SECONDS
) -> dict:
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
    images = (
      np.random.default_rng(batch)
      .uniform(size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3))
      .astype(np.float32)
    )
    ours_input = tf.constant(images)
    keras_input = tf.constant(architecture.network_input(images))
    results[batch] = alternating_medians(
      {
        "ours serving_default": lambda x=ours_input: ours_signature(x),
        "ours __call__": lambda x=ours_input: ours(x),
        "Keras serving_default": lambda x=keras_input: keras_signature(x),
        "Keras __call__": lambda x=keras_input: keras_loaded(x),
      },
      batch,
      rounds,
    )
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
  return collections.Counter(
    node.op for graph in metadata.function_graphs for node in graph.post_optimization_graph.node
  )


def grappler_summary(saved_model_dir: str, keras_range: bool) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  images = np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 0.5, np.float32)
  images = architecture.network_input(images) if keras_range else images
  call = _signature_caller(tf.saved_model.load(saved_model_dir))
  counts = optimized_op_counts(call, tf.constant(images))
  keys = [
    "_FusedConv2D",
    "Conv2D",
    "_FusedDepthwiseConv2dNative",
    "DepthwiseConv2dNative",
    "FusedBatchNormV3",
    "Relu6",
  ]
  return {key: counts.get(key, 0) for key in keys}


# --- size and load time ------------------------------------------------------------------
def tree_bytes(directory) -> int:
  return sum(path.stat().st_size for path in pathlib.Path(directory).rglob("*") if path.is_file())


def measure_sizes(export_dir: str, keras_dir: str, work_dir: pathlib.Path) -> dict:
  from export.base import files  # pylint: disable=g-import-not-at-top

  archive = files.write_reproducible_archive(export_dir, str(work_dir / "ours.tar.gz"))
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
    {
      f"{role} ({counts[role]} function{'s' if counts[role] > 1 else ''})": size
      for role, size in sizes.items()
    }
  )
  parts["object graph (objects, variables, function specs)"] = (
    meta_graph.object_graph_def.ByteSize()
  )
  parts["graph nodes (a handle per variable, saver ops)"] = sum(
    node.ByteSize() for node in meta_graph.graph_def.node
  )
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
  training = any(
    node.op == "FusedBatchNormV3" and ("is_training" not in node.attr or node.attr["is_training"].b)
    for node in function.node_def
  )
  return "__call__, training" if training else "__call__, inference"


def measure_load(export_dir: str, keras_dir: str, runs: int) -> dict:
  """Median seconds of tf.saved_model.load in fresh processes, alternating the two."""
  times = collections.defaultdict(list)
  for _ in range(runs):
    for name, directory in (("ours", export_dir), ("Keras", keras_dir)):
      times[name].append(run_child("load", directory)["load"])
  return {name: statistics.median(values) for name, values in times.items()}
