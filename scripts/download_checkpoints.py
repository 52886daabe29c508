"""Downloads the released TF-Slim MobileNet V2 checkpoint archives, resumably and checked.

  python scripts/download_checkpoints.py --output_dir=checkpoints \
      --variants=mobilenet_v2_0.75_96,mobilenet_v2_1.0_224

Exits 0 if every variant is present and matches its digest, 1 if any failed (with a summary),
2 for bad flags. See docs/downloading.md.
"""

import sys

from absl import app
from absl import flags

from export import download
from nets import variants as variants_lib

_VARIANTS = flags.DEFINE_list(
    "variants", ["all"],
    "Comma-separated TF-Slim (mobilenet_v2_0.75_96) or TF Hub (mobilenet_v2_075_96) variant "
    "names, or 'all' for the 22 released checkpoints.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Directory for the <name>.tgz archives (created if missing).")
_BASE_URL = flags.DEFINE_string(
    "base_url", None,
    f"Replaces {download.RELEASE_BASE_URL} in the archive URLs, for a mirror.")
_DIGESTS = flags.DEFINE_string(
    "digests", str(download.DEFAULT_DIGESTS_PATH),
    "JSON file of recorded sha256 digests; digests of first downloads are added to it.")
_RETRIES = flags.DEFINE_integer(
    "retries", download.DEFAULT_RETRIES,
    "Retries per variant after connection errors, truncated bodies and 5xx.", lower_bound=0)
_BACKOFF_SECONDS = flags.DEFINE_float(
    "backoff_seconds", 1.0,
    "Wait before the first retry; it doubles with each further retry (at most 30 s).",
    lower_bound=0.0)

flags.mark_flag_as_required("output_dir")


def _parse_variants(names):
  """The Variants named; ValueError (naming the bad one) for an unknown name."""
  if names == ["all"]:
    return list(variants_lib.VARIANTS)
  if not names:
    raise ValueError("no variants given")
  return [variants_lib.by_name(name) for name in names]


@flags.validator("variants")
def _check_variants(names):
  try:
    _parse_variants(names)
  except ValueError as e:
    raise flags.ValidationError(str(e)) from e  # The form absl reports as a bad flag value.
  return True


@flags.validator("base_url")
def _check_base_url(base_url):
  try:
    if base_url is not None:
      download.check_base_url(base_url)
  except ValueError as e:
    raise flags.ValidationError(str(e)) from e
  return True


def _parse_flags(argv):
  """absl's parsing, but a bad flag exits 2 with one line (absl's default exits 1)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"{argv[0]}: error: {e}", file=sys.stderr)
    sys.exit(2)


def main(argv):
  if len(argv) > 1:
    print(f"{argv[0]}: error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
    return 2
  base = _BACKOFF_SECONDS.value

  def print_result(result):
    print(result.describe(), file=sys.stdout if result.ok else sys.stderr, flush=True)

  try:
    results = download.download_all(
        _parse_variants(_VARIANTS.value), _OUTPUT_DIR.value, on_result=print_result,
        base_url=_BASE_URL.value, digests_path=_DIGESTS.value, retries=_RETRIES.value,
        backoff=lambda attempt: download.exponential_backoff(attempt, base_seconds=base),
        progress=download.Progress(sys.stderr))
  except KeyboardInterrupt:
    print("interrupted; rerun the same command to resume from the .part files",
          file=sys.stderr)
    return 130
  failures = [result for result in results if not result.ok]
  if failures:
    print(f"{len(failures)} of {len(results)} variants failed:", file=sys.stderr)
    for result in failures:
      print(f"  {result.describe()}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
