"""Records the checkpoint digest of the seed-0 synthetic checkpoint of every released variant.

  python scripts/make_synthetic_digests.py

Writes export/kaggle/synthetic_checkpoint_digests.json (variant -> sha256 over the prefix's
.index and data files, the digest a regeneration's manifest records), so that the Kaggle
publisher recognizes an output made from random weights (docs/publishing.md). Every synthetic
checkpoint is a pure function of (variant, seed), so the file is the same on every machine;
rerun it when nets/synthetic.py changes (tests/test_kaggle_publish.py fails until then).
Takes a few minutes: the larger variants' calibration runs in float64 NumPy.
"""

import os
import sys
import tempfile

from export.kaggle import sources
from export.testing import synthetic_checkpoint
from export.verification import expectation
from nets import variants


def main() -> int:
  digests = {}
  with tempfile.TemporaryDirectory() as scratch:
    for variant in variants.VARIANTS:
      prefix = synthetic_checkpoint.write_checkpoint(
        os.path.join(scratch, variant.name), variant.depth_multiplier, variant.image_size, seed=0
      )
      digests[variant.name], _ = expectation.checkpoint_digest(prefix)
      print(f"{variant.name} {digests[variant.name]}", flush=True)
  sources.write_synthetic_digests(digests)
  print(f"wrote {sources.SYNTHETIC_DIGESTS_PATH}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
