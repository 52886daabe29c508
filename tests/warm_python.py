"""A warm `python` for the tests: TensorFlow imported once, each command a fork of that.

The suite runs the project's binaries, scripts and documentation pages as users do, as
commands; each fresh interpreter would spend about 6 s of CPU importing TensorFlow before
doing anything (about a hundred of them per run). `executable()` is a `python` that runs
`python -m MODULE ...`, `python SCRIPT ...` and `python -c CODE ...` in a child forked from a
server that has imported TensorFlow and nothing else, as the regeneration's fork servers do
(export/pipeline/forkserver.py): the child gets the command's standard streams (the file
descriptors themselves), working directory, environment, umask, `sys.argv`, `sys.path` and
`sys.executable` (this `python` again), runs the code as `__main__`, and exits as the
interpreter would (atexit, non-daemon threads, `SystemExit`, a KeyboardInterrupt ending it by
SIGINT). Signals sent to the command are passed on to the child; its exit status is the
command's.

What a warm child cannot have of a fresh interpreter, and so where commands run fresh:
- Anything read as the interpreter or a native library starts (`PYTHON*`, `TF_*`, oneDNN,
  OpenMP, `LD_*`, locale, ...): each distinct set of those has a server of its own, started by
  the first command that needs it, which waits for it as it would for its own start-up.
- Any interpreter option (`-u`, `-X ...`), or no command at all: fresh.
- The hash seed: every child of a server shares the server's, so a test that compares bytes
  made in two processes to show they do not depend on the process runs fresh (`fresh=True` in
  tests/binaries.py, or `sys.executable`).
TEST_FRESH_PROCESSES=1 runs every command in a fresh interpreter.

This module is the set-up and the command's side; tests/warm_server.py the server's. Only the
standard library: the `python` shim imports this module with `-S`.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

FRESH_VARIABLE = "TEST_FRESH_PROCESSES"
_TESTS = os.path.dirname(os.path.abspath(__file__))

# Read by the interpreter or a native library as the process starts.
_AT_START = (
  "PYTHON",
  "TF_",
  "TENSORFLOW",
  "OMP_",
  "KMP_",
  "MKL",
  "ONEDNN",
  "DNNL",
  "LD_",
  "CUDA",
  "XLA",
  "KERAS",
  "JAX",
  "MALLOC",
  "GLIBC",
  "LANG",
  "LC_",
)
# Applied to the child itself: sys.path, sys.dont_write_bytecode, the standard streams.
_SET_IN_CHILD = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
# Every binary of the project sets it before importing TensorFlow (export/cli.py).
_BINARY_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2"}
_FORWARDED = (
  signal.SIGINT,
  signal.SIGTERM,
  signal.SIGHUP,
  signal.SIGQUIT,
  signal.SIGUSR1,
  signal.SIGUSR2,
)
_SERVER_START_SECONDS = 20  # to bind its socket; past that, the command runs fresh
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_directory = None


# --- set-up, in the pytest worker -------------------------------------------------------
def setup(directory: str) -> None:
  """Writes this worker's `python` and its venv under `directory` (a short path: it holds the
  servers' sockets). Servers end within a second of the process that called this. A directory
  too long for a socket's path leaves every command fresh."""
  global _directory
  if len(os.path.join(directory, "0" * 16 + ".sock")) > _SOCKET_PATH_MAX:
    return
  os.makedirs(os.path.join(directory, "venv", "bin"), exist_ok=True)
  shim = os.path.join(directory, "venv", "bin", "python")
  with open(shim, "w") as f:
    f.write(
      f"#!{sys.executable} -SEB\n"
      f"import sys\nsys.path.insert(0, {_TESTS!r})\nimport warm_python\n"
      f"warm_python.client({sys.executable!r}, {directory!r}, {os.getpid()})\n"
    )
  os.chmod(shim, 0o755)
  _venv_around(shim, os.path.join(directory, "venv"))
  _directory = directory


def enabled() -> bool:
  return _directory is not None and not os.environ.get(FRESH_VARIABLE)


def executable() -> str:
  """The warm `python` (or the real one when disabled or not set up)."""
  return os.path.join(_directory, "venv", "bin", "python") if enabled() else sys.executable


def venv() -> str:
  """A virtualenv like the tests' own (`sys.prefix`) whose `python` is the warm one."""
  return os.path.join(_directory, "venv") if enabled() else sys.prefix


def _venv_around(shim: str, venv_dir: str) -> None:
  for name in os.listdir(sys.prefix):
    if name != "bin" and not os.path.lexists(os.path.join(venv_dir, name)):
      os.symlink(os.path.join(sys.prefix, name), os.path.join(venv_dir, name))
  real_bin = os.path.join(sys.prefix, "bin")
  for name in os.listdir(real_bin):
    target = os.path.join(venv_dir, "bin", name)
    if os.path.lexists(target):
      continue
    if name in ("python3", "python3.11"):
      os.symlink("python", target)
    elif name == "activate":
      with open(os.path.join(real_bin, name)) as f:
        text = f.read().replace(f'"{sys.prefix}"', f'"{venv_dir}"')
      with open(target, "w") as f:
        f.write(text)
    else:
      os.symlink(os.path.join(real_bin, name), target)


# --- the command: the `python` shim -----------------------------------------------------
def client(real_python: str, directory: str, owner: int) -> None:
  argv = sys.argv[1:]
  command = target(argv)
  if command and not os.environ.get(FRESH_VARIABLE):
    server_env = _server_environment(command[0])
    signature = _signature(server_env)
    path = os.path.join(directory, signature + ".sock")
    try:
      _exit_as(_served(path, argv))
    except (FileNotFoundError, ConnectionRefusedError):
      server = _start_server(real_python, owner, signature, path, server_env)
      # Queued while the new server imports TensorFlow: as long as a fresh start would take.
      deadline = time.monotonic() + _SERVER_START_SECONDS
      while time.monotonic() < deadline and server.poll() in (None, 0):
        try:
          _exit_as(_served(path, argv))
        except (FileNotFoundError, ConnectionRefusedError):
          time.sleep(0.05)
  os.execv(real_python, [real_python, *argv])


def target(argv: list):
  """(kind, what) of `-m MODULE`, `-c CODE` or `SCRIPT`; None for anything else."""
  if len(argv) >= 2 and argv[0] in ("-m", "-c"):
    return argv[0], argv[1]
  if argv and argv[0] != "-" and not argv[0].startswith("-"):
    return "script", argv[0]
  return None


def _server_environment(kind: str) -> dict:
  """The environment a server for this command imports TensorFlow in: the command's, with
  what a binary sets before importing it."""
  return dict(os.environ) if kind == "-c" else {**_BINARY_DEFAULTS, **os.environ}


def _signature(env: dict) -> str:
  """Names the server for `env`: its variables read at start-up."""
  at_start = sorted(
    (key, value)
    for key, value in env.items()
    if key.startswith(_AT_START) and key not in _SET_IN_CHILD
  )
  return hashlib.sha256(json.dumps(at_start).encode()).hexdigest()[:16]


def _served(path: str, argv: list) -> int:
  """Runs the command in a child of the server at `path`; its wait status."""
  connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
  connection.connect(path)
  umask = os.umask(0)
  os.umask(umask)
  request = {
    "argv": argv,
    "python": os.path.abspath(sys.argv[0]),  # this shim: the child's `sys.executable`
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "umask": umask,
  }
  socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
  pending, child = [], []

  def forward(signum, _):
    if child:
      os.kill(child[0], signum)
    else:
      pending.append(signum)

  for signum in _FORWARDED:
    signal.signal(signum, forward)
  reply = connection.recv(1 << 16)
  if not reply:
    _lost()
  child.append(json.loads(reply)["pid"])
  for signum in pending:
    os.kill(child[0], signum)
  reply = connection.recv(1 << 16)
  if not reply:
    _lost()
  return json.loads(reply)["status"]


def _lost():
  print("warm python: its server ended before the command did", file=sys.stderr)
  os._exit(70)  # pylint: disable=protected-access


def _exit_as(status: int) -> None:
  if os.WIFSIGNALED(status):
    signum = os.WTERMSIG(status)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
  os._exit(os.waitstatus_to_exitcode(status))  # pylint: disable=protected-access


def _start_server(real_python, owner, signature, path, env: dict) -> subprocess.Popen:
  """Starts the server for `env` (a second one started at the same time finds the socket
  taken and ends, with status 0)."""
  with open(os.path.join(os.path.dirname(path), signature + ".log"), "w") as log:
    return subprocess.Popen(
      [
        real_python,
        "-c",
        f"import sys; sys.path.insert(0, {_TESTS!r}); import warm_server; "
        f"warm_server.serve({path!r}, {owner})",
      ],
      env=env,
      stdin=subprocess.DEVNULL,
      stdout=log,
      stderr=log,
      start_new_session=True,
    )
