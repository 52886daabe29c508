"""Writes a synthetic MobileNet V2 checkpoint: the released layout with RANDOM weights.

  python scripts/make_synthetic_checkpoint.py --depth_multiplier=0.75 --image_size=96 \
      --output_dir=/tmp/synthetic [--seed=0] [--archive]

Prints the checkpoint prefix. For tests and demos without the released archives; the weights
are not the ImageNet ones. Bad input: one line on stderr and exit code 2.
"""

import os
import sys

from absl import app
from absl import flags

from nets import synthetic

USAGE_ERROR = 2
# Read when TensorFlow loads, which nets.synthetic delays until a checkpoint is built.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_float("depth_multiplier", 0.75, "Depth multiplier, e.g. 0.35, 0.75, 1.4.")
flags.DEFINE_integer("image_size", 96, "Input height and width in pixels, e.g. 96 or 224.")
flags.DEFINE_string("output_dir", None, "Directory to write the checkpoint into (created).")
flags.DEFINE_integer("seed", 0, "Random seed; the same seed gives the same checkpoint.")
flags.DEFINE_bool("archive", False, "Also write <name>.tgz laid out like a released archive.")


def _fail(message: str) -> None:
  print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
  sys.exit(USAGE_ERROR)


def _parse_flags(argv):
  """absl's parsing, with a flag error reported like any other bad input."""
  try:
    return FLAGS(argv)
  except flags.Error as error:
    _fail(str(error))


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.output_dir:
    _fail("--output_dir is required")
  try:
    prefix = synthetic.write_checkpoint(FLAGS.output_dir, FLAGS.depth_multiplier,
                                        FLAGS.image_size, seed=FLAGS.seed,
                                        archive=FLAGS.archive)
  except ValueError as error:
    _fail(str(error))
  print(prefix)
  if FLAGS.archive:
    print(prefix[:-len(".ckpt")] + ".tgz")
  print("The weights are RANDOM (synthetic, seed "
        f"{FLAGS.seed}), not the released ImageNet weights.")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
