r"""Regenerates the committed verification goldens in tests/golden/.

  .venv/bin/python scripts/make_goldens.py [--output_dir=tests/golden]

Each golden holds the TF-Slim reference outputs of a seeded synthetic checkpoint
(nets/synthetic.py) on the probe set (export/probe_images.py), written by
`export.verify.write_golden`. Nothing here depends on the time or the machine's paths, so a
rerun on the same stack rewrites identical files. Never edit a golden by hand: change the
code, rerun this script, and commit the result (see docs/verification.md).
"""

import os
import pathlib
import sys
import tempfile

from absl import app
from absl import flags

from export import verify
from nets import synthetic
from nets import variants

DEFAULT_OUTPUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "tests" / "golden"
# (depth multiplier, image size, module type, checkpoint seed) of each committed golden.
GOLDENS = (
    (0.75, 96, "classification", 0),
    (0.75, 96, "feature_vector", 0),
)

_OUTPUT_DIR = flags.DEFINE_string("output_dir", str(DEFAULT_OUTPUT_DIR),
                                  "Where the goldens go.")


def golden_name(depth_multiplier: float, image_size: int, module_type: str, seed: int) -> str:
  """mobilenet_v2_0.75_96_classification_seed0.npz"""
  stem = variants.checkpoint_stem(depth_multiplier, image_size)
  return f"{stem}_{module_type}_seed{seed}.npz"


def make_goldens(output_dir: str) -> list:
  """Writes every golden of GOLDENS into `output_dir`; returns their paths."""
  paths, checkpoints = [], {}
  with tempfile.TemporaryDirectory(prefix="make_goldens_") as scratch:
    for depth_multiplier, image_size, module_type, seed in GOLDENS:
      key = (depth_multiplier, image_size, seed)
      if key not in checkpoints:
        # A directory per checkpoint keeps the plain TF-Slim file names, which the golden's
        # metadata records.
        checkpoints[key] = synthetic.write_checkpoint(
            os.path.join(scratch, str(len(checkpoints))), *key)
      prefix = checkpoints[key]
      path = os.path.join(output_dir, golden_name(depth_multiplier, image_size, module_type,
                                                  seed))
      verify.write_golden(path, checkpoint_path=prefix, depth_multiplier=depth_multiplier,
                          image_size=image_size, module_type=module_type)
      paths.append(path)
  return paths


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
    return 2
  for path in make_goldens(_OUTPUT_DIR.value):
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
  return 0


if __name__ == "__main__":
  app.run(main)
