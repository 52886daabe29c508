"""Downloads the released TF-Slim MobileNet V2 checkpoint archives, resumably and checked.

  python scripts/download_checkpoints.py --output_dir=checkpoints \
      --variants=mobilenet_v2_0.75_96,mobilenet_v2_1.0_224

Exits 0 if every variant is present and matches its digest, 1 if any failed (with a summary),
2 for bad flags, 130 when interrupted (rerun to resume). See docs/downloading.md.
"""

import sys

from absl import flags

from export import cli
from export.pipeline import download

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_variants_flag(
    "Comma-separated TF-Slim (mobilenet_v2_0.75_96) or TF Hub (mobilenet_v2_075_96) variant "
    "names, or 'all' for the 22 released checkpoints.",
  )
  cli.define_required_string(
    "output_dir", "Directory for the <name>.tgz archives (created if missing)."
  )
  flags.DEFINE_string(
    "base_url", None, f"Replaces {download.RELEASE_BASE_URL} in the archive URLs, for a mirror."
  )
  flags.DEFINE_string(
    "digests",
    str(download.DEFAULT_DIGESTS_PATH),
    "JSON file of recorded sha256 digests; digests of first downloads are added to it.",
  )
  flags.DEFINE_integer(
    "retries",
    download.DEFAULT_RETRIES,
    "Retries per variant after connection errors, truncated bodies and 5xx.",
    lower_bound=0,
  )
  flags.DEFINE_float(
    "timeout_seconds",
    download.DEFAULT_TIMEOUT_SECONDS,
    "How long a connection may send nothing before the attempt counts as stalled (retried).",
    lower_bound=0.1,
  )
  flags.DEFINE_float(
    "backoff_seconds",
    1.0,
    "Wait before the first retry; it doubles with each further retry (at most 30 s).",
    lower_bound=0.0,
  )


def options_from_flags(argv) -> list:
  """The variants to download; ValueError (a usage error) for bad flags."""
  cli.reject_positional_arguments(argv)
  if FLAGS.base_url is not None:
    cli.from_flag("base_url", download.check_base_url)
  return cli.variants_from_flag()


def check_places() -> None:
  """The output directory and the digests file, once for the run (DownloadError or
  UnwritableError) rather than as each variant's failure."""
  download.check_output_dir(FLAGS.output_dir)
  download.load_digests(FLAGS.digests)


def main(argv) -> int:
  chosen = cli.parse_or_exit(options_from_flags, argv)
  cli.work_or_exit(check_places)
  base = FLAGS.backoff_seconds

  def print_result(result):
    print(result.describe(), file=sys.stdout if result.ok else sys.stderr, flush=True)

  try:
    results = download.download_all(
      chosen,
      FLAGS.output_dir,
      on_result=print_result,
      base_url=FLAGS.base_url,
      digests_path=FLAGS.digests,
      retries=FLAGS.retries,
      backoff=lambda attempt: download.exponential_backoff(attempt, base_seconds=base),
      progress=download.Progress(sys.stderr),
      timeout=FLAGS.timeout_seconds,
    )
  except KeyboardInterrupt:
    print("interrupted; rerun the same command to resume from the .part files", file=sys.stderr)
    return 130
  failures = [result for result in results if not result.ok]
  if failures:
    print(f"{len(failures)} of {len(results)} variants failed:", file=sys.stderr)
    for result in failures:
      print(f"  {result.describe()}", file=sys.stderr)
    return cli.FAILED
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
