r"""The uint8 TF.js models' agreement on every variant and module type (44 modules), as the export
measures it, to check the uint8 bounds (export/formats/tfjs/__init__.py `THRESHOLDS`).

  python scripts/measure_tfjs_uint8.py [--variants=mobilenet_v2_0.35_96,...] [--json=out.json]

For each variant, a seed-0 synthetic checkpoint is folded and converted to a uint8 TF.js model
per module type (export/formats/tfjs/converter.py); Node runs it on the 16 probe images (wasm
backend: tfjs' cpu backend agrees within 1e-4 and is tens of times slower) and its outputs are
measured against the network's exact float64 outputs (`litert_network.exact_outputs`, within
1.5e-5 of the SavedModel's: nothing at uint8's scale), with the export's own threshold. No
SavedModel is written, which keeps a module under a minute. Prints one Markdown row per module
as it goes and a summary (range of each figure, modules below their bounds); with --json also
writes the figures. Figures on synthetic (random) weights: docs/tfjs.md says what they mean.
"""

import json
import pathlib
import tempfile

from absl import app
from absl import flags

from export.base import probe_images
from export.formats import tfjs as tfjs_format
from export.formats.litert import network as litert_network
from export.formats.tfjs import converter as tfjs_converter
from export.formats.tfjs import exporter as tfjs
from export.testing import synthetic_checkpoint
from nets import variants

FLAGS = flags.FLAGS
flags.DEFINE_list("variants", [v.name for v in variants.VARIANTS], "TF-Slim variant names.")
flags.DEFINE_string("json", None, "Also write the figures as JSON here.")
FIGURES = ("min_cosine", "mean_cosine", "top1_agreement", "top5_overlap")


def measure_module(prefix: str, variant, module_type: str, work: pathlib.Path) -> dict:
  network = tfjs.network_of_checkpoint(prefix, variant.depth_multiplier, module_type)
  _, probes = probe_images.probe_batch(variant.image_size)
  reference = litert_network.exact_outputs(network, probes)
  model_dir = work / f"{module_type}.uint8.tfjs"
  model_dir.mkdir()
  model = tfjs_converter.convert(network, variant.image_size, module_type, "uint8")
  tfjs.write_model(model, str(model_dir))
  measured = tfjs.measure("uint8", str(model_dir), probes, reference, module_type, backend="wasm")
  return dict(measured.as_dict(), variant=variant.name, module_type=module_type)


def row(result: dict) -> str:
  cells = [
    ""
    if result[name] is None
    else f"{result[name]:.4f}"
    if "cosine" in name
    else f"{result[name]:.3f}"
    for name in FIGURES
  ]
  verdict = "yes" if result["passed"] else "**no**: " + "; ".join(result["shortfalls"])
  return f"| {result['variant']} | {result['module_type']} | {' | '.join(cells)} | {verdict} |"


def main(argv) -> None:
  del argv
  print("| variant | module | min cosine | mean cosine | top-1 | top-5 overlap | within bounds |")
  print("|---|---|---:|---:|---:|---:|---|")
  results = []
  with tempfile.TemporaryDirectory(prefix="tfjs-uint8.") as scratch:
    for name in FLAGS.variants:
      variant = variants.by_name(name)
      work = pathlib.Path(scratch, variant.name)
      prefix = synthetic_checkpoint.write_checkpoint(
        str(work / "checkpoint"), variant.depth_multiplier, variant.image_size, seed=0
      )
      for module_type in variants.MODULE_TYPES:
        results.append(measure_module(prefix, variant, module_type, work))
        print(row(results[-1]), flush=True)
        if FLAGS.json:
          pathlib.Path(FLAGS.json).write_text(json.dumps(results, indent=2) + "\n")
  threshold = tfjs_format.THRESHOLDS["uint8"]
  print(f"\nbounds: {threshold}")
  for name in FIGURES:
    values = [r[name] for r in results if r[name] is not None]
    print(f"{name}: {min(values):.4f} .. {max(values):.4f} over {len(values)} modules")
  failed = [f"{r['variant']} {r['module_type']}" for r in results if not r["passed"]]
  print(f"below the bounds: {', '.join(failed) or 'none'} ({len(results)} modules)")


if __name__ == "__main__":
  app.run(main)
