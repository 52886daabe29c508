"""The regeneration's fork servers: TensorFlow imported once per job slot, a fresh child per
artifact.

  python -m export.pipeline.forkserver WORKER_MODULE

The orchestrator (export/pipeline/schedule.py) starts one `Server` per job slot, in a session
of its own. The server imports WORKER_MODULE and calls its `preload()` (TensorFlow and what
every artifact imports: imports only, nothing traced or run), says `ready`, then serves one job
at a time: it forks a child that leads a session of its own (so a forwarded signal reaches it
and whatever it starts), writes its output to the artifact's log and runs
`WORKER_MODULE.worker_main` as `python -m WORKER_MODULE JOB` would. The server never runs a job,
so every child starts from the same state, the server's, whatever ran in the children before
it: TensorFlow's process-wide counters (function names in `saved_model.pb`) start where a fresh
process's would. docs/regeneration.md says why that is pure, and how it is checked.

The protocol, one line each way. The orchestrator writes `{"job": JOB, "log": PATH}`; the
server answers `ready` once, then per job `started PID` (once the child leads its session) and
`exited PID STATUS` (as `subprocess`'s returncode: -N for signal N). EOF on stdin ends it.
"""

import dataclasses
import importlib
import json
import os
import select
import shutil
import subprocess
import sys
import traceback
from typing import Optional


# --- the server's side ------------------------------------------------------------------
def serve(worker_module: str) -> int:
  """Imports and preloads `worker_module`, then forks a child for each job read on stdin."""
  replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
  os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray output goes to the server's log
  worker = importlib.import_module(worker_module)
  getattr(worker, "preload", lambda: None)()
  print("ready", file=replies)
  for line in sys.stdin:
    request = json.loads(line)
    pid = _fork(worker, request, replies)
    print(f"started {pid}", file=replies)
    _, status = os.waitpid(pid, 0)
    print(f"exited {pid} {os.waitstatus_to_exitcode(status)}", file=replies)
  return 0


def _fork(worker, request: dict, replies) -> int:
  """Forks the job's child; returns its pid once the child leads its own session."""
  for stream in (sys.stdout, sys.stderr):  # or the child would write the server's leftovers
    stream.flush()
  session_known, session_led = os.pipe()
  pid = os.fork()
  if pid == 0:
    _run_child(worker, request, replies, (session_known, session_led))  # never returns
  os.close(session_led)
  os.read(session_known, 1)  # EOF once the child has closed its end (or died)
  os.close(session_known)
  return pid


def _run_child(worker, request: dict, replies, session_pipe: tuple) -> None:
  """In the forked child: leads a new session, then runs the job as a fresh
  `python -m WORKER_MODULE JOB` would, and exits (whatever happens, never back to the loop)."""
  code = 1
  try:
    session_known, session_led = session_pipe
    os.close(session_known)
    os.setsid()
    os.close(session_led)  # the server's read returns
    replies.close()  # the orchestrator reads the server's replies only
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (log, 1), (log, 2)):
      os.dup2(source, target)
    os.close(log)
    os.close(null)
    sys.argv = [worker.__file__, request["job"]]
    code = worker.worker_main(sys.argv)
  except SystemExit as exit_request:
    code = _exit_status(exit_request.code)
  except BaseException:  # pylint: disable=broad-except  (as a fresh process would print it)
    traceback.print_exc()
  finally:
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except (OSError, ValueError):
        pass
    # Skips the interpreter's teardown: the files are placed, and the server owns the rest.
    os._exit(code)  # pylint: disable=protected-access


def _exit_status(code) -> int:
  """The status the interpreter makes of `sys.exit(code)`."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code
  print(code, file=sys.stderr)
  return 1


# --- the orchestrator's side ------------------------------------------------------------
@dataclasses.dataclass
class Child:
  """A job's process: its pid once forked, its status once it exited (None until then)."""

  pid: Optional[int] = None
  returncode: Optional[int] = None


class Server:
  """A fork server process, as the orchestrator sees it; `start` a job once it `accepts`."""

  def __init__(self, worker_module: str, log_path: str, env: dict, cwd: str):
    self._command = [sys.executable, "-m", __name__, worker_module]
    self._log_path, self._env, self._cwd = log_path, env, cwd
    self._spawn()

  def _spawn(self) -> None:
    with open(self._log_path, "w") as log:
      self.process = subprocess.Popen(
        self._command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=self._cwd,
        env=self._env,
        start_new_session=True,  # a Ctrl-C in the terminal reaches the orchestrator only
      )
    os.set_blocking(self.process.stdout.fileno(), False)
    self._unread, self.ready, self.ended, self.child = b"", False, False, None

  def accepts(self) -> bool:
    """Whether a job can be started: the server is ready, or has died (the job then fails)."""
    self.poll()
    return self.ready or self.ended

  def start(self, job: str, log_path: str) -> Child:
    """Hands `job` to the server; returns its child once forked (or failed: see `accepts`)."""
    if self.ended:  # it never got ready: the job fails with the server's log, a new one starts
      shutil.copyfile(self._log_path, log_path)
      child = Child(returncode=self.process.returncode)
      self._spawn()
      return child
    self.child = Child()
    try:
      self.process.stdin.write((json.dumps({"job": job, "log": log_path}) + "\n").encode())
      self.process.stdin.flush()
    except BrokenPipeError:
      pass  # it died meanwhile: the read below sees its end
    while self.child.pid is None and not self.ended:
      select.select([self.process.stdout], [], [])
      self.poll()
    return self.child

  def poll(self) -> None:
    """Reads the server's replies so far, updating `ready`, `ended` and `child`."""
    if self.ended:
      return
    at_end = False
    while not at_end:
      try:
        chunk = os.read(self.process.stdout.fileno(), 1 << 16)
      except BlockingIOError:
        break
      at_end = not chunk
      self._unread += chunk
    *lines, self._unread = self._unread.split(b"\n")
    for line in lines:
      word, *numbers = line.decode().split()
      if word == "ready":
        self.ready = True
      elif word == "started":
        self.child.pid = int(numbers[0])
      elif word == "exited":
        self.child.returncode = int(numbers[1])
    if at_end:
      self.ended = True
      returncode = self.process.wait()
      if self.child is not None and self.child.returncode is None:
        self.child.returncode = returncode  # the server died with its child

  def close(self) -> None:
    """Ends the server (idle, or still importing); its children have ended before."""
    if self.process.poll() is None:
      self.process.terminate()
    self.process.wait()
    for pipe in (self.process.stdin, self.process.stdout):
      try:
        pipe.close()
      except OSError:  # a job still unwritten to a server that died
        pass


if __name__ == "__main__":
  sys.exit(serve(sys.argv[1]))
