r"""Classifies image files with an exported classification module: the top-k labels.

  python -m export.classify --export_dir=/tmp/mobilenet_v2_075_96 photo.jpg drawing.png
  python -m export.classify --export_dir=/tmp/mobilenet_v2_075_96 --json --top_k=3 photo.jpg

Each image is decoded, resized whole to the module's size and scaled to [0, 1]
(export/core/images.py; docs/classify.md). Prints the top 5 (`--top_k`) per image, or one
JSON document with `--json`. An image that cannot be used is reported on its own line on
stderr while the others are still classified. Exit codes: 0 every image classified; 1 an
image or the export could not be used; 2 bad flags; 130 interrupted. TensorFlow is imported
once the flags are parsed (export/cli.py quiets its start-up first).
"""

import dataclasses
import json
import os
import sys
from typing import Sequence

from absl import flags

from export import cli
from export.core import labels
from nets import architecture

FLAGS = flags.FLAGS


def format_text(results: Sequence) -> str:
  """Per image a heading line, then one line per class: rank, probability, label, index."""
  lines = []
  for result in results:
    height, width = result.input_size
    lines.append(f"{result.image_path} ({result.width}x{result.height} -> {width}x{height}):")
    lines += [
      f"  {p.rank}  {p.probability:.4f}  {p.label} (class {p.class_index})"
      for p in result.predictions
    ]
  return "\n".join(lines)


def to_dict(model_path: str, results: Sequence) -> dict:
  """The JSON document of `--json`: results, and the images that could not be used."""
  # pylint: disable=g-import-not-at-top
  from export.core import images
  from export.runtime import classifier as classifier_lib

  # pylint: enable=g-import-not-at-top
  return {
    "export_dir": os.path.abspath(model_path),
    "preprocessing": images.PREPROCESSING,
    "results": [
      dataclasses.asdict(r) for r in results if isinstance(r, classifier_lib.ImageResult)
    ],
    "failures": [
      dataclasses.asdict(r) for r in results if isinstance(r, classifier_lib.ImageFailure)
    ],
  }


@dataclasses.dataclass(frozen=True)
class Options:
  export_dir: str
  image_paths: tuple
  top_k: int = labels.DEFAULT_TOP_K
  json: bool = False


def execute(options: Options) -> int:
  """Classifies and prints; returns the exit code (1 when any image could not be used)."""
  from export.runtime import classifier as classifier_lib  # pylint: disable=g-import-not-at-top

  results = cli.work_or_exit(
    classifier_lib.classify, options.export_dir, options.image_paths, options.top_k
  )
  good = [r for r in results if isinstance(r, classifier_lib.ImageResult)]
  failures = [r for r in results if isinstance(r, classifier_lib.ImageFailure)]
  if options.json:
    print(json.dumps(to_dict(options.export_dir, results), indent=2))
  elif good:
    print(format_text(good))
  for failure in failures:
    print(f"error: {failure.message}", file=sys.stderr)
  return cli.FAILED if failures else 0


def define_flags() -> None:
  cli.define_required_string(
    "export_dir",
    "The classification module to run: a SavedModel directory, .keras or .tflite file, or a "
    "TF.js model directory (<name>.tfjs, run in Node).",
  )
  flags.DEFINE_integer(
    "top_k",
    labels.DEFAULT_TOP_K,
    "How many classes to print per image.",
    lower_bound=1,
    upper_bound=architecture.NUM_CLASSES,
  )
  flags.DEFINE_bool("json", False, "Print one JSON document instead of text.")


def options_from_flags(argv) -> Options:
  if len(argv) < 2:
    raise ValueError("give at least one image file after the flags")
  return Options(FLAGS.export_dir, tuple(argv[1:]), FLAGS.top_k, FLAGS.json)


def main(argv) -> int:
  return execute(cli.parse_or_exit(options_from_flags, argv))


def run() -> None:
  """Console-script entry point (mobilenet-v2-classify)."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
