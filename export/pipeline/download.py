"""Downloads the released TF-Slim MobileNet V2 checkpoint archives, resumably and checked.

Each archive is fetched into `<output_dir>/<name>.tgz.part`; an interrupted transfer (a dropped
connection, a truncated body, a killed process) continues from the bytes already there with an
HTTP Range request. The finished file's sha256 is checked against the digests file (a JSON
object mapping TF-Slim variant names to lowercase hex sha256 digests) and only a matching file
is renamed to `<name>.tgz`, so a file under the final name is always whole. A variant without
a recorded digest has the digest of its first download recorded.

Only the standard library is used, so downloading does not need TensorFlow.
"""

import dataclasses
import json
import os
import pathlib
import re
import tarfile
from typing import Callable
from typing import Iterable
from typing import Optional
from typing import Union
import zlib

from export.base import errors
from export.base import files
from export.pipeline import transfer
from nets import variants as variants_lib

RELEASE_BASE_URL = transfer.RELEASE_BASE_URL
DEFAULT_DIGESTS_PATH = pathlib.Path(__file__).with_name("checkpoint_digests.json")
DEFAULT_RETRIES = transfer.DEFAULT_RETRIES
DEFAULT_TIMEOUT_SECONDS = transfer.DEFAULT_TIMEOUT_SECONDS
PART_SUFFIX = ".part"

# Outcomes of one variant, as reported in `Result.status`.
DOWNLOADED = "downloaded"
PRESENT = "already present"
FAILED = "failed"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

VariantLike = Union[variants_lib.Variant, str]
DownloadError = transfer.DownloadError
Progress = transfer.Progress
exponential_backoff = transfer.exponential_backoff
archive_url = transfer.archive_url
check_base_url = transfer.check_base_url


@dataclasses.dataclass(frozen=True)
class Result:
  """What happened to one variant."""

  variant: variants_lib.Variant
  status: str  # DOWNLOADED, PRESENT or FAILED.
  path: Optional[pathlib.Path] = None
  sha256: Optional[str] = None
  recorded: bool = False  # The digest was new and has been written to the digests file.
  error: Optional[str] = None

  @property
  def ok(self) -> bool:
    return self.status != FAILED

  def describe(self) -> str:
    """One line for the user."""
    if not self.ok:
      return f"{self.variant.name}: FAILED: {self.error}"
    line = f"{self.variant.name}: {self.status}: {self.path}"
    if self.recorded:
      line += f" (no recorded digest; recorded sha256 {self.sha256})"
    return line


# --------------------------------------------------------------------------------------------
# Digests file.


def load_digests(path: Union[str, os.PathLike]) -> dict:
  """The recorded {variant name: sha256 hex} digests; {} if the file does not exist yet."""
  path = pathlib.Path(path)
  try:
    text = path.read_text()
  except FileNotFoundError:
    return {}
  except OSError as e:
    raise DownloadError(f"cannot read digests file {path}: {e.strerror or e}") from e
  try:
    digests = json.loads(text)
  except json.JSONDecodeError as e:
    raise DownloadError(f"digests file {path} is not valid JSON: {e}") from e
  if not isinstance(digests, dict) or not all(
    isinstance(v, str) and _SHA256_HEX.match(v) for v in digests.values()
  ):
    raise DownloadError(
      f"digests file {path} must be a JSON object mapping variant names to sha256 hex digests"
    )
  return digests


def record_digest(path: Union[str, os.PathLike], name: str, sha256: str) -> None:
  """Adds one digest to the digests file, atomically so a crash never leaves it half written."""
  digests = load_digests(path)
  digests[name] = sha256
  files.write_json(path, digests)


# --------------------------------------------------------------------------------------------
# Public API.


def _resolve(variant: VariantLike) -> variants_lib.Variant:
  if isinstance(variant, variants_lib.Variant):
    return variant
  try:
    return variants_lib.by_name(variant)
  except ValueError as e:
    raise DownloadError(str(e)) from e


def _download(
  variant: variants_lib.Variant,
  output_dir: pathlib.Path,
  *,
  base_url: Optional[str],
  digests_path: pathlib.Path,
  retries: int,
  backoff: Callable[[int], float],
  progress,
  timeout: float,
) -> Result:
  final = output_dir / f"{variant.name}.tgz"
  part = output_dir / f"{variant.name}.tgz{PART_SUFFIX}"
  expected = load_digests(digests_path).get(variant.name)

  if final.exists():
    found = files.sha256(final)
    if expected is None:
      record_digest(digests_path, variant.name, found)
      return Result(variant, PRESENT, final, found, recorded=True)
    if found == expected:
      return Result(variant, PRESENT, final, found)
    # Stale or damaged (e.g. the digests file changed since): fetch it afresh.
    final.unlink()

  output_dir.mkdir(parents=True, exist_ok=True)
  transfer.fetch(
    archive_url(variant, base_url), part, variant.name, progress, retries, backoff, timeout
  )

  if expected is None:
    _check_whole_archive(part, final)
  found = files.sha256(part)
  if expected is not None and found != expected:
    part.unlink()
    raise DownloadError(
      f"sha256 mismatch for {final}: expected {expected}, found {found}; deleted the download"
    )
  recorded = expected is None
  if recorded:
    record_digest(digests_path, variant.name, found)
  files.place_file(str(part), str(final))
  return Result(variant, DOWNLOADED, final, found, recorded=recorded)


def _check_whole_archive(part: pathlib.Path, final: pathlib.Path) -> None:
  """DownloadError, the part deleted, unless `part` is a whole gzip tar archive: a first
  download has no digest to be checked against, and a server that sends no length cannot
  show a cut-short body any other way."""
  try:
    with tarfile.open(part, "r:gz") as archive:
      for _ in archive:  # to the end of the compressed stream
        pass
  except (tarfile.TarError, EOFError, zlib.error) as error:
    part.unlink()
    raise DownloadError(
      f"{final}: the download is not a whole .tgz archive ({errors.first_line(error)}); deleted "
      "it, and recorded no digest"
    ) from None


def download(variant: VariantLike, output_dir: Union[str, os.PathLike], **options) -> pathlib.Path:
  """Downloads one released archive into `output_dir` and returns the `<name>.tgz` path;
  `download_result` says what the options are and what it raises."""
  return download_result(variant, output_dir, **options).path


def download_result(
  variant: VariantLike,
  output_dir: Union[str, os.PathLike],
  *,
  base_url: Optional[str] = None,
  digests_path: Union[str, os.PathLike] = DEFAULT_DIGESTS_PATH,
  retries: int = DEFAULT_RETRIES,
  backoff: Callable[[int], float] = exponential_backoff,
  progress: Optional[Progress] = None,
  timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Result:
  """Downloads one released archive into `output_dir`; the `Result` says where it is, and
  whether it was downloaded or already present and its digest recorded.

  Args:
    variant: a `nets.variants.Variant`, or a TF-Slim or TF Hub variant name.
    output_dir: where `<name>.tgz` (and, while downloading, `<name>.tgz.part`) go.
    base_url: replaces https://storage.googleapis.com/mobilenet_v2/checkpoints (a mirror).
    digests_path: the JSON file of recorded sha256 digests; a new digest is added to it.
    retries: retries after the first attempt, on connection errors, truncation and 5xx.
    backoff: seconds to sleep before retry number n (1-based).
    progress: a `Progress` to report bytes to; None for silence.
    timeout: socket timeout in seconds.

  Raises:
    DownloadError: with a one-line message.
  """
  if retries < 0:
    raise ValueError(f"retries must be >= 0, got {retries}")
  if base_url is not None:
    check_base_url(base_url)
  variant = _resolve(variant)
  try:
    return _download(
      variant,
      pathlib.Path(output_dir),
      base_url=base_url,
      digests_path=pathlib.Path(digests_path),
      retries=retries,
      backoff=backoff,
      progress=progress if progress is not None else transfer.NoProgress(),
      timeout=timeout,
    )
  except OSError as e:
    # Local file system trouble (disk full, permissions): not retried, but still one line,
    # which `Result.describe` prefixes with the variant's name.
    where = f"{e.filename}: " if e.filename else ""
    raise DownloadError(f"{where}{e.strerror or e}") from e


def check_output_dir(output_dir: Union[str, os.PathLike]) -> None:
  """UnwritableError unless `output_dir` is a directory, or could be created: said once, for
  the run, rather than as every variant's failure."""
  if os.path.isdir(output_dir):
    files.check_writable(os.path.join(output_dir, "archive.tgz"))
  elif os.path.lexists(output_dir):
    raise files.UnwritableError(f"{output_dir}: exists and is not a directory")
  else:
    files.check_writable(output_dir)


def download_all(
  variants: Optional[Iterable[VariantLike]],
  output_dir: Union[str, os.PathLike],
  *,
  on_result: Optional[Callable[[Result], None]] = None,
  **kwargs,
) -> list:
  """Downloads each variant (all 22 if None); a failure does not stop the others.

  Args:
    variants: variants or names, or None for every released variant.
    output_dir: as for `download`.
    on_result: called with each variant's `Result` as soon as it is known.
    **kwargs: the keyword arguments of `download`.

  Returns:
    One `Result` per variant, in order; failed ones have status FAILED and an `error`.
  """
  results = []
  for item in variants_lib.VARIANTS if variants is None else variants:
    try:
      variant = _resolve(item)
    except DownloadError as e:
      # An unknown name has no Variant to report against; callers validate names first.
      raise ValueError(str(e)) from e
    try:
      result = download_result(variant, output_dir, **kwargs)
    except DownloadError as e:
      result = Result(variant, FAILED, error=str(e))
    results.append(result)
    if on_result is not None:
      on_result(result)
  return results
