r"""How well the int8 LiteRT models agree, and what the calibration images change: the studies
behind the thresholds of export/formats/litert/__init__.py (docs/litert.md).

  python scripts/benchmark_litert.py [--checkpoint_path=PREFIX] [--seeds=1,2] [--all_variants]
      [--json=out.json]
  python scripts/benchmark_litert.py --speed [--speed_variant=1.0/224] [--speed_rounds=3]

Prints as Markdown tables, for a 0.75/96 checkpoint (default: seed-0 synthetic):
  calibration  int8 agreement with the SavedModel on the 16 probe images for several
               calibration sets: the generated default, another generated set, 7 images, one
               all-black image, and the default set written as JPEG photos and read back as
               `--calibration_images` does;
  seeds        float16 and int8 agreement of synthetic checkpoints of other seeds, both module
               types (`--seeds`);
  variants     with --all_variants (about 25 minutes here), float32, float16 and int8 agreement
               of a seed-0 synthetic checkpoint of each of the 22 variants, both module types.
With --speed, only what the four types cost an export (scripts/benchmarking/litert_speed.py):
fresh-process exports of a seed-0 synthetic checkpoint with and without them, alternated, and
the exact calibration alone. Speed and size of the models themselves are in
scripts/benchmark.py's LiteRT table (docs/benchmark.md).
"""

import json
import pathlib
import tempfile
import time

from absl import flags

from benchmarking.processes import IMAGE_SIZE  # beside this script
from benchmarking.processes import MULTIPLIER
from export import cli
from nets import variants

FLAGS = flags.FLAGS

# Heavy modules (TensorFlow, Keras) are imported where needed: --help stays fast.
# pylint: disable=g-import-not-at-top


def calibration_choices(image_size: int, scratch: pathlib.Path) -> dict:
  """name -> float32 images in [0, 1]: the calibration sets whose effect is measured."""
  import numpy as np

  from export.base import probe_images
  from export.core import images as images_lib
  from export.formats.litert import calibration as litert_calibration

  photos = scratch / "photos"
  for seed in litert_calibration.CALIBRATION_SEEDS:
    for kind in probe_images.PHOTO_KINDS:
      images_lib.write_example_image(str(photos / f"{kind}_{seed}.jpg"), 256, kind, seed)
  return {
    "default: 112 generated (7 kinds x seeds 1-16)": litert_calibration.default_images(image_size),
    "other generated: 112 (seeds 17-32)": litert_calibration.default_images(
      image_size, range(17, 33)
    ),
    "7 generated (seed 1)": litert_calibration.default_images(image_size, [1]),
    "1 all-black image": np.zeros((1, image_size, image_size, 3), np.float32),
    "default set as 256 px JPEG files (--calibration_images)": litert_calibration.images_from_directory(
      str(photos), image_size
    ),
  }


def agreement_of(
  network, ranges, model_type, reference, module_type, image_size: int = IMAGE_SIZE
) -> dict:
  from export.base import probe_images
  from export.formats import agreement as litert_agreement
  from export.formats import litert as litert_format
  from export.formats.litert import converter as litert

  _, probes = probe_images.probe_batch(image_size)
  model = litert.convert(network, image_size, model_type, ranges)
  agreement = litert_agreement.measure(
    model_type,
    litert.run(model, probes),
    reference,
    module_type,
    litert_format.THRESHOLDS[model_type],
  )
  return agreement.as_dict()


def seed_agreements(
  seeds,
  scratch: pathlib.Path,
  multiplier: float = MULTIPLIER,
  image_size: int = IMAGE_SIZE,
  model_types=("float16", "int8"),
) -> list:
  """Agreement of synthetic checkpoints of `seeds`, both module types, one row each."""
  import tensorflow as tf

  from export.base import probe_images
  from export.core import checkpoint
  from export.core import labels
  from export.core import reusable_module
  from export.formats.litert import calibration as litert_calibration
  from export.formats.litert import converter as litert
  from export.formats.litert import network as litert_network
  from export.testing import synthetic_checkpoint

  _, probes = probe_images.probe_batch(image_size)
  rows = []
  for seed in seeds:
    prefix = synthetic_checkpoint.write_checkpoint(
      str(scratch / f"seed{seed}_{multiplier}_{image_size}"), multiplier, image_size, seed=seed
    )
    values = checkpoint.model_values(prefix, multiplier, True).values
    ranges = None  # the feature vector's are the classifier's without the logits'
    for module_type in ("classification", "feature_vector"):
      root = reusable_module.build(
        values,
        variants.ModelSpec(multiplier, image_size, module_type),
        0.99,
        labels_file=labels.LABELS_FILE,
      )
      reference = root.__call__(tf.constant(probes), training=False).numpy()
      network = litert.network_of(root)
      if ranges is None:
        ranges = litert_network.activation_ranges(
          network, litert_calibration.default_images(image_size)
        )
      row = dict(seed=seed, multiplier=multiplier, image_size=image_size, module_type=module_type)
      for model_type in model_types:
        row[model_type] = agreement_of(
          network,
          ranges[: len(network.op_kinds) + 1],
          model_type,
          reference,
          module_type,
          image_size,
        )
      rows.append(row)
  return rows


def benchmark(scratch: pathlib.Path) -> dict:
  from export.base import probe_images
  from export.core import options
  from export.formats.litert import converter as litert
  from export.formats.litert import network as litert_network
  from export.formats.saved_model import exporter as export_lib
  from export.testing import synthetic_checkpoint

  checkpoint_path = FLAGS.checkpoint_path or synthetic_checkpoint.write_checkpoint(
    str(scratch / "checkpoint"), MULTIPLIER, IMAGE_SIZE, seed=0
  )
  print("exporting with all four LiteRT types ...", flush=True)
  started = time.perf_counter()
  result = export_lib.export_saved_model(
    options.ExportOptions(
      checkpoint_path=checkpoint_path,
      export_dir=str(scratch / "module"),
      spec=variants.ModelSpec(MULTIPLIER, IMAGE_SIZE),
      tflite=True,
      tflite_types=litert.TYPES,
    )
  )
  results = {
    "checkpoint": FLAGS.checkpoint_path or "seed-0 synthetic",
    "export_seconds": time.perf_counter() - started,
    "timings": result.timings,
    "models": {
      written.model_type: dict(size_bytes=written.size_bytes, agreement=written.agreement.as_dict())
      for written in result.litert_models
    },
  }
  print("calibration choices ...", flush=True)
  from export.core import checkpoint
  from export.core import labels
  from export.core import reusable_module

  with checkpoint.opened(checkpoint_path) as prefix:
    values = checkpoint.model_values(prefix, MULTIPLIER, True).values
  root = reusable_module.build(
    values, variants.ModelSpec(MULTIPLIER, IMAGE_SIZE), 0.99, labels_file=labels.LABELS_FILE
  )
  network = litert.network_of(root)
  _, probes = probe_images.probe_batch(IMAGE_SIZE)
  reference = litert.reference_outputs(result.export_dir, probes)
  results["calibration"] = {}
  for name, images in calibration_choices(IMAGE_SIZE, scratch).items():
    started = time.perf_counter()
    ranges = litert_network.activation_ranges(network, images)
    results["calibration"][name] = dict(
      calibration_images=len(images),
      range_seconds=time.perf_counter() - started,
      **agreement_of(network, ranges, "int8", reference, "classification"),
    )
  seeds = [int(seed) for seed in FLAGS.seeds.split(",") if seed.strip()]
  print("other checkpoint seeds ...", flush=True)
  results["seeds"] = seed_agreements(seeds, scratch)
  if FLAGS.all_variants:
    print("every variant ...", flush=True)
    results["variants"] = [
      row
      for variant in variants.VARIANTS
      for row in seed_agreements(
        [0], scratch, variant.depth_multiplier, variant.image_size, ("float32", "float16", "int8")
      )
    ]
  return results


def markdown(results: dict) -> str:
  lines = [
    f"Weights: {results['checkpoint']}. Export with all four types: "
    f"{results['export_seconds']:.1f} s, of which LiteRT {results['timings']['tflite']:.1f} s.",
    "",
    "| int8 calibrated on | images | ranges (s) | min cosine | mean cosine | top-1 | "
    "top-5 overlap | passes |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for name, row in results["calibration"].items():
    lines.append(
      f"| {name} | {row['calibration_images']} | {row['range_seconds']:.1f} | "
      f"{row['min_cosine']:.4f} | {row['mean_cosine']:.4f} | "
      f"{row['top1_agreement']:.2f} | {row['top5_overlap']:.3f} | "
      f"{'yes' if row['passed'] else 'no'} |"
    )
  for key, title in (
    ("seeds", "0.75/96, other synthetic seeds"),
    ("variants", "every variant, seed-0 synthetic"),
  ):
    if results.get(key):
      lines += ["", f"Agreement, {title}:", ""] + agreement_rows(results[key])
  return "\n".join(lines)


def agreement_rows(rows: list) -> list:
  """A Markdown table: one row per checkpoint and module type, a column group per type."""
  lines = [
    "| checkpoint | module | float32 max rel. | float16 max rel. | float16 min cos | "
    "int8 min cos | int8 mean cos | int8 top-1 | int8 top-5 |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for row in rows:
    cells = [f"{row['multiplier']}/{row['image_size']} seed {row['seed']}", row["module_type"]]
    for model_type, field, digits in (
      ("float32", "max_relative_difference", ".2g"),
      ("float16", "max_relative_difference", ".3g"),
      ("float16", "min_cosine", ".5f"),
      ("int8", "min_cosine", ".4f"),
      ("int8", "mean_cosine", ".4f"),
      ("int8", "top1_agreement", ".2f"),
      ("int8", "top5_overlap", ".3f"),
    ):
      value = row.get(model_type, {}).get(field)
      cells.append("–" if value is None else format(value, digits))
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def define_flags() -> None:
  flags.DEFINE_string(
    "checkpoint_path", None, "A 0.75/96 checkpoint prefix or .tgz; default: a seed-0 synthetic one."
  )
  flags.DEFINE_string(
    "seeds", "1,2", "Synthetic checkpoint seeds for the threshold table (empty: none)."
  )
  flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
  flags.DEFINE_bool(
    "all_variants", False, "Also measure the agreement of every variant (seed-0 synthetic; slow)."
  )
  flags.DEFINE_bool("speed", False, "Only measure what the four types cost an export.")
  flags.DEFINE_string("speed_variant", "1.0/224", "Multiplier/size of the --speed checkpoint.")
  flags.DEFINE_integer("speed_rounds", 3, "Exports of each kind with --speed.", lower_bound=1)


def main(argv) -> None:
  cli.parse_or_exit(cli.reject_positional_arguments, argv)
  with tempfile.TemporaryDirectory(prefix="litert_study_") as scratch:
    if FLAGS.speed:
      from benchmarking import litert_speed  # beside this script

      multiplier, size = FLAGS.speed_variant.split("/")
      results = litert_speed.measure(
        pathlib.Path(scratch), float(multiplier), int(size), FLAGS.speed_rounds
      )
      print("\n".join(litert_speed.markdown(results)))
    else:
      results = benchmark(pathlib.Path(scratch))
      print(markdown(results))
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
  cli.run(main, define_flags)
