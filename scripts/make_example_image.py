"""Writes the example picture of the quickstart: a synthetic photo (no real image is shipped).

  python scripts/make_example_image.py --output=example.png [--size=256] [--kind=landscape]

The picture is `export/base/probe_images.py`'s synthetic photo, larger than any module's input
so that classifying it shows the resize at work. PNG or JPEG, by the file's suffix.
"""

from absl import flags

from export import cli
from export.base import probe_images

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_required_string("output", "Where the .png or .jpg goes.")
  flags.DEFINE_integer("size", 256, "Height and width in pixels.", lower_bound=1)
  flags.DEFINE_enum("kind", "landscape", list(probe_images.PHOTO_KINDS), "What it shows.")


def main(argv) -> None:
  cli.parse_or_exit(cli.reject_positional_arguments, argv)
  from export.core import images  # pylint: disable=g-import-not-at-top  (TensorFlow)

  cli.parse_or_exit(
    lambda _: images.write_example_image(FLAGS.output, FLAGS.size, FLAGS.kind), argv
  )
  print(FLAGS.output)


if __name__ == "__main__":
  cli.run(main, define_flags)
