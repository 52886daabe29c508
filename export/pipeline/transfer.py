"""Resumable HTTP transfer of one file: Range requests, retries with backoff, progress.

A transfer writes into a `.part` file; an interrupted one (a dropped connection, a truncated
body, a killed process) continues from the bytes already there. Connection errors, truncated
bodies, 5xx, 408 and 429 are retried; anything else fails at once. Standard library only.
"""

import http.client
import pathlib
import re
import sys
import time
from typing import Callable
from typing import Optional
from typing import TextIO
import urllib.error
import urllib.parse
import urllib.request

from export.base import errors
from nets import variants as variants_lib

RELEASE_BASE_URL = "https://storage.googleapis.com/mobilenet_v2/checkpoints"
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_SECONDS = 60.0

_CHUNK_BYTES = 64 * 1024
# Client-side statuses worth retrying besides 5xx: request timeout and rate limiting.
_RETRYABLE_4XX = (408, 429)


def exponential_backoff(
  attempt: int, base_seconds: float = 1.0, max_seconds: float = 30.0
) -> float:
  """Seconds to wait before retry number `attempt` (1-based): 1, 2, 4, ... capped."""
  return min(base_seconds * 2 ** (attempt - 1), max_seconds)


class DownloadError(errors.Failure):
  """A variant could not be downloaded; the message is one line."""


class _TransientError(DownloadError):
  """A failure a retry may cure: connection errors, truncated bodies, 5xx."""


class _CannotResumeError(_TransientError):
  """The server cannot continue the part file (e.g. it is longer than the archive)."""


# --------------------------------------------------------------------------------------------
# Progress.


def _format_bytes(count: float) -> str:
  for unit in ("B", "KB", "MB", "GB"):
    if count < 1000 or unit == "GB":
      return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
    count /= 1000
  raise AssertionError("unreachable")


class Progress:
  """Reports bytes done/total, percent and rate of one transfer at a time.

  On a terminal it redraws one line in place; otherwise (logs, CI, pipes) it writes a line every
  `line_interval` seconds, so logs stay readable instead of filling with carriage returns.
  """

  def __init__(
    self,
    stream: Optional[TextIO] = None,
    *,
    is_tty: Optional[bool] = None,
    line_interval: float = 10.0,
    redraw_interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
  ):
    self._stream = stream if stream is not None else sys.stderr
    if is_tty is None:
      is_tty = getattr(self._stream, "isatty", lambda: False)()
    self._is_tty = is_tty
    self._interval = redraw_interval if is_tty else line_interval
    self._clock = clock
    self._label = ""
    self._total = None
    self._start_done = 0
    self._done = 0
    self._start_time = 0.0
    self._last_shown = 0.0

  def start(self, label: str, done: int, total: Optional[int]) -> None:
    """Begins one transfer that resumes at `done` bytes of `total` (None if unknown)."""
    self._label, self._done, self._total = label, done, total
    self._start_done = done
    self._start_time = self._last_shown = self._clock()
    if self._is_tty:
      self._show()

  def update(self, done: int) -> None:
    self._done = done
    if self._clock() - self._last_shown >= self._interval:
      self._show()

  def finish(self) -> None:
    """Ends the transfer (finished or not) with a final line."""
    self._show()
    if self._is_tty:
      self._stream.write("\n")
      self._stream.flush()

  def _text(self) -> str:
    elapsed = self._clock() - self._start_time
    # The rate counts this transfer's bytes only, not those resumed from an earlier one.
    rate = (self._done - self._start_done) / elapsed if elapsed > 0 else 0.0
    amount = _format_bytes(self._done)
    percent = ""
    bar = ""
    if self._total:
      fraction = min(self._done / self._total, 1.0)
      amount += f"/{_format_bytes(self._total)}"
      percent = f" {100 * fraction:5.1f}%"
      if self._is_tty:
        filled = int(fraction * 30)
        bar = " [" + "#" * filled + "." * (30 - filled) + "]"
    return f"{self._label}{bar} {amount}{percent} {_format_bytes(rate)}/s"

  def _show(self) -> None:
    self._last_shown = self._clock()
    if self._is_tty:
      # Pad so a shorter line fully covers the previous one.
      self._stream.write("\r" + self._text().ljust(79))
    else:
      self._stream.write(self._text() + "\n")
    self._stream.flush()


class NoProgress:
  def start(self, label, done, total):
    pass

  def update(self, done):
    pass

  def finish(self):
    pass


# --------------------------------------------------------------------------------------------
# Transfer.


def archive_url(variant: variants_lib.Variant, base_url: Optional[str] = None) -> str:
  """The archive's URL from the variants table, on `base_url` (a mirror) if given."""
  url = variant.archive_url
  if base_url is None:
    return url
  if not url.startswith(RELEASE_BASE_URL + "/"):
    raise DownloadError(f"{variant.name}: archive URL {url} is not under {RELEASE_BASE_URL}")
  return base_url.rstrip("/") + url[len(RELEASE_BASE_URL) :]


def check_base_url(base_url: str) -> None:
  """Raises ValueError unless `base_url` is an http(s) URL; Range requests need HTTP."""
  try:
    parsed = urllib.parse.urlsplit(base_url)
  except ValueError as error:  # "Invalid IPv6 URL", which names no URL
    raise ValueError(f"base URL {base_url!r} cannot be parsed ({error})") from None
  if parsed.scheme not in ("http", "https") or not parsed.netloc:
    raise ValueError(f"base URL must be an http:// or https:// URL, got {base_url!r}")


def _total_from_content_range(value: Optional[str]) -> tuple:
  """(first byte, total) of a `bytes first-last/total` or `bytes */total` header."""
  match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
  if not match:
    return None, None
  first = int(match.group(1)) if match.group(1) is not None else None
  total = int(match.group(2)) if match.group(2) != "*" else None
  return first, total


def _open(url: str, offset: int, timeout: float):
  """Opens `url` from byte `offset`; the response, or None if the part file is already whole."""
  headers = {"Range": f"bytes={offset}-"} if offset else {}
  request = urllib.request.Request(url, headers=headers)
  try:
    return urllib.request.urlopen(request, timeout=timeout)
  except urllib.error.HTTPError as e:
    e.close()
    if e.code == 416 and offset:
      # Nothing left after `offset`: the part file is whole if its size is the total size.
      _, total = _total_from_content_range(e.headers.get("Content-Range"))
      if total == offset:
        return None
      raise _CannotResumeError(f"{url}: server cannot resume at byte {offset} (HTTP 416)") from e
    if e.code >= 500 or e.code in _RETRYABLE_4XX:
      raise _TransientError(f"{url}: HTTP {e.code} {e.reason}") from e
    raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
  except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
    reason = getattr(e, "reason", None) or e
    raise _TransientError(f"{url}: {reason}") from e


def _read_chunk(response, url: str, done: int, timeout: float) -> bytes:
  try:
    # What has arrived, up to a chunk: `read` would wait for a whole chunk, and a connection
    # that stalls meanwhile would take the bytes already received down with it.
    return response.read1(_CHUNK_BYTES)
  except TimeoutError as e:
    raise _TransientError(f"{url}: stalled: no data for {timeout:g} s after {done} bytes") from e
  except (http.client.HTTPException, OSError) as e:
    # The bytes received so far stay in the part file for the next attempt to resume from.
    raise _TransientError(f"{url}: connection lost after {done} bytes ({e!r})") from e


def _fetch_once(url: str, part: pathlib.Path, label: str, progress, timeout: float) -> None:
  """One attempt to complete `part` from `url`, resuming from its current size."""
  offset = part.stat().st_size if part.exists() else 0
  try:
    response = _open(url, offset, timeout)
  except _CannotResumeError:
    part.unlink()  # So that the retry starts from the first byte.
    raise
  if response is None:
    return
  with response:
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
      first, total = _total_from_content_range(response.headers.get("Content-Range"))
      if first != offset:
        # A range we did not ask for; start over rather than splice the wrong bytes in.
        part.unlink(missing_ok=True)
        raise _CannotResumeError(f"{url}: server sent a range from byte {first}, not {offset}")
    else:
      # A 200 is the whole file: the server ignored (or was not sent) the Range header.
      offset = 0
      total = length
    expected = total - offset if total is not None else length
    done = offset
    progress.start(label, done, total)
    try:
      with open(part, "ab" if offset else "wb") as f:
        while chunk := _read_chunk(response, url, done, timeout):
          f.write(chunk)
          done += len(chunk)
          progress.update(done)
    finally:
      progress.finish()
  if expected is not None and done - offset < expected:
    raise _TransientError(f"{url}: truncated body: got {done - offset} of {expected} bytes")


def fetch(
  url: str,
  part: pathlib.Path,
  label: str,
  progress,
  retries: int,
  backoff: Callable[[int], float],
  timeout: float,
) -> None:
  """Completes `part`, retrying transient failures up to `retries` times."""
  for attempt in range(retries + 1):
    try:
      _fetch_once(url, part, label, progress, timeout)
      return
    except _TransientError as e:
      if attempt == retries:
        attempts = f"{retries + 1} attempt" + ("s" if retries else "")
        raise _TransientError(f"giving up after {attempts}: {e}") from e
      time.sleep(backoff(attempt + 1))
