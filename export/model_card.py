r"""Prints the model card (TF Hub's Markdown documentation page) of one module version.

  python -m export.model_card --depth_multiplier=0.75 --image_size=96 \
      --module_type=classification --version=4
  python -m export.model_card --variant=mobilenet_v2_075_96 --module_type=feature_vector

Without variant flags the default variant is used. The card is rendered by
`export.publish.model_card.render`. Bad flags: one line on stderr and exit code 2.
"""

import sys

from absl import flags

from export import cli
from export.base import versions
from export.publish import model_card

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_variant_flags()
  cli.define_module_type_flag("Which module the card documents.")
  flags.DEFINE_integer(
    "version", versions.LATEST_VERSION, f"Module version, one of {versions.PRODUCED_VERSIONS}."
  )


def card_from_flags(argv: list) -> str:
  cli.reject_positional_arguments(argv)
  return model_card.render(cli.released_variant_from_flags(), FLAGS.module_type, FLAGS.version)


def main(argv: list) -> int:
  sys.stdout.write(cli.parse_or_exit(card_from_flags, argv))
  return 0


def run() -> None:
  """Console-script entry point (mobilenet-v2-model-card)."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
