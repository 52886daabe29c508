"""A loopback web server for the TF.js demo page: the page, tfjs itself, one model, the labels.

Everything is served from this machine (no CDN): the page (`tfjs/page/`), `@tensorflow/tfjs`
and its wasm backend from `tfjs/node_modules` (installed by scripts/setup_tfjs.sh), the model
directory under `model/`, and `labels.txt`. Only the files listed here are served, and only
on 127.0.0.1. `export.serve_tfjs` is the binary; tests start it in a thread.
"""

import functools
import http.server
import json
import os
import pathlib
import threading

from export.base import errors
from export.core import labels as labels_lib
from export.formats.tfjs import node as tfjs_node

PAGE_DIR = tfjs_node.PACKAGE_DIR / "page"
_TFJS = tfjs_node.PACKAGE_DIR / "node_modules" / "@tensorflow" / "tfjs" / "dist"
_WASM = tfjs_node.PACKAGE_DIR / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist"
_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
}


class ServeError(errors.Failure):
  """The model directory or the page's files are missing; the message is one line."""


def routes(model_dir: str) -> dict:
  """{URL path: file} of everything the page needs; ServeError when something is missing."""
  model_dir = pathlib.Path(model_dir)
  if not (model_dir / "model.json").is_file():
    raise ServeError(f"{model_dir}: no model.json; expected a TF.js graph model directory")
  table = {
    "/": PAGE_DIR / "index.html",
    "/app.js": PAGE_DIR / "app.js",
    "/labels.txt": pathlib.Path(labels_lib.LABELS_FILE),
    "/tfjs/tf.min.js": _TFJS / "tf.min.js",
    "/tfjs/tf-backend-wasm.min.js": _WASM / "tf-backend-wasm.min.js",
  }
  for name in ("tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"):
    table[f"/tfjs/{name}"] = _WASM / name
  for name in ["model.json", *_weight_files(model_dir / "model.json")]:
    if not (model_dir / name).is_file():
      raise ServeError(f"{model_dir / name}: missing (model.json lists it)")
    table[f"/model/{name}"] = model_dir / name
  missing = [str(path) for path in table.values() if not path.is_file()]
  if missing:
    raise ServeError(f"{missing[0]}: missing; run `bash scripts/setup_tfjs.sh`")
  return table


def _weight_files(model_json: pathlib.Path) -> list:
  """The shard files model.json's weightsManifest lists: what the page will fetch."""
  try:
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    return [path for group in manifest for path in group["paths"]]
  except (ValueError, KeyError, TypeError) as error:
    raise ServeError(f"{model_json}: not a TF.js model.json ({errors.first_line(error)})") from None


class _Handler(http.server.BaseHTTPRequestHandler):
  def __init__(self, *args, table, **kwargs):
    self._table = table
    super().__init__(*args, **kwargs)

  def do_GET(self):  # the name http.server calls
    path = self._table.get(self.path.split("?")[0])
    if path is None:
      self.send_error(404)
      return
    data = path.read_bytes()
    self.send_response(200)
    self.send_header("Content-Type", _TYPES.get(path.suffix, "application/octet-stream"))
    self.send_header("Content-Length", str(len(data)))
    self.send_header("Cache-Control", "no-store")
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, format, *args):  # http.server's signature
    if os.environ.get("TFJS_SERVER_LOG"):
      super().log_message(format, *args)


def make_server(model_dir: str, port: int = 0) -> http.server.ThreadingHTTPServer:
  """A server on 127.0.0.1:`port` (0: any free port); `url_of(server)` is its address."""
  handler = functools.partial(_Handler, table=routes(model_dir))
  try:
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
  except OSError as error:
    raise ServeError(f"127.0.0.1:{port}: cannot listen ({error.strerror})") from None


def url_of(server: http.server.HTTPServer) -> str:
  host, port = server.server_address[:2]
  return f"http://{host}:{port}/"


def start_in_thread(model_dir: str, port: int = 0) -> http.server.ThreadingHTTPServer:
  """A running server (daemon thread); call `.shutdown()` when done."""
  server = make_server(model_dir, port)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  return server
