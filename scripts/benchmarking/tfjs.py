"""TF.js measurements: each weight type the export writes (`--tfjs`), run by `@tensorflow/tfjs`
in Node on the cpu and wasm backends at batch 1, with its size and its agreement with the
SavedModel. Used by scripts/benchmark.py (the TF.js table of docs/benchmark.md, beside the
SavedModel's serving figures of the same run) and scripts/benchmark_tfjs.py (more variants and
the demo page in Chromium, docs/tfjs.md)."""

REPEATS = 30  # timed runs of one image per backend, after one warm-up; the median is reported


def export(checkpoint_path: str, export_dir: str, multiplier: float, image_size: int) -> list:
  """The classifier's SavedModel with every TF.js type beside it: its `format.Written` models
  (each checked in Node by the exporter), and the export's seconds per TF.js type."""
  # pylint: disable=g-import-not-at-top
  from export.core import options
  from export.formats import tfjs as tfjs_format
  from export.formats.saved_model import exporter
  from nets import variants
  # pylint: enable=g-import-not-at-top

  result = exporter.export_saved_model(
    options.ExportOptions(
      checkpoint_path=checkpoint_path,
      export_dir=export_dir,
      spec=variants.ModelSpec(multiplier, image_size),
      tfjs=True,
      tfjs_types=tfjs_format.TYPES,
    )
  )
  return result.written["tfjs"], result.timings["tfjs"] / len(tfjs_format.TYPES)


def measure(written: list, image_size: int, repeats: int = REPEATS) -> dict:
  """type -> {size_bytes, agreement, latency_ms and images_per_second per backend} of the
  export's TF.js models; each Node process loads the model once per backend and times one
  probe image (`export.formats.tfjs.node.run`)."""
  # pylint: disable=g-import-not-at-top
  from export.base import probe_images
  from export.formats.tfjs import node
  # pylint: enable=g-import-not-at-top

  _, probes = probe_images.probe_batch(image_size)
  results = {}
  for model in written:
    runs = node.run(model.path, probes[:1], backends=node.BACKENDS, repeats=repeats)
    latency = {backend: run.latency_ms for backend, run in runs.items()}
    results[model.model_type] = {
      "size_bytes": model.size_bytes,
      "agreement": model.agreement.as_dict(),
      "latency_ms": latency,
      "images_per_second": {backend: 1e3 / ms for backend, ms in latency.items()},
    }
  return results


def section(tfjs: dict, saved_model_images_per_second: float) -> list:
  """The Markdown table of `measure`'s results, beside the SavedModel's batch-1 images/s."""
  lines = [
    "",
    "## TF.js in Node (batch 1, `@tensorflow/tfjs` 4.22.0)",
    "",
    "| weights | size (MB) | Node cpu images/s | Node wasm images/s | wasm / SavedModel | "
    "max abs diff | min cosine |",
    "|---|---|---|---|---|---|---|",
  ]
  for kind, model in tfjs.items():
    rates, agreement = model["images_per_second"], model["agreement"]
    lines.append(
      f"| {kind} | {model['size_bytes'] / 1e6:.2f} | {rates['cpu']:.1f} | {rates['wasm']:.0f} | "
      f"{rates['wasm'] / saved_model_images_per_second:.2f} | "
      f"{agreement['max_abs_difference']:.2g} | {agreement['min_cosine']:.4f} |"
    )
  return lines + [
    "",
    f"The SavedModel (`serving_default`, TensorFlow, batch 1) ran "
    f"{saved_model_images_per_second:.0f} images/s in the same run. Node's figures are the "
    "median of timed predictions of one image after a warm-up, the output downloaded each "
    "time; cpu is tfjs's plain-JavaScript backend, wasm its WebAssembly (XNNPACK) one. "
    "Agreement is each model's with the SavedModel on the 16 probe images, as the export "
    "checked it.",
  ]
