r"""Verifies an export (a SavedModel directory, a .keras or .tflite file) against its TF-Slim
checkpoint, or against a stored golden.

  python -m export.verify --export_dir=/tmp/mobilenet_v2_075_96 \
      --checkpoint_path=mobilenet_v2_0.75_96.ckpt --module_type=classification \
      --report=/tmp/verify_075_96.json

The reference is the checkpoint run through the TF-Slim graph as TF-Slim evaluates it (EMA
shadows, images fed as 2x - 1); the candidate is the SavedModel loaded on its own and called
on the same probe images. The checks (module_type, variables bit for bit, outputs within
1e-4 * (1 + max |reference|), top1, top5) and goldens are described in
docs/verification.md; the library is `export.verification`.

Exit codes: 0 every check holds; 1 a check fails, or an input cannot be used (a missing or
corrupt checkpoint, export or golden, an unwritable report); 2 bad or contradictory flags.
TensorFlow is imported once the flags are parsed (export/cli.py quiets its start-up first).
"""

import dataclasses
import os
import tempfile
from typing import Optional

from absl import flags

from export import cli
from export.base import files
from nets import variants

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Options:
  export_dir: Optional[str]
  checkpoint_path: Optional[str]
  golden: Optional[str]
  write_golden: Optional[str]
  report: Optional[str]
  spec: variants.ModelSpec


def define_flags() -> None:
  cli.define_variant_flags()
  flags.DEFINE_string(
    "export_dir",
    None,
    "The SavedModel directory, .keras or .tflite file, or TF.js model directory (.tfjs) to verify.",
  )
  flags.DEFINE_string(
    "checkpoint_path",
    None,
    "Checkpoint prefix (.../mobilenet_v2_0.75_96.ckpt) or released .tgz the "
    "export was made from: the reference.",
  )
  flags.DEFINE_string(
    "golden",
    None,
    "A golden file (--write_golden) to verify against instead of a "
    "checkpoint; variables are then not compared.",
  )
  flags.DEFINE_string(
    "write_golden",
    None,
    "Also store the checkpoint's reference outputs as a golden file here "
    "(--export_dir is then optional).",
  )
  cli.define_module_type_flag()
  flags.DEFINE_string("report", None, "Write the JSON report here.")


def options_from_flags(argv) -> Options:
  cli.reject_positional_arguments(argv)
  if bool(FLAGS.checkpoint_path) == bool(FLAGS.golden):
    raise ValueError("give exactly one of --checkpoint_path and --golden")
  if FLAGS.write_golden and not FLAGS.checkpoint_path:
    raise ValueError(
      "--write_golden needs --checkpoint_path (a golden stores a checkpoint's outputs)"
    )
  if not FLAGS.export_dir and not FLAGS.write_golden:
    raise ValueError("--export_dir is required (unless only writing a golden)")
  return Options(
    FLAGS.export_dir,
    FLAGS.checkpoint_path,
    FLAGS.golden,
    FLAGS.write_golden,
    FLAGS.report,
    cli.spec_from_flags(FLAGS.checkpoint_path),
  )


def _check_report_path(path: str) -> None:
  """UnwritableError unless a report can be written at `path` (its directory must exist).

  Checked before any work, so that an unwritable path does not cost a whole verification.
  """
  flag = f"--report={path}"
  directory = os.path.dirname(os.path.abspath(path))
  if os.path.isdir(path):
    raise files.UnwritableError(f"{flag}: is a directory, expected a file name")
  if not os.path.isdir(directory):
    what = "is not a directory" if os.path.exists(directory) else "does not exist"
    raise files.UnwritableError(f"{flag}: {directory} {what}; the report's directory must exist")
  try:
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".verify-report.", suffix=".probe"):
      pass
  except OSError as error:
    raise files.UnwritableError(f"{flag}: cannot write in {directory} ({error.strerror})") from None


def _check_inputs(options: Options) -> None:
  """What can be checked before the seconds a reference takes (errors.Failure)."""
  from export.verification import verifier  # pylint: disable=g-import-not-at-top

  if options.export_dir:
    verifier.check_export_dir(options.export_dir)
  if options.write_golden:
    if os.path.isdir(options.write_golden):
      raise files.UnwritableError(f"{options.write_golden}: is a directory")
    golden = os.path.abspath(options.write_golden)
    files.make_directories(os.path.dirname(golden), needed_for=golden)


def _write_report(report, path: str) -> None:
  """Writes the JSON report; if that fails, the results are printed before the error."""
  try:
    report.write(path)
  except (OSError, files.UnwritableError) as error:
    print(report.text())
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    raise files.UnwritableError(
      f"--report={path}: the report was not written ({reason}); the results are above"
    ) from None
  print(f"wrote report {path}")


def verify_from_options(options: Options) -> int:
  """What the binary does once its flags are parsed; returns the exit code."""
  if options.report:
    _check_report_path(options.report)  # before TensorFlow is even imported
  # pylint: disable=g-import-not-at-top
  from export.verification import golden
  from export.verification import verifier

  # pylint: enable=g-import-not-at-top
  _check_inputs(options)
  if options.write_golden:
    stored = golden.write_golden(
      options.write_golden, options.spec, checkpoint_path=options.checkpoint_path
    )
    print(
      f"wrote golden {options.write_golden}: {len(stored.input_names)} inputs, "
      f"outputs {list(stored.outputs.shape)}, checkpoint sha256 {stored.source['sha256']}"
    )
  if not options.export_dir:
    return 0
  report = verifier.compare(
    options.export_dir, verifier.expectation(options.checkpoint_path, options.golden, options.spec)
  )
  if options.report:
    _write_report(report, options.report)
  print(report.text())  # the verdict comes last
  return 0 if report.passed else cli.FAILED


def main(argv) -> int:
  options = cli.parse_or_exit(options_from_flags, argv)
  return cli.work_or_exit(verify_from_options, options)


def run() -> None:
  """Console-script entry point (mobilenet-v2-verify)."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
