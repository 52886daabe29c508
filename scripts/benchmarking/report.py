"""The report of scripts/benchmark.py: the targets, docs/benchmark.md and docs/benchmark.png."""

import textwrap

from benchmarking.measure import BATCH_SIZES
from benchmarking.measure import TFLITE_THREADS

MB = 1e6
# The targets, as the report states them.
EXPORT_SECONDS_TARGET = 10.0
TFLITE_SLOWDOWN_ALLOWED = 0.05
SIZE_FACTOR, SIZE_SLACK = 1.10, 1 * MB


def targets(results: dict) -> list:
  """(target, measured, met) rows."""
  rows = []
  serving = results["serving"]
  for ours, keras in (
    ("ours serving_default", "Keras serving_default"),
    ("ours __call__", "Keras __call__"),
  ):
    ratios = {batch: serving[batch][ours] / serving[batch][keras] for batch in BATCH_SIZES}
    measured = ", ".join(f"batch {batch}: {ratio:.2f}x" for batch, ratio in ratios.items())
    rows.append(
      (
        f"{ours} at least as fast as {keras} at every batch size",
        measured,
        all(ratio >= 1.0 for ratio in ratios.values()),
      )
    )
  tflite = results["tflite"]
  ratio = tflite["ours"] / tflite["Keras"]
  rows.append(
    (
      f"TFLite within {TFLITE_SLOWDOWN_ALLOWED:.0%} of Keras' TFLite or faster",
      f"{ratio:.2f}x Keras' images/s",
      ratio >= 1.0 - TFLITE_SLOWDOWN_ALLOWED,
    )
  )
  export = results["export"]["median"]["process"]
  rows.append(
    (
      f"one export, TF import included, under {EXPORT_SECONDS_TARGET:.0f} s",
      f"{export:.1f} s (whole process)",
      export < EXPORT_SECONDS_TARGET,
    )
  )
  sizes = results["sizes"]
  limit = SIZE_FACTOR * sizes["weights"] + SIZE_SLACK
  rows.append(
    (
      f"SavedModel at most {SIZE_FACTOR - 1:.0%} larger than the float32 weights "
      f"+ 1 MB ({limit / MB:.2f} MB)",
      f"{sizes['saved_model'] / MB:.2f} MB",
      sizes["saved_model"] <= limit,
    )
  )
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
  lines += [
    f"| {_code(target)} | {measured} | {'yes' if met else '**no**'} |"
    for target, measured, met in targets(results)
  ]
  median = export["median"]
  lines += [
    "",
    f"## Export (fresh process, median of {len(export['runs'])})",
    "",
    "| phase | seconds |",
    "|---|---|",
  ]
  for phase, label in (
    ("import", "import TensorFlow and the exporter"),
    ("restore", "restore the checkpoint values"),
    ("build", "build the module (variables)"),
    ("trace", "trace `__call__` (inference, training) and serving"),
    ("save", "save (checkpoint functions, variables, saved_model.pb)"),
  ):
    lines.append(f"| {label} | {median[phase]:.2f} |")
  other = median["process"] - sum(
    median[p] for p in ("import", "restore", "build", "trace", "save")
  )
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
    lines.append(
      f"| {batch} | {rates['ours serving_default']:.0f} | "
      f"{rates['ours __call__']:.0f} | {rates['Keras serving_default']:.0f} | "
      f"{rates['Keras __call__']:.0f} | {ratio:.2f} |"
    )
  tflite = results["tflite"]
  lines += [
    "",
    f"## TFLite (batch 1, {TFLITE_THREADS} threads, XNNPACK)",
    "",
    "| model | images/s | size (MB) |",
    "|---|---|---|",
    f"| ours (`--tflite`) | {tflite['ours']:.0f} | {tflite['ours_bytes'] / MB:.2f} |",
    f"| Keras, converted the same way | {tflite['Keras']:.0f} | {tflite['keras_bytes'] / MB:.2f} |",
    "",
    "On the parity images of `export/tflite.py` the two TFLite models "
    + (
      f"differ by at most {tflite['max_diff']:.2g}."
      if tflite["max_diff"]
      else "give identical outputs."
    ),
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
  lines += [
    f"| {_code(part)} | {size / 1e3:.0f} |" for part, size in results["composition"].items()
  ]
  load = results["load"]
  lines += [
    "",
    f"## Load time (`tf.saved_model.load`, fresh process, median of {results['load_runs']})",
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
    "- Export and load times come from fresh processes (`scripts/benchmark.py --child`). The "
    "export's import is timed without matplotlib, as the core install has it: the "
    "benchmark extra installs matplotlib for the chart, and `import tensorflow` loads Keras "
    "3, which then imports matplotlib.pyplot too (0.5-1.5 s more).",
    "",
    "To measure again (on an otherwise idle machine):",
    "",
    "```sh",
    "source .venv/bin/activate",
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
  axis.set_xticks(
    [b + 0.4 - width / 2 for b in range(len(BATCH_SIZES))],
    [f"batch {batch}" for batch in BATCH_SIZES],
  )
  axis.set_ylabel("images/s")
  axis.set_title("Serving a SavedModel (TensorFlow)")
  axis.legend(fontsize=7)


def _plot_tflite(axis, tflite):
  axis.bar(["ours", "Keras"], [tflite["ours"], tflite["Keras"]], color=["C0", "C2"])
  axis.set_ylabel("images/s")
  axis.set_title(f"TFLite, batch 1, {TFLITE_THREADS} threads")


def _plot_sizes(axis, sizes):
  labels = ["float32\nweights", "our\nSavedModel", "its\narchive", "Keras'\nSavedModel"]
  values = [sizes["weights"], sizes["saved_model"], sizes["archive"], sizes["keras_saved_model"]]
  axis.bar(labels, [value / MB for value in values], color=["C7", "C0", "C1", "C2"])
  axis.axhline(
    (SIZE_FACTOR * sizes["weights"] + SIZE_SLACK) / MB,
    color="red",
    linestyle="--",
    label="target limit",
  )
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
