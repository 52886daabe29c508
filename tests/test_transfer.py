"""export/pipeline/transfer.py on its own, against a loopback HTTP server: which failures are
retried and how, resuming a `.part` file, and the progress it reports.

test_download.py covers the transfer through `download`: a clean fetch, resuming after a
dropped connection (also in a later run), a whole part file (416), a server ignoring Range, a
part file longer than the archive, one 500 retried, giving up after the retries, 404 not
retried, the backoff formula and the two progress styles. What is here is not there.
"""

import http.server
import io
import re
import socket
import threading

import loopback
import pytest

from export.pipeline import transfer
from nets import variants as variants_lib

BODY = bytes(range(256)) * 40  # 10 240 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
  """Serves BODY at any path; `server.script` lists how to answer the next requests."""

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args

  def do_GET(self):  # pylint: disable=invalid-name
    server = self.server
    range_header = self.headers.get("Range")
    server.requests.append(range_header)
    step = server.script.pop(0) if server.script else "ok"
    if isinstance(step, int):
      self.send_error(step)
      return
    match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
    start = int(match.group(1)) if match else 0
    if step == "wrong_range":  # a 206 that does not start where it was asked to
      start = max(start - 100, 0)
    if start:
      self.send_response(206)
      self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
    else:
      self.send_response(200)
    if step == "no_length":  # the body ends when the connection closes
      self.end_headers()
      self.wfile.write(BODY)
      self.close_connection = True
      return
    self.send_header("Content-Length", str(len(BODY) - start))
    self.end_headers()
    if step == "stall":  # some bytes, then silence until the client's timeout
      self.wfile.write(BODY[start : start + 1000])
      self.wfile.flush()
      server.release.wait(10)
      self.close_connection = True
      return
    self.wfile.write(BODY[start:])


@pytest.fixture
def server():
  with loopback.serve(_Handler) as httpd:
    httpd.script, httpd.requests, httpd.release = [], [], threading.Event()
    httpd.url = httpd.base_url + "/archive.tgz"
    try:
      yield httpd
    finally:
      httpd.release.set()  # a stalled answer ends


class _Recorder:
  """A progress that records its calls."""

  def __init__(self):
    self.calls = []

  def start(self, label, done, total):
    self.calls.append(("start", label, done, total))

  def update(self, done):
    self.calls.append(("update", done))

  def finish(self):
    self.calls.append(("finish",))


def _fetch(url, part, retries=0, progress=None, backoff=lambda attempt: 0.0, timeout=5.0):
  transfer.fetch(url, part, "v", progress or transfer.NoProgress(), retries, backoff, timeout)


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_errors_timeouts_and_rate_limits_are_retried(server, tmp_path, status):
  server.script = [status]
  _fetch(server.url, tmp_path / "a.part", retries=1)

  assert (tmp_path / "a.part").read_bytes() == BODY
  assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 410])
def test_other_client_errors_fail_at_once_in_one_line(server, tmp_path, status):
  server.script = [status]
  with pytest.raises(transfer.DownloadError) as info:
    _fetch(server.url, tmp_path / "a.part", retries=3)

  assert str(info.value).startswith(f"{server.url}: HTTP {status} ")
  assert "\n" not in str(info.value) and "giving up" not in str(info.value)
  assert len(server.requests) == 1


def test_backoff_is_asked_for_each_retry_in_turn_and_slept(server, tmp_path, monkeypatch):
  slept = []
  monkeypatch.setattr(transfer.time, "sleep", slept.append)
  server.script = [503, 503, 503, 503]

  with pytest.raises(transfer.DownloadError, match=r"^giving up after 4 attempts: .*HTTP 503"):
    _fetch(server.url, tmp_path / "a.part", retries=3, backoff=lambda attempt: attempt / 10)

  assert slept == [0.1, 0.2, 0.3]  # none after the last attempt


def test_a_refused_connection_is_retried_then_named(tmp_path):
  with socket.socket() as probe:  # a port nothing listens on once closed
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  attempts = []

  with pytest.raises(transfer.DownloadError) as info:
    _fetch(
      f"http://127.0.0.1:{port}/a.tgz",
      tmp_path / "a.part",
      retries=2,
      backoff=lambda attempt: attempts.append(attempt) or 0.0,
    )

  message = str(info.value)
  assert message.startswith(f"giving up after 3 attempts: http://127.0.0.1:{port}/a.tgz: ")
  assert "refused" in message and "\n" not in message
  assert attempts == [1, 2]


def test_a_stalled_body_resumes_from_the_bytes_received(server, tmp_path):
  server.script = ["stall"]
  part = tmp_path / "a.part"

  _fetch(server.url, part, retries=1, timeout=0.5)

  assert part.read_bytes() == BODY
  assert server.requests == [None, "bytes=1000-"]


def test_a_range_from_another_byte_is_never_spliced_in(server, tmp_path):
  part = tmp_path / "a.part"
  part.write_bytes(BODY[:3000])
  server.script = ["wrong_range"]

  _fetch(server.url, part, retries=1)

  assert part.read_bytes() == BODY
  assert server.requests == ["bytes=3000-", None]


def test_a_body_without_length_is_read_to_its_end(server, tmp_path):
  server.script = ["no_length"]
  progress = _Recorder()

  _fetch(server.url, tmp_path / "a.part", progress=progress)

  assert (tmp_path / "a.part").read_bytes() == BODY
  assert progress.calls[0] == ("start", "v", 0, None)


def test_progress_of_a_resumed_transfer_starts_at_the_part_files_size(server, tmp_path):
  part = tmp_path / "a.part"
  part.write_bytes(BODY[:4000])
  progress = _Recorder()

  _fetch(server.url, part, progress=progress)

  assert progress.calls[0] == ("start", "v", 4000, len(BODY))
  updates = [call[1] for call in progress.calls if call[0] == "update"]
  assert updates == sorted(updates) and updates[-1] == len(BODY)
  assert progress.calls[-1] == ("finish",)


def test_progress_is_finished_when_an_attempt_fails(server, tmp_path):
  server.script = ["stall"]
  progress = _Recorder()

  # Named as a stall, with the timeout that ended it (--timeout_seconds).
  with pytest.raises(transfer.DownloadError, match=r"stalled: no data for 0\.5 s after 1000 bytes"):
    _fetch(server.url, tmp_path / "a.part", progress=progress, timeout=0.5)

  assert [call[0] for call in progress.calls] == ["start", "update", "finish"]


def test_progress_rate_counts_only_this_transfers_bytes():
  stream, now = io.StringIO(), [0.0]
  progress = transfer.Progress(stream, is_tty=False, clock=lambda: now[0])
  progress.start("v", 1_000_000, 2_000_000)
  now[0] = 10.0
  progress.update(2_000_000)
  progress.finish()

  assert stream.getvalue().splitlines()[-1] == "v 2.0 MB/2.0 MB 100.0% 100.0 KB/s"


def test_progress_without_a_total_shows_bytes_and_rate_only():
  stream, now = io.StringIO(), [0.0]
  progress = transfer.Progress(stream, is_tty=False, clock=lambda: now[0])
  progress.start("v", 0, None)
  now[0] = 2.0
  progress.update(3_000)
  progress.finish()

  assert stream.getvalue().splitlines() == ["v 3.0 KB 1.5 KB/s"]


def test_a_mirror_replaces_the_release_base_url():
  variant = variants_lib.by_name("mobilenet_v2_0.75_96")
  relative = variant.archive_url[len(transfer.RELEASE_BASE_URL) :]

  assert transfer.archive_url(variant) == variant.archive_url
  assert transfer.archive_url(variant, "http://mirror:8000/ckpt/") == (
    "http://mirror:8000/ckpt" + relative
  )


@pytest.mark.parametrize("base_url", ["ftp://mirror/ckpt", "/srv/checkpoints", "http://"])
def test_a_base_url_must_be_http(base_url):
  with pytest.raises(ValueError, match=f"http:// or https:// URL, got '{re.escape(base_url)}'"):
    transfer.check_base_url(base_url)
  transfer.check_base_url("https://mirror.example/ckpt")  # no error
