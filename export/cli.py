"""What the absl binaries share: variant flags, one-line errors, exit codes.

Exit codes: 0 success, 1 the work failed (bad checkpoint, mismatch), 2 usage or input error.
"""

import math
import sys
from typing import NoReturn

from absl import app
from absl import flags

from nets import variants

USAGE_ERROR = 2


def define_variant_flags() -> None:
  flags.DEFINE_float("depth_multiplier", 0.75, "Depth multiplier of the network.")
  flags.DEFINE_integer("image_size", 96, "Input height and width in pixels.")
  flags.DEFINE_string(
      "variant", None,
      "A released variant by TF-Slim name (mobilenet_v2_0.75_96) or TF Hub name "
      "(mobilenet_v2_075_96); replaces --depth_multiplier and --image_size.")


def check_module_type(module_type: str) -> None:
  if module_type not in variants.MODULE_TYPES:
    raise ValueError(f"module type must be one of {', '.join(variants.MODULE_TYPES)}, got "
                     f"{module_type!r}")


def check_depth_multiplier_and_size(depth_multiplier: float, image_size: int) -> None:
  if not (math.isfinite(depth_multiplier) and depth_multiplier > 0):
    raise ValueError(f"--depth_multiplier must be a positive number, got {depth_multiplier}")
  if image_size <= 0:
    raise ValueError(f"--image_size must be a positive number of pixels, got {image_size}")


def variant_from_flags() -> tuple:
  """(depth_multiplier, image_size) from --variant or the pair of flags."""
  flag_values = flags.FLAGS
  if flag_values.variant:
    variant = variants.by_name(flag_values.variant)
    for name, value in (("depth_multiplier", variant.depth_multiplier),
                        ("image_size", variant.image_size)):
      if flag_values[name].present and flag_values[name].value != value:
        raise ValueError(f"--variant={flag_values.variant} has {name} {value}, but "
                         f"--{name}={flag_values[name].value} was given")
    return variant.depth_multiplier, variant.image_size
  check_depth_multiplier_and_size(flag_values.depth_multiplier, flag_values.image_size)
  return flag_values.depth_multiplier, flag_values.image_size


def released_variant_from_flags() -> variants.Variant:
  return variants.find(*variant_from_flags())


def reject_positional_arguments(argv) -> None:
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")


def fail(message: str, exit_code: int) -> NoReturn:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(exit_code)


def parse_or_exit(parse, argv):
  """Typed options from `parse(argv)`, or a one-line usage error and exit code 2."""
  try:
    return parse(argv)
  except ValueError as error:
    fail(str(error), USAGE_ERROR)


def run(main) -> None:
  """app.run, but a malformed flag is a one-line usage error with exit code 2."""
  def parse_flags(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      fail(str(error), USAGE_ERROR)
  app.run(main, flags_parser=parse_flags)
