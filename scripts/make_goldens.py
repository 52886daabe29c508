r"""Regenerates the committed verification goldens in tests/golden/.

  .venv/bin/python scripts/make_goldens.py [--output_dir=tests/golden]

Each golden holds the outputs of a seeded synthetic checkpoint (nets/synthetic.py) on the
probe set (export/base/probe_images.py), computed by the fixed-order float64 network and
written by `export.verification.golden.write_golden`. Nothing here depends on the time, the
machine's paths or its float kernels, so a rerun on any machine rewrites identical files. Never edit a golden by hand: change the
code, rerun this script, and commit the result (see docs/verification.md).
"""

import os
import pathlib
import tempfile

from absl import flags

from export import cli
from export.testing import synthetic_checkpoint
from nets import variants

DEFAULT_OUTPUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "tests" / "golden"
# (depth multiplier, image size, module type, checkpoint seed) of each committed golden.
GOLDENS = (  # (the network, the synthetic checkpoint's seed)
  (variants.ModelSpec(0.75, 96, "classification"), 0),
  (variants.ModelSpec(0.75, 96, "feature_vector"), 0),
)


def define_flags() -> None:
  flags.DEFINE_string("output_dir", str(DEFAULT_OUTPUT_DIR), "Where the goldens go.")


def golden_name(spec: variants.ModelSpec, seed: int) -> str:
  """mobilenet_v2_0.75_96_classification_seed0.npz"""
  return f"{spec.name}_{spec.module_type}_seed{seed}.npz"


def make_goldens(output_dir: str) -> list:
  """Writes every golden of GOLDENS into `output_dir`; returns their paths."""
  # TensorFlow from here on: --help answers without it.
  from export.verification import golden  # pylint: disable=g-import-not-at-top

  paths, checkpoints = [], {}
  with tempfile.TemporaryDirectory(prefix="make_goldens_") as scratch:
    for spec, seed in GOLDENS:
      key = (spec.depth_multiplier, spec.image_size, seed)
      if key not in checkpoints:
        # A directory per checkpoint keeps the plain TF-Slim file names, which the golden's
        # metadata records.
        checkpoints[key] = synthetic_checkpoint.write_checkpoint(
          os.path.join(scratch, str(len(checkpoints))), *key
        )
      prefix = checkpoints[key]
      path = os.path.join(output_dir, golden_name(spec, seed))
      golden.write_golden(path, spec, checkpoint_path=prefix)
      paths.append(path)
  return paths


def main(argv):
  cli.parse_or_exit(cli.reject_positional_arguments, argv)
  for path in make_goldens(flags.FLAGS.output_dir):
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
