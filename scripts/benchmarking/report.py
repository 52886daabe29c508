"""The report of scripts/benchmark.py: the targets, docs/benchmark.md and docs/benchmark.png."""

import textwrap

from benchmarking import keras3
from benchmarking import onnx_runtime
from benchmarking import tfjs
from benchmarking.litert import THREADS as LITERT_THREADS
from benchmarking.measure import BATCH_SIZES

MB = 1e6
# The targets, as the report states them.
EXPORT_SECONDS_TARGET = 10.0
TFLITE_SLOWDOWN_ALLOWED = 0.05
INT8_SPEEDUP_TARGET = 1.1  # int8 images/s over float32's
INT8_SIZE_TARGET = 0.35  # int8 and uint8 file size over float32's
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
  litert = results["litert"]
  float32 = litert["float32"]
  ratio = float32["images_per_second"] / litert["Keras float32"]["images_per_second"]
  rows.append(
    (
      f"LiteRT float32 within {TFLITE_SLOWDOWN_ALLOWED:.0%} of Keras' model converted "
      f"the same way, or faster",
      f"{ratio:.2f}x Keras' images/s",
      ratio >= 1.0 - TFLITE_SLOWDOWN_ALLOWED,
    )
  )
  speedup = litert["int8"]["images_per_second"] / float32["images_per_second"]
  rows.append(
    (
      f"LiteRT int8 at least {INT8_SPEEDUP_TARGET}x float32's images/s",
      f"{speedup:.2f}x",
      speedup >= INT8_SPEEDUP_TARGET,
    )
  )
  sizes = {kind: litert[kind]["size_bytes"] / float32["size_bytes"] for kind in ("int8", "uint8")}
  rows.append(
    (
      f"LiteRT int8 and uint8 files at most {INT8_SIZE_TARGET:.0%} of float32's",
      ", ".join(f"{kind} {share:.0%}" for kind, share in sizes.items()),
      all(share <= INT8_SIZE_TARGET for share in sizes.values()),
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


def _litert_section(litert: dict) -> list:
  float32 = litert["float32"]
  lines = [
    "",
    f"## LiteRT (batch 1, {LITERT_THREADS} threads, XNNPACK)",
    "",
    "| model | images/s | x float32 | size (MB) | % of float32 | max abs diff | "
    "min cosine | top-1 | top-5 overlap |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for name, model in litert.items():
    agreement = model.get("agreement")
    figures = (
      "– | – | – | –"
      if agreement is None
      else f"{agreement['max_abs_difference']:.2g} | {agreement['min_cosine']:.4f} | "
      f"{agreement['top1_agreement']:.0%} | {agreement['top5_overlap']:.0%}"
    )
    lines.append(
      f"| {name} | {model['images_per_second']:.0f} | "
      f"{model['images_per_second'] / float32['images_per_second']:.2f} | "
      f"{model['size_bytes'] / MB:.2f} | "
      f"{model['size_bytes'] / float32['size_bytes']:.0%} | {figures} |"
    )
  return lines + [
    "",
    "Agreement is each model's against the SavedModel on the 16 probe "
    "images (what the export checks before writing it; synthetic weights: "
    "see docs/litert.md for what the figures do and do not prove).",
  ]


def _keras3_section(backends: list) -> list:
  lines = [
    "",
    "## Keras 3 (images/s, median of alternating rounds)",
    "",
    "| backend | model | " + " | ".join(f"batch {b}" for b in keras3.BATCH_SIZES) + " |",
    "|---|---|" + "---|" * len(keras3.BATCH_SIZES),
  ]
  for backend in backends:
    for name, by_batch in backend["images_per_second"].items():
      lines.append(
        f"| {backend['backend']} | {name} | "
        + " | ".join(f"{by_batch[str(b)]:.0f}" for b in keras3.BATCH_SIZES)
        + " |"
      )
  return lines


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
    f"`--tflite --tflite_types=float32,float16,int8,uint8` adds {export['tflite_seconds']:.1f} s "
    f"(folding, calibration ranges over 112 images, four conversions and their agreement "
    f"checks). Exports in fresh processes are byte-identical: "
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
  lines += _litert_section(results["litert"]) + onnx_runtime.section(results["onnx"])
  lines += tfjs.section(results["tfjs"], results["serving"][1]["ours serving_default"])
  lines += _keras3_section(results["keras3"])
  lines += [
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
    "- LiteRT: our four types are the export's (`--tflite_types=float32,float16,int8,uint8`, "
    "docs/litert.md); Keras' `keras.applications.MobileNetV2(alpha=0.75)` is converted from "
    "its inference function as our float32 model is. All run in `ai_edge_litert` with "
    f"{LITERT_THREADS} threads (XNNPACK), batch 1, the interpreters alternating round by round.",
    "- Keras 3: the `.keras` file (docs/keras3.md) and `keras.applications.MobileNetV2` "
    "carrying its weights (fed 2x - 1; their logits are checked to agree first), with "
    "`predict_on_batch`, one fresh process per backend; on TensorFlow also our SavedModel's "
    "serving_default, in the same process.",
    "- Export and load times come from fresh processes (`scripts/benchmark.py --child`). The "
    "export's import is timed without matplotlib and jax, as the core install has it: the "
    "benchmark extra installs matplotlib for the chart and the jax and test extras install "
    "jax, and `import tensorflow` imports both when present (Keras 3 imports "
    "matplotlib.pyplot, tf.lite imports jax; 0.5-1.5 s more).",
    "",
    "To measure again (on an otherwise idle machine):",
    "",
    "```sh",
    "source .venv/bin/activate",
    "pip install -e '.[benchmark,jax]'",
    "python scripts/benchmark.py --output_dir=docs  # rewrites docs/benchmark.md and .png",
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
  _plot_litert(axes[0][2], results["litert"])
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


def _plot_litert(axis, litert):
  names = list(litert)
  axis.bar(
    names,
    [litert[name]["images_per_second"] for name in names],
    color=["C0", "C0", "C1", "C1", "C2"][: len(names)],
  )
  axis.set_ylabel("images/s")
  axis.set_title(f"LiteRT, batch 1, {LITERT_THREADS} threads")
  axis.tick_params(axis="x", labelrotation=30)


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
