"""What the absl binaries share: variant flags, quiet logging, one-line errors, exit codes.

Exit codes, the same in every binary (the README's table): 0 done; 1 the work failed
(`errors.Failure`: an unusable checkpoint, image or export, an unwritable output, a failed
check); 2 a usage error (a `ValueError` while the flags become options: a bad or
contradictory flag, an output that exists without --overwrite); 130 interrupted (SIGINT or
SIGTERM, `errors.watch_interrupts`): one line, whatever the interrupt turned into on its way
through TensorFlow; the outputs' staging is removed and nothing is placed after it.
"""

import atexit
import errno
import logging as std_logging
import os
import re
import signal
import sys
import threading
from typing import Callable
from typing import NoReturn
from typing import Optional
import warnings

from absl import app
from absl import flags
from absl import logging

from export.base import errors
from nets import architecture
from nets import variants

FAILED = 1
USAGE_ERROR = 2
INTERRUPTED = 130
_AT_EXIT = []  # what an interrupted binary must still do before it exits: drain stderr
# TensorFlow's own chatter that a user cannot act on. Real warnings still get through.
_NOISE = (
  "contains input name(s)",  # signature inputs renamed: a 5 kB line per serving signature
  "Assets written to",  # names a staging directory that no longer exists afterwards
  "Found untraced functions",
  "is deprecated",
)


# What TensorFlow's C++ start-up writes to stderr whatever TF_CPP_MIN_LOG_LEVEL says (TF 2.21
# logs through absl before absl is initialized): notices about oneDNN, CUDA on a machine without
# GPU, and CPU instructions; and what LiteRT's native code prints on every use: the quantizer's
# settings (`fully_quantize: 0, inference_type: 6, ...`) and the XNNPACK notice of each
# interpreter; and libjpeg's own line about a JPEG cut short, which classify reports in one line
# of its own. Whole lines only; other native lines, errors included, pass through.
_NATIVE_NOISE = re.compile(
  rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
  rb"|[IW]\d{4} [\d:.]+ +\d+ (port|cudart_stub|cpu_feature_guard|mlir_graph_optimization_pass)"
  rb"\.cc:\d+\]"
  rb"|E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
  rb"|To enable the following instructions: "
  rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\r?$"
  rb"|Improper call to JPEG library in state \d+\r?$"
  rb"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, "
  rb"output_inference_type: \w+\r?$)"
)


def define_variant_flags() -> None:
  default = variants.default()
  flags.DEFINE_float(
    "depth_multiplier",
    default.depth_multiplier,
    "Depth multiplier of the network (default: the checkpoint's file name's, "
    f"else {default.depth_multiplier}).",
  )
  flags.DEFINE_integer(
    "image_size",
    default.image_size,
    "Input height and width in pixels (default: the checkpoint's file "
    f"name's, else {default.image_size}).",
  )
  flags.DEFINE_string(
    "variant",
    None,
    "A released variant by TF-Slim name (mobilenet_v2_0.75_96) or TF Hub name "
    "(mobilenet_v2_075_96); replaces --depth_multiplier and --image_size.",
  )


def define_required_string(name: str, help_text: str) -> None:
  """A string flag that must be given, and not empty: `--export_dir=` (an unset shell
  variable, say) would otherwise name the current directory."""
  flags.DEFINE_string(name, None, help_text, required=True)
  flags.register_validator(name, lambda value: value is None or bool(value.strip()), "is empty")


def define_export_source_flags() -> None:
  """--checkpoint_path and --use_ema, as the export binaries share them (and the variant and
  module type flags)."""
  define_variant_flags()
  define_required_string(
    "checkpoint_path", "Checkpoint prefix (.../mobilenet_v2_0.75_96.ckpt) or a released .tgz."
  )
  define_module_type_flag()
  flags.DEFINE_bool(
    "use_ema",
    True,
    "Restore trainable variables from their ExponentialMovingAverage shadows, as TF-Slim's "
    "evaluation does; false takes the raw values.",
  )


def export_source_from_flags() -> dict:
  """The options those flags give, as the export binaries' option fields (ValueError on a
  variant that contradicts itself or the checkpoint's file name)."""
  flag_values = flags.FLAGS
  return dict(
    checkpoint_path=flag_values.checkpoint_path,
    spec=spec_from_flags(flag_values.checkpoint_path),
    use_ema=flag_values.use_ema,
  )


def define_module_type_flag(
  help_text: str = "Classification (logits) or feature_vector (global pool) module.",
) -> None:
  flags.DEFINE_enum(
    "module_type", architecture.MODULE_TYPES[0], list(architecture.MODULE_TYPES), help_text
  )


def spec_from_flags(checkpoint_path: Optional[str] = None) -> variants.ModelSpec:
  """The network --variant, the pair of flags and the checkpoint's file name
  (`mobilenet_v2_1.0_224.ckpt` names 1.0 and 224) give, of --module_type's type.

  A flag left out takes the file name's value; a flag that contradicts the file name or
  --variant is a ValueError naming both.
  """
  flag_values = flags.FLAGS
  chosen, source = {}, {}
  if flag_values.variant:
    variant = variants.by_name(flag_values.variant)
    chosen = {"depth_multiplier": variant.depth_multiplier, "image_size": variant.image_size}
    source = dict.fromkeys(chosen, f"--variant={flag_values.variant}")
  named = variants.named_by_path(checkpoint_path) if checkpoint_path else None
  if named:
    for name, value in zip(("depth_multiplier", "image_size"), named):
      if name in chosen and chosen[name] != value:
        raise ValueError(
          f"{source[name]} has {name} {chosen[name]}, but the checkpoint's file "
          f"name {os.path.basename(checkpoint_path)} says {value}"
        )
      chosen.setdefault(name, value)
      source.setdefault(name, f"the checkpoint's file name {os.path.basename(checkpoint_path)}")
  for name in ("depth_multiplier", "image_size"):
    flag = flag_values[name]
    if flag.present and name in chosen and flag.value != chosen[name]:
      raise ValueError(
        f"--{name}={flag.value} contradicts {source[name]}, which has {name} {chosen[name]}"
      )
    chosen.setdefault(name, flag.value)
  return variants.ModelSpec(**chosen, module_type=flag_values.module_type)


def released_variant_from_flags() -> variants.Variant:
  spec = spec_from_flags()
  return variants.find(spec.depth_multiplier, spec.image_size)


def reject_positional_arguments(argv) -> None:
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")


def from_flag(name: str, convert: Callable):
  """`convert(--name's value)`: the library's typed value; its ValueError, which speaks of the
  value, is given the flag's name."""
  try:
    return convert(flags.FLAGS[name].value)
  except ValueError as error:
    raise ValueError(f"--{name}: {error}") from None


def define_variants_flag(help_text: str) -> None:
  flags.DEFINE_list("variants", ["all"], help_text)


def variants_from_flag() -> tuple:
  """--variants as released variants, in the table's order."""
  return from_flag("variants", variants.select)


# absl's message for a required flag left out, said as the binaries always have.
_MISSING = re.compile(r"^flag --(\w+)=None: Flag --\1 must have a value other than None\.$")


def _flag_error(error: flags.Error) -> str:
  """absl's message in one line (its first: absl lists every failed flag on its own line)."""
  line = errors.first_line(error)
  missing = _MISSING.match(line)
  return f"--{missing.group(1)} is required" if missing else line


def fail(message: str, exit_code: int) -> NoReturn:
  if errors.interrupted():  # the failure is what the interrupt became: `run` reports that
    raise KeyboardInterrupt
  print(f"error: {message}", file=sys.stderr)
  sys.exit(exit_code)


def _exit_interrupted() -> NoReturn:
  """One line and exit 130, once the work's clean-up has run (the `finally` blocks).

  Exits at once, without the interpreter's shutdown: TensorFlow stopped halfway through its
  import can crash while being torn down, and there is nothing left to do.
  """
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, signal.SIG_IGN)
  print(
    f"interrupted ({errors.interrupted() or 'SIGINT'}); nothing partial is left", file=sys.stderr
  )
  sys.stdout.flush()
  sys.stderr.flush()
  for finish in _AT_EXIT:
    finish()
  os._exit(INTERRUPTED)


def parse_or_exit(parse: Callable, argv):
  """Typed options from `parse(argv)`, or a one-line usage error and exit code 2."""
  try:
    return parse(argv)
  except ValueError as error:
    fail(str(error), USAGE_ERROR)


def work_or_exit(work: Callable, *args):
  """`work(*args)`, or a one-line failure and exit code 1."""
  try:
    return work(*args)
  except errors.Failure as error:
    fail(str(error), FAILED)


class _DropNoise(std_logging.Filter):
  def filter(self, record: std_logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in _NOISE)


def _quiet() -> None:
  """Unless --verbosity/-v was given: WARNING and above, and TensorFlow's noise dropped."""
  if flags.FLAGS["verbosity"].present:
    return
  logging.set_verbosity(logging.WARNING)
  for name in ("absl", "tensorflow"):
    std_logging.getLogger(name).addFilter(_DropNoise())
  logging.get_absl_handler().addFilter(_DropNoise())
  # Deprecation notices from inside TensorFlow and Keras are for their maintainers.
  warnings.filterwarnings("ignore", module=r"(tensorflow|tf_keras|keras|tf_slim)(\.|$)")
  _filter_native_stderr()


def _filter_native_stderr() -> None:
  """Routes file descriptor 2 through a thread that drops `_NATIVE_NOISE` lines.

  TensorFlow's native code writes to the descriptor directly, past Python's sys.stderr. At
  exit the descriptor is restored and the thread drains what is left.
  """
  sys.stderr.flush()
  terminal = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def pump():
    with os.fdopen(read_end, "rb") as pipe:
      for line in pipe:
        if not _NATIVE_NOISE.match(line):
          os.write(terminal, line)

  thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
  thread.start()

  def restore():
    sys.stderr.flush()
    os.dup2(terminal, 2)  # closes the pipe's last write end: the pump sees its end
    thread.join(timeout=5)

  atexit.register(restore)
  _AT_EXIT.append(restore)


def run(main: Callable, define_flags: Callable[[], None]) -> None:
  """Defines the binary's flags and runs it: a malformed flag is a usage error (exit 2), an
  interrupt one line and exit 130."""
  errors.watch_interrupts()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow loads
  define_flags()
  # The flags defined here (--checkpoint_path, --variant, ...) are the binary's own: absl's
  # --help lists only the main module's, and would leave them to --helpfull.
  for flag in flags.FLAGS.get_key_flags_for_module(__name__):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

  def parse_flags(argv):
    try:
      argv = flags.FLAGS(argv)
    except flags.Error as error:
      fail(_flag_error(error), USAGE_ERROR)
    _quiet()
    return argv

  try:
    app.run(main, flags_parser=parse_flags)
  except BaseException as error:  # TensorFlow may have turned the interrupt into another error
    interrupted = isinstance(error, KeyboardInterrupt) or errors.interrupted()
    if interrupted and not (isinstance(error, SystemExit) and error.code == INTERRUPTED):
      _exit_interrupted()
    if _standard_output_failed(error):
      # Nothing more can reach it; at exit Python would try the write again, with a traceback.
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      fail(f"cannot write to standard output ({error.strerror or error})", FAILED)
    raise


# A write that failed on no named file: standard output, on a full disk or a closed pipe.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EDQUOT, errno.EFBIG})


def _standard_output_failed(error: BaseException) -> bool:
  return isinstance(error, OSError) and not error.filename and error.errno in _OUTPUT_ERRNOS
