r"""The ONNX models' agreement at each batch size, and the 8-bit types of the int8 model: the
studies behind docs/onnx.md.

  python scripts/benchmark_onnx.py [--checkpoint_path=PREFIX] [--rounds=7]

For a 0.75/96 checkpoint (default: seed-0 synthetic), exports both module types with the
LiteRT float32 and int8 models and the ONNX float32 and int8 models beside them, and prints
as Markdown tables: each ONNX type's agreement with the SavedModel at batch 1 and 8 (the
export records the worse), and that of the int8 model remade with the 8-bit types the export
does not write (int8 weights, 7-bit int8 weights, int8 weights and activations:
`onnx_runtime.QUANTIZED_VARIANTS`); images/s at batch 1 and 64 of the SavedModel in
TensorFlow and of those ONNX models in ONNX Runtime, and at batch 1 the LiteRT models; all in
one process, alternating, so that the machine's load touches them alike (medians over
--rounds). scripts/benchmark.py measures the
export's ONNX models beside everything else (docs/benchmark.md).
"""

import pathlib
import tempfile

from absl import flags

from benchmarking import onnx_runtime  # beside this script
from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER
from export import cli
from nets import variants

FLAGS = flags.FLAGS

# pylint: disable=g-import-not-at-top


def agreements(export_dir: str, models: dict, module_type: str) -> list:
  """(module type, ONNX type, batch size, Agreement) of each model at each checked batch size."""
  from export.base import probe_images
  from export.formats.litert import converter as litert
  from export.formats.onnx import exporter as onnx_export

  _, probes = probe_images.probe_batch(IMAGE_SIZE)
  reference = litert.reference_outputs(export_dir, probes)
  return [
    (module_type, model_type, batch, agreement)
    for model_type, model in models.items()
    for batch, agreement in onnx_export.measure(
      model_type, model, probes, reference, module_type, _threshold(model_type)
    ).items()
  ]


def _threshold(model_type: str):
  """The export's threshold of a type; a variant of QUANTIZED_VARIANTS is held to int8's."""
  from export.formats.onnx import exporter as onnx_export

  return onnx_export.THRESHOLDS.get(model_type, onnx_export.THRESHOLDS["int8"])


def benchmark(scratch: pathlib.Path) -> dict:
  from export.core import options as options_lib
  from export.formats.saved_model import exporter
  from export.testing import synthetic_checkpoint

  checkpoint_path = FLAGS.checkpoint_path or synthetic_checkpoint.write_checkpoint(
    str(scratch / "checkpoint"), MULTIPLIER, IMAGE_SIZE, seed=0
  )
  rows, speed, sizes = [], None, None
  for module_type in ("classification", "feature_vector"):
    export_dir = str(scratch / module_type / "module")
    result = exporter.export_saved_model(
      options_lib.ExportOptions(
        checkpoint_path=checkpoint_path,
        export_dir=export_dir,
        spec=variants.ModelSpec(MULTIPLIER, IMAGE_SIZE, module_type),
        tflite=True,
        tflite_types=("float32", "int8"),
        onnx=True,
        onnx_types=("float32", "int8"),
      )
    )
    models = {
      w.model_type: pathlib.Path(w.path).read_bytes()
      for w in result.written["onnx"]
      if w.path.endswith(".onnx")
    }
    models.update(onnx_runtime.quantized_variants(result.restored.values, module_type))
    rows += agreements(export_dir, models, module_type)
    if module_type == "classification":
      litert_paths = {model.model_type: model.path for model in result.litert_models}
      speed = onnx_runtime.speed(export_dir, models, litert_paths, FLAGS.rounds)
      sizes = {name: len(model) for name, model in models.items()}
  return {"agreements": rows, "speed": speed, "sizes": sizes}


def markdown(results: dict) -> str:
  lines = [
    "| module type | ONNX type | batch | max abs diff | max diff / (1+max) | worst cosine "
    "| mean cosine | top-1 | top-5 |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for module_type, model_type, batch, a in results["agreements"]:
    top = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
    lines.append(
      f"| {module_type} | {model_type} | {batch} | {a.max_abs_difference:.3g} "
      f"| {a.max_relative_difference:.3g} | {a.min_cosine:.5f} | {a.mean_cosine:.5f} "
      f"| {top(a.top1_agreement)} | {top(a.top5_overlap)} |"
    )
  lines += ["", *onnx_runtime.speed_table(results["speed"])]
  lines += ["", "| ONNX file | bytes |", "|---|---|"]
  lines += [f"| {name} | {size} |" for name, size in results["sizes"].items()]
  return "\n".join(lines)


def define_flags() -> None:
  flags.DEFINE_string(
    "checkpoint_path", None, "A 0.75/96 checkpoint prefix or .tgz; default: a seed-0 synthetic one."
  )
  flags.DEFINE_integer("rounds", 7, "Timed rounds per runtime; the median is reported.")


def main(argv) -> None:
  cli.parse_or_exit(cli.reject_positional_arguments, argv)
  with tempfile.TemporaryDirectory(prefix="onnx_benchmark_") as scratch:
    print(markdown(benchmark(pathlib.Path(scratch))))


if __name__ == "__main__":
  cli.run(main, define_flags)
