"""Writes a synthetic MobileNet V2 checkpoint: the released layout with RANDOM weights.

  python scripts/make_synthetic_checkpoint.py --depth_multiplier=0.75 --image_size=96 \
      --output_dir=/tmp/synthetic [--seed=0] [--archive]

Prints the checkpoint prefix. For tests and demos without the released archives; the weights
are not the ImageNet ones. The same arguments give the same bytes on every machine
(docs/reproducibility.md). Exit codes: 0 written; 1 the output directory cannot be written;
2 bad flags.
"""

from absl import flags

from export import cli
from export.testing import synthetic_checkpoint
from nets import synthetic

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_float("depth_multiplier", 0.75, "Depth multiplier, e.g. 0.35, 0.75, 1.4.")
  flags.DEFINE_integer("image_size", 96, "Input height and width in pixels, e.g. 96 or 224.")
  cli.define_required_string("output_dir", "Directory to write the checkpoint into (created).")
  flags.DEFINE_integer("seed", 0, "Random seed; the same seed gives the same checkpoint.")
  flags.DEFINE_bool("archive", False, "Also write <name>.tgz laid out like a released archive.")


def check_flags(argv) -> None:
  cli.reject_positional_arguments(argv)
  synthetic.check_arguments(FLAGS.depth_multiplier, FLAGS.image_size, FLAGS.seed)


def main(argv) -> None:
  cli.parse_or_exit(check_flags, argv)
  prefix = cli.work_or_exit(
    synthetic_checkpoint.write_checkpoint,
    FLAGS.output_dir,
    FLAGS.depth_multiplier,
    FLAGS.image_size,
    FLAGS.seed,
    FLAGS.archive,
  )
  print(prefix)
  if FLAGS.archive:
    print(prefix[: -len(".ckpt")] + ".tgz")
  print(
    f"The weights are RANDOM (synthetic, seed {FLAGS.seed}), not the released ImageNet weights."
  )


if __name__ == "__main__":
  cli.run(main, define_flags)
