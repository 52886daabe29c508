"""Tests of export/pipeline/download.py and scripts/download_checkpoints.py against a local HTTP server."""

import hashlib
import http.server
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import loopback
import pytest

from export.pipeline import download
from nets import variants as variants_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = PROJECT_ROOT / "scripts" / "download_checkpoints.py"
SMALL = variants_lib.by_name("mobilenet_v2_0.75_96")
OTHER = variants_lib.by_name("mobilenet_v2_1.0_224")


def _no_backoff(attempt):
  del attempt
  return 0.0


def _make_archive(variant, seed):
  """A small .tgz shaped like a released one: a fake checkpoint index of random bytes."""
  payload = hashlib.sha256(seed.encode()).digest() * 256  # 8 KB, deterministic.
  payload = bytes(b ^ (i % 251) for i, b in enumerate(payload))  # Keep gzip from shrinking it.
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
    info = tarfile.TarInfo(f"{variant.checkpoint_name}.index")
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))
  return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
  """Serves `server.archives` under /<name>.tgz, with Range and fault-injection switches."""

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args  # Keep the test output clean.

  def do_GET(self):  # pylint: disable=invalid-name
    server = self.server
    range_header = self.headers.get("Range")
    server.requests.append((self.path, range_header))
    body = server.archives.get(self.path.lstrip("/"))
    if body is None:
      self.send_error(404)
      return
    if server.fail_500 > 0:
      server.fail_500 -= 1
      self.send_error(500)
      return
    start = 0
    match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
    if match and not server.ignore_range:
      start = int(match.group(1))
      if start >= len(body):
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{len(body)}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return
      self.send_response(206)
      self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
    else:
      self.send_response(200)
    self.send_header("Content-Type", "application/x-gzip")
    if server.no_length:  # the body ends when the connection does: HTTP/1.0's way
      self.close_connection = True
    else:
      self.send_header("Content-Length", str(len(body) - start))
    self.end_headers()
    if server.truncate_after is not None:
      # Promise the whole body, send part of it, hang up: a dropped connection.
      cut, server.truncate_after = server.truncate_after, None
      self.wfile.write(body[start : start + cut])
      self.close_connection = True
      return
    self.wfile.write(body[start:])


@pytest.fixture
def server():
  """A ThreadingHTTPServer on 127.0.0.1; `server.base_url` is its root."""
  with loopback.serve(_Handler) as httpd:
    httpd.archives = {}
    httpd.requests = []
    httpd.truncate_after = None
    httpd.ignore_range = False
    httpd.fail_500 = 0
    httpd.no_length = False
    yield httpd


@pytest.fixture
def archive(server):
  """The served archive of SMALL: its bytes."""
  body = _make_archive(SMALL, "small")
  server.archives[f"{SMALL.name}.tgz"] = body
  return body


def _download(server, tmp_path, variant=SMALL, **kwargs):
  kwargs.setdefault("digests_path", tmp_path / "digests.json")
  kwargs.setdefault("backoff", _no_backoff)
  return download.download_result(
    variant, tmp_path / "out", base_url=server.base_url, timeout=5, **kwargs
  )


def _sha256(data):
  return hashlib.sha256(data).hexdigest()


def test_clean_download_records_digest(server, archive, tmp_path):
  result = _download(server, tmp_path)

  final = tmp_path / "out" / f"{SMALL.name}.tgz"
  assert result.status == download.DOWNLOADED
  assert result.path == final
  assert final.read_bytes() == archive
  assert not (tmp_path / "out" / f"{SMALL.name}.tgz.part").exists()
  assert result.recorded
  assert "recorded sha256" in result.describe()
  digests_text = (tmp_path / "digests.json").read_text()
  assert json.loads(digests_text) == {SMALL.name: _sha256(archive)}
  with tarfile.open(final) as tar:
    assert tar.getnames() == [f"{SMALL.checkpoint_name}.index"]
  assert server.requests == [(f"/{SMALL.name}.tgz", None)]


def test_hub_name_and_download_returns_path(server, archive, tmp_path):
  path = download.download(
    SMALL.hub_name,
    tmp_path / "out",
    base_url=server.base_url + "/",
    digests_path=tmp_path / "digests.json",
    backoff=_no_backoff,
  )
  assert path.read_bytes() == archive


def test_digests_file_is_sorted_and_keeps_other_entries(server, archive, tmp_path):
  other = _make_archive(OTHER, "other")
  server.archives[f"{OTHER.name}.tgz"] = other
  digests_path = tmp_path / "digests.json"
  digests_path.write_text(json.dumps({"zzz_unrelated": "0" * 64}))

  _download(server, tmp_path, OTHER)
  _download(server, tmp_path, SMALL)

  text = digests_path.read_text()
  assert list(json.loads(text)) == sorted([SMALL.name, OTHER.name, "zzz_unrelated"])
  assert json.loads(text)[SMALL.name] == _sha256(archive)
  assert not list(tmp_path.glob("*.tmp"))


def test_second_run_skips(server, archive, tmp_path):
  _download(server, tmp_path)
  server.requests.clear()

  result = _download(server, tmp_path)

  assert result.status == download.PRESENT
  assert not result.recorded
  assert "already present" in result.describe()
  assert server.requests == []


def test_truncated_download_is_resumed_with_range(server, archive, tmp_path):
  server.truncate_after = 3000

  result = _download(server, tmp_path)

  assert result.status == download.DOWNLOADED
  assert result.path.read_bytes() == archive
  assert server.requests == [
    (f"/{SMALL.name}.tgz", None),
    (f"/{SMALL.name}.tgz", "bytes=3000-"),
  ]


def test_rerun_resumes_part_file_left_by_earlier_run(server, archive, tmp_path):
  # An earlier run gave up (no retries) after the connection dropped.
  server.truncate_after = 5000
  with pytest.raises(download.DownloadError, match="truncated body: got 5000 of"):
    download.download(
      SMALL,
      tmp_path / "out",
      base_url=server.base_url,
      retries=0,
      digests_path=tmp_path / "digests.json",
    )
  part = tmp_path / "out" / f"{SMALL.name}.tgz.part"
  assert part.stat().st_size == 5000
  assert not (tmp_path / "out" / f"{SMALL.name}.tgz").exists()

  result = _download(server, tmp_path)

  assert result.path.read_bytes() == archive
  assert server.requests[-1] == (f"/{SMALL.name}.tgz", "bytes=5000-")


def test_complete_part_file_is_finished_without_refetching(server, archive, tmp_path):
  # A run killed between the last byte and the rename: the server answers 416.
  out = tmp_path / "out"
  out.mkdir()
  (out / f"{SMALL.name}.tgz.part").write_bytes(archive)

  result = _download(server, tmp_path)

  assert result.path.read_bytes() == archive
  assert server.requests == [(f"/{SMALL.name}.tgz", f"bytes={len(archive)}-")]


def test_server_ignoring_range_restarts_from_scratch(server, archive, tmp_path):
  server.truncate_after = 3000
  server.ignore_range = True

  result = _download(server, tmp_path)

  assert result.path.read_bytes() == archive
  assert server.requests[-1] == (f"/{SMALL.name}.tgz", "bytes=3000-")


def test_digest_mismatch_fails_and_leaves_no_file(server, archive, tmp_path):
  wrong = "0" * 64
  digests_path = tmp_path / "digests.json"
  digests_path.write_text(json.dumps({SMALL.name: wrong}))

  with pytest.raises(download.DownloadError) as info:
    _download(server, tmp_path)

  message = str(info.value)
  assert "\n" not in message
  assert str(tmp_path / "out" / f"{SMALL.name}.tgz") in message
  assert f"expected {wrong}" in message
  assert f"found {_sha256(archive)}" in message
  assert list((tmp_path / "out").iterdir()) == []
  assert json.loads(digests_path.read_text()) == {SMALL.name: wrong}  # Not overwritten.


def test_a_first_download_cut_short_without_a_length_is_refused_not_recorded(
  server, archive, tmp_path
):
  server.no_length, server.truncate_after = True, len(archive) // 2
  with pytest.raises(download.DownloadError, match=r"the download is not a whole \.tgz archive"):
    _download(server, tmp_path)
  assert os.listdir(tmp_path / "out") == [] and not (tmp_path / "digests.json").exists()
  server.truncate_after = None  # the whole body, still without a length: taken
  assert _download(server, tmp_path).status == download.DOWNLOADED


def test_500_then_success_via_retry(server, archive, tmp_path):
  server.fail_500 = 1
  delays = []

  result = _download(server, tmp_path, backoff=lambda attempt: delays.append(attempt) or 0.0)

  assert result.path.read_bytes() == archive
  assert len(server.requests) == 2
  assert delays == [1]


def test_persistent_500_gives_up_after_retries(server, archive, tmp_path):
  server.fail_500 = 10

  with pytest.raises(download.DownloadError, match=r"giving up after 3 attempts: .*HTTP 500"):
    _download(server, tmp_path, retries=2)
  assert len(server.requests) == 3


def test_without_retries_it_gives_up_after_1_attempt(server, archive, tmp_path):
  server.fail_500 = 10

  with pytest.raises(download.DownloadError, match=r"giving up after 1 attempt: .*HTTP 500"):
    _download(server, tmp_path, retries=0)
  assert len(server.requests) == 1


def test_404_is_not_retried(server, tmp_path):
  with pytest.raises(download.DownloadError, match="HTTP 404"):
    _download(server, tmp_path)
  assert len(server.requests) == 1


def test_download_all_continues_after_a_failure(server, archive, tmp_path):
  seen = []
  results = download.download_all(
    [OTHER.name, SMALL],
    tmp_path / "out",
    on_result=seen.append,
    base_url=server.base_url,
    digests_path=tmp_path / "digests.json",
    backoff=_no_backoff,
  )

  assert [r.status for r in results] == [download.FAILED, download.DOWNLOADED]
  assert seen == results
  assert "HTTP 404" in results[0].describe()


def test_exponential_backoff():
  assert [download.exponential_backoff(n) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]


class _Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_progress_writes_periodic_lines_when_not_a_tty():
  stream, clock = io.StringIO(), _Clock()
  progress = download.Progress(stream, line_interval=10.0, clock=clock)
  progress.start("v", 0, 4_000_000)
  clock.now = 1.0
  progress.update(1_000_000)  # Too soon for a line.
  clock.now = 10.0
  progress.update(2_000_000)
  clock.now = 20.0
  progress.update(4_000_000)
  progress.finish()

  lines = stream.getvalue().splitlines()
  assert "\r" not in stream.getvalue()
  assert lines[0] == "v 2.0 MB/4.0 MB  50.0% 200.0 KB/s"
  assert lines[-1] == "v 4.0 MB/4.0 MB 100.0% 200.0 KB/s"
  assert len(lines) == 3


def test_progress_redraws_one_line_on_a_tty():
  stream, clock = io.StringIO(), _Clock()
  progress = download.Progress(stream, is_tty=True, clock=clock)
  progress.start("v", 1000, 2000)
  clock.now = 1.0
  progress.update(2000)
  progress.finish()

  text = stream.getvalue()
  assert text.count("\n") == 1 and text.endswith("\n")
  assert "\r" in text
  assert "[" + "#" * 30 + "]" in text and "100.0%" in text and "1.0 KB/s" in text


def _run_script(*args):
  return subprocess.run(
    [sys.executable, str(SCRIPT), *args],
    cwd=PROJECT_ROOT,
    capture_output=True,
    text=True,
    timeout=60,
    env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    check=False,
  )


def test_script_unknown_variant_exits_2(tmp_path):
  process = _run_script("--variants=mobilenet_v2_9.9_999", f"--output_dir={tmp_path}")

  assert process.returncode == 2
  assert process.stderr.count("\n") == 1
  assert "unknown variant 'mobilenet_v2_9.9_999'" in process.stderr
  assert "Traceback" not in process.stderr
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
  "flag, status, line",
  [
    ("--output_dir={tmp}/a_file", 1, "error: {tmp}/a_file: exists and is not a directory"),
    (
      "--digests={tmp}/a_file",
      1,
      "error: digests file {tmp}/a_file is not valid JSON: Expecting value: line 1 column 1 "
      "(char 0)",
    ),
    (
      "--base_url=http://[::1",
      2,
      "error: --base_url: base URL 'http://[::1' cannot be parsed (Invalid IPv6 URL)",
    ),
  ],
)
def test_a_bad_output_dir_digests_file_or_base_url_is_one_line_for_the_run(
  tmp_path, flag, status, line
):
  (tmp_path / "a_file").write_text("not JSON, not a directory")
  flags = [f"--output_dir={tmp_path}/out", f"--digests={tmp_path}/digests.json"]
  flags = [f for f in flags if not f.startswith(flag.split("=")[0] + "=")]
  # Every variant: said once, not 22 times.
  process = _run_script("--variants=all", *flags, flag.format(tmp=tmp_path))
  assert (process.returncode, process.stderr.splitlines()) == (status, [line.format(tmp=tmp_path)])
  assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_script_downloads_and_summarizes_failures(server, archive, tmp_path):
  digests_path = tmp_path / "digests.json"
  process = _run_script(
    f"--variants={SMALL.hub_name},{OTHER.name}",
    f"--output_dir={tmp_path / 'out'}",
    f"--base_url={server.base_url}",
    f"--digests={digests_path}",
    "--retries=0",
  )

  assert process.returncode == 1, process.stderr
  assert f"{SMALL.name}: downloaded: " in process.stdout
  assert "recorded sha256" in process.stdout
  assert "1 of 2 variants failed:" in process.stderr
  assert f"{OTHER.name}: FAILED: " in process.stderr and "HTTP 404" in process.stderr
  assert (tmp_path / "out" / f"{SMALL.name}.tgz").read_bytes() == archive
  assert json.loads(digests_path.read_text()) == {SMALL.name: _sha256(archive)}


def test_final_file_without_recorded_digest_is_recorded_not_refetched(server, archive, tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / f"{SMALL.name}.tgz").write_bytes(archive)

  result = _download(server, tmp_path)

  assert (result.status, result.recorded) == (download.PRESENT, True)
  assert json.loads((tmp_path / "digests.json").read_text()) == {SMALL.name: _sha256(archive)}
  assert server.requests == []


def test_stale_final_file_is_fetched_again(server, archive, tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / f"{SMALL.name}.tgz").write_bytes(b"an older, different file")
  (tmp_path / "digests.json").write_text(json.dumps({SMALL.name: _sha256(archive)}))

  result = _download(server, tmp_path)

  assert result.status == download.DOWNLOADED
  assert result.path.read_bytes() == archive


def test_part_file_longer_than_archive_is_restarted(server, archive, tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / f"{SMALL.name}.tgz.part").write_bytes(archive + b"junk from another file")

  result = _download(server, tmp_path)

  assert result.path.read_bytes() == archive
  assert [r for _, r in server.requests] == [f"bytes={len(archive) + 22}-", None]
