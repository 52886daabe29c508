"""A loopback stand-in for Kaggle's API, answering what the real kagglehub 1.x client sends.

kagglehub builds a kagglesdk client, which POSTs JSON to `<endpoint>/api/v1/<service>/<method>`
(outside production; e.g. `models.ModelApiService/CreateModelInstance`), and uploads each file
by PUT to the `createUrl` that `blobs.BlobApiService/StartBlobUpload` returns. The server keeps
models, instances and their numbered versions the way Kaggle does (an instance's first version
comes with its creation; "already exists" is a 200 whose body carries errorCode 409, as
kagglehub's handle_mutate_call expects), rebuilds each version's file tree from the upload
tokens, and records every request. Failures can be injected: bad credentials (401), a 5xx on
the n-th PUT of a file name, a 5xx on a create call after it took effect.
"""

import base64
import functools
import http.server
import json
import threading

FRAMEWORKS = {
  "MODEL_FRAMEWORK_TENSOR_FLOW_2": "tensorFlow2",
  "MODEL_FRAMEWORK_TF_LITE": "tfLite",
  "MODEL_FRAMEWORK_TF_JS": "tfJs",
  "MODEL_FRAMEWORK_KERAS": "keras",
  "MODEL_FRAMEWORK_ONNX": "onnx",
}
API_PREFIX = "/api/v1/"
UPLOAD_PREFIX = "/upload/"


class FakeKaggle:
  """Start with `with FakeKaggle(...) as kaggle:`; `kaggle.url` is the endpoint."""

  def __init__(self, username: str = "publisher", key: str = "secret-key"):
    self.credentials = "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode()
    self.requests = []  # {"method", "path", "body"}: JSON bodies, or the byte count of a PUT
    self.models = {}  # "owner/model" -> the CreateModel request body
    self.instances = {}  # handle -> {"license", "versions": [...], "metadata": body or None}
    self.blobs = {}  # token -> {"name", "data"}
    self.put_failures = {}  # (file name, n-th PUT of that name) -> HTTP status
    self.fail_after_effect = {}  # API method -> HTTP status, once, after it took effect
    self._puts_by_name = {}
    self._lock = threading.Lock()
    self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
    self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

  def __enter__(self):
    # shutdown() waits out the poll interval: half a second per test at the default.
    serve = dict(poll_interval=0.05)
    threading.Thread(target=self._server.serve_forever, kwargs=serve, daemon=True).start()
    return self

  def __exit__(self, *unused):
    self._server.shutdown()
    self._server.server_close()

  # What tests read.
  def calls(self, method: str) -> list:
    """Bodies of the API calls to `method` (e.g. "CreateModelInstance"), in order."""
    return [r["body"] for r in self.requests if r["path"].endswith("/" + method)]

  def version_files(self, handle: str, version: int) -> dict:
    """path -> bytes of an instance version, as Kaggle would serve it."""
    return self.instances[handle]["versions"][version - 1]["files"]

  def add_version(self, handle: str, files: dict, notes: str = "") -> None:
    """Seeds a version made by someone else (no tokens, no requests)."""
    instance = self.instances.setdefault(handle, {"license": "", "metadata": None, "versions": []})
    instance["versions"].append({"files": dict(files), "notes": notes})

  # The API.
  def api(self, method: str, body: dict):
    """(HTTP status, response JSON) of one API call."""
    if method == "StartBlobUpload":
      token = f"blob-{len(self.blobs) + 1}"
      self.blobs[token] = {"data": None, "name": body["name"]}
      return 200, {"createUrl": f"{self.url}{UPLOAD_PREFIX}{token}", "token": token}
    model = f"{body.get('ownerSlug')}/{body.get('modelSlug', body.get('slug'))}"
    if method == "GetModel":
      if model not in self.models:
        return 404, {"code": 404, "message": f"model {model} not found"}
      return 200, {"ref": model, "slug": body["modelSlug"]}
    if method == "CreateModel":
      self.models[model] = body
      return 200, {"ref": model, "url": f"{self.url}/models/{model}"}
    if method == "CreateModelInstance":
      handle = f"{model}/{FRAMEWORKS[body['body']['framework']]}/{body['body']['instanceSlug']}"
      if handle in self.instances:
        return 200, {"error": f"instance {handle} already exists", "errorCode": 409}
      self.instances[handle] = {
        "license": body["body"].get("licenseName", ""),
        "metadata": None,
        "versions": [],
      }
      self._add_uploaded_version(handle, body["body"], notes=None)
      return 200, {"ref": handle, "url": f"{self.url}/models/{handle}"}
    handle = f"{model}/{FRAMEWORKS.get(body.get('framework'))}/{body.get('instanceSlug')}"
    if method == "GetModelInstance":
      if handle not in self.instances:
        return 404, {"code": 404, "message": f"instance {handle} not found"}
      return 200, {
        "slug": body["instanceSlug"],
        "versionNumber": len(self.instances[handle]["versions"]),
      }
    if method == "CreateModelInstanceVersion":
      if handle not in self.instances:
        return 200, {"error": f"instance {handle} not found", "errorCode": 404}
      self._add_uploaded_version(handle, body["body"], notes=body["body"].get("versionNotes", ""))
      return 200, {"ref": handle, "url": f"{self.url}/models/{handle}"}
    if method == "UpdateModelInstance":
      self.instances[handle]["metadata"] = body
      return 200, {"ref": handle}
    return 404, {"code": 404, "message": f"no such method {method}"}

  def _add_uploaded_version(self, handle: str, body: dict, notes) -> None:
    files = {}

    def collect(directory: dict, prefix: str) -> None:
      for entry in directory.get("files", []):
        blob = self.blobs[entry["token"]]
        files[prefix + blob["name"]] = blob["data"]
      for child in directory.get("directories", []):
        collect(child, f"{prefix}{child['name']}/")

    collect(body, "")
    self.instances[handle]["versions"].append({"files": files, "notes": notes})

  def put(self, token: str, data: bytes) -> int:
    blob = self.blobs[token]
    count = self._puts_by_name[blob["name"]] = self._puts_by_name.get(blob["name"], 0) + 1
    status = self.put_failures.pop((blob["name"], count), None)
    if status:
      return status
    blob["data"] = data
    return 200


def _read_body(handler) -> bytes:
  if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
    data = b""
    while True:
      size = int(handler.rfile.readline().strip(), 16)
      chunk = handler.rfile.read(size + 2)[:size]
      if not size:
        return data
      data += chunk
  return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _handler(fake: FakeKaggle):
  class Handler(http.server.BaseHTTPRequestHandler):
    """Routes to the fake; quiet."""

    def log_message(self, *unused):
      pass

    def _reply(self, status: int, value: dict) -> None:
      data = json.dumps(value).encode()
      self.send_response(status)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_POST(self):  # pylint: disable=invalid-name
      body = json.loads(_read_body(self) or b"{}")
      with fake._lock:  # pylint: disable=protected-access
        fake.requests.append({"body": body, "method": "POST", "path": self.path})
        if self.headers.get("Authorization") != fake.credentials:
          return self._reply(401, {"code": 401, "message": "Unauthenticated"})
        if not self.path.startswith(API_PREFIX):
          return self._reply(404, {"code": 404, "message": "not found"})
        method = self.path.rsplit("/", 1)[-1]
        status, value = fake.api(method, body)
        failure = fake.fail_after_effect.pop(method, None)
      if failure:
        return self._reply(failure, {"code": failure, "message": "internal error"})
      return self._reply(status, value)

    def do_PUT(self):  # pylint: disable=invalid-name
      data = _read_body(self)
      with fake._lock:  # pylint: disable=protected-access
        fake.requests.append({"body": len(data), "method": "PUT", "path": self.path})
        status = fake.put(self.path.removeprefix(UPLOAD_PREFIX), data)
      self._reply(status, {"message": "stored" if status == 200 else "backend error"})

  return Handler


def serve(monkeypatch, home):
  """Yields a running FakeKaggle that kagglehub reaches through KAGGLE_API_ENDPOINT, with
  KAGGLE_USERNAME=publisher and KAGGLE_KEY=secret-key set (the fake's) and no other
  credentials visible (HOME and KAGGLE_CONFIG_DIR are `home`)."""
  for name in ("KAGGLE_API_TOKEN", "KAGGLE_API_ENVIRONMENT", "KAGGLE_KERNEL_RUN_TYPE"):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv("HOME", str(home))
  monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home))
  monkeypatch.setenv("KAGGLE_USERNAME", "publisher")
  monkeypatch.setenv("KAGGLE_KEY", "secret-key")
  monkeypatch.setenv("NO_PROXY", "127.0.0.1")
  # kagglehub names its caller in the User-Agent of every client it builds (one per API call)
  # by walking the call stack through inspect.getmodule, which scans all of sys.modules per
  # frame: seconds per call in a test process holding TensorFlow's thousands of modules. The
  # stack's libraries are the same on every call here, so the header is worked out once.
  from kagglehub import clients  # pylint: disable=g-import-not-at-top

  monkeypatch.setattr(clients, "get_user_agent", functools.cache(clients.get_user_agent))
  with FakeKaggle("publisher", "secret-key") as fake:
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", fake.url)
    yield fake
