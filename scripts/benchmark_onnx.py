r"""The ONNX models' agreement and speed, beside the SavedModel and LiteRT (docs/onnx.md).

  python scripts/benchmark_onnx.py [--checkpoint_path=PREFIX] [--rounds=7]

For a 0.75/96 checkpoint (default: seed-0 synthetic), exports the classifier with its LiteRT
float32 and int8 models, writes the ONNX float32 and int8 models beside it (both module types),
and prints as Markdown tables: each ONNX type's agreement with the SavedModel at batch 1 and 8;
images/s at batch 1 and 64 of the SavedModel in TensorFlow, the ONNX models in ONNX Runtime
(and the int8 model remade with int8 instead of uint8 activations) and, at batch 1, the LiteRT
models; all in one process, the runtimes alternating, so that the machine's load touches them
alike (the figures are medians over --rounds).
"""

import pathlib
import tempfile

from absl import flags

from benchmarking import onnx_runtime  # beside this script
from export import cli
from nets import variants

FLAGS = flags.FLAGS

# pylint: disable=g-import-not-at-top


def benchmark(scratch: pathlib.Path) -> dict:
  from export.core import options as options_lib
  from export.core import reusable_module
  from export.formats.onnx import exporter as onnx_export
  from export.formats.saved_model import exporter
  from export.testing import synthetic_checkpoint

  checkpoint_path = FLAGS.checkpoint_path or synthetic_checkpoint.write_checkpoint(
    str(scratch / "checkpoint"), 0.75, 96, seed=0
  )
  agreements, speed = [], None
  for module_type in ("classification", "feature_vector"):
    export_dir = str(scratch / module_type / "module")
    result = exporter.export_saved_model(
      options_lib.ExportOptions(
        checkpoint_path=checkpoint_path,
        export_dir=export_dir,
        spec=variants.ModelSpec(0.75, 96, module_type),
        tflite=True,
        tflite_types=("float32", "int8"),
      )
    )
    root = reusable_module.build(
      result.restored.values, variants.ModelSpec(0.75, 96, module_type), 0.99
    )
    written = onnx_export.write_beside(root, export_dir, onnx_export.TYPES)
    agreements += [(module_type, *row) for row in onnx_runtime.agreement_rows(written)]
    if module_type == "classification":
      models = {model.model_type: pathlib.Path(model.path).read_bytes() for model in written}
      models["int8 (QInt8 activations)"] = onnx_runtime.int8_activation_variant(result)
      litert_paths = {model.model_type: model.path for model in result.litert_models}
      speed = onnx_runtime.speed(export_dir, models, litert_paths, FLAGS.rounds)
      sizes = {name: len(model) for name, model in models.items()}
  return {"agreements": agreements, "speed": speed, "sizes": sizes}


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
  lines += ["", "| runtime and model | batch | images/s |", "|---|---|---|"]
  for (name, batch), rate in results["speed"].items():
    lines.append(f"| {name} | {batch} | {rate:.0f} |")
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
