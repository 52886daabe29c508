"""The warm `python`'s server (tests/warm_python.py says what it is for): imports TensorFlow
once, then forks a child per command that becomes the command, as a fresh interpreter would."""

import json
import os
import select
import signal
import socket
import sys
import traceback

import warm_python

_RUNPY = os.path.join(os.path.dirname(os.__file__), "runpy.py")
_OURS = (__file__, warm_python.__file__, _RUNPY)


def serve(path: str, owner: int) -> None:
  """Listens at `path` at once (commands queue while TensorFlow imports), then forks a runner
  per command; ends when `owner` has."""
  # sys.path without this directory, `-c`'s '' and PYTHONPATH's entries: what a child's own
  # PYTHONPATH goes in front of.
  base_path = sys.path[2 + len(_python_path(os.environ)) :]
  listener = _bind(path)
  if listener is None:
    return  # another server has it
  # pylint: disable=g-import-not-at-top,unused-import
  # The project's binaries load these before TensorFlow, which carries a zlib of its own: the
  # one loaded first serves gzip (manifests and stamps record its version).
  import bz2  # noqa: F401
  import lzma  # noqa: F401
  import zlib  # noqa: F401

  import tensorflow  # noqa: F401

  try:
    _serve(listener, owner, base_path)
  finally:
    os.unlink(path)


def _bind(path: str):
  """A socket listening at `path`, or None if a live server listens there (one that died left
  its file: taken over)."""
  listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
  try:
    listener.bind(path)
  except OSError:
    try:
      socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(path)
      return None
    except ConnectionRefusedError:
      os.unlink(path)
      listener.bind(path)
  listener.listen(64)
  return listener


def _serve(listener, owner: int, base_path: list) -> None:
  while _alive(owner):
    readable, _, _ = select.select([listener], [], [], 1.0)
    _reap()
    if readable:
      connection, _ = listener.accept()
      for stream in (sys.stdout, sys.stderr):
        stream.flush()
      if os.fork() == 0:
        listener.close()
        _runner(connection, base_path)
      connection.close()


def _python_path(env: dict) -> list:
  return [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  return True


def _reap() -> None:
  try:
    while os.waitpid(-1, os.WNOHANG)[0]:
      pass
  except ChildProcessError:
    pass


def _runner(connection, base_path: list) -> None:
  """Forks the command's process, tells the command its pid, then its wait status; kills it
  if the command goes away first."""
  try:
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
      connection.close()
      _run(request, fds, base_path)
    for fd in fds:
      os.close(fd)
    connection.send(json.dumps({"pid": pid}).encode())
    process = os.pidfd_open(pid)
    while True:
      readable, _, _ = select.select([connection, process], [], [])
      if process in readable:
        _, status = os.waitpid(pid, 0)
        connection.send(json.dumps({"status": status}).encode())
        break
      if not connection.recv(1):
        try:
          os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
        os.waitpid(pid, 0)
        break
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
  finally:
    os._exit(0)  # pylint: disable=protected-access


def _run(request: dict, fds: list, base_path: list) -> None:
  """In the command's process: becomes it, runs its code as `__main__`, exits as Python
  would."""
  code = 1
  try:
    os.setpgid(0, 0)
    for fd, target in zip(fds, (0, 1, 2)):
      os.dup2(fd, target)
    for fd in fds:
      os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.dont_write_bytecode = bool(request["env"].get("PYTHONDONTWRITEBYTECODE"))
    _streams(bool(request["env"].get("PYTHONUNBUFFERED")))
    sys.executable = request["python"]
    del sys.modules["warm_python"], sys.modules["warm_server"]
    _reseed()
    code = _main(request["argv"], _python_path(request["env"]) + base_path)
  except SystemExit as exit_request:
    code = _exit_status(exit_request.code)
  except KeyboardInterrupt:
    _print_exception()
    _finish(None)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
  except BaseException:  # pylint: disable=broad-except  (as the interpreter prints it)
    _print_exception()
  _finish(code)


def _print_exception() -> None:
  """The exception being handled, as the interpreter prints it: without this module's and
  runpy's frames, which a fresh process does not have."""
  kind, value, trace = sys.exc_info()
  while trace is not None and trace.tb_frame.f_code.co_filename in _OURS:
    trace = trace.tb_next
  sys.excepthook(kind, value.with_traceback(trace), trace)


def _main(argv: list, base_path: list) -> int:
  import runpy  # pylint: disable=g-import-not-at-top

  kind, what = warm_python.target(argv)
  if kind == "-m":
    sys.argv = ["-m", *argv[2:]]  # runpy sets argv[0] to the module's file
    sys.path[:] = [os.getcwd(), *base_path]
    runpy.run_module(what, run_name="__main__", alter_sys=True)
  elif kind == "-c":
    sys.argv = ["-c", *argv[2:]]
    sys.path[:] = ["", *base_path]
    main = type(sys)("__main__")
    sys.modules["__main__"] = main
    exec(compile(what, "<string>", "exec"), main.__dict__)  # pylint: disable=exec-used
  else:
    sys.argv = list(argv)
    sys.path[:] = [os.path.dirname(os.path.realpath(what)), *base_path]
    runpy.run_path(what, run_name="__main__")
  return 0


def _streams(unbuffered: bool) -> None:
  """stdout and stderr as a fresh interpreter makes them for these descriptors."""
  import io  # pylint: disable=g-import-not-at-top

  for fd, name in ((1, "stdout"), (2, "stderr")):
    old = getattr(sys, name)
    raw = io.FileIO(fd, "w", closefd=False)
    stream = io.TextIOWrapper(
      raw if unbuffered else io.BufferedWriter(raw),
      encoding=old.encoding,
      errors=old.errors,
      line_buffering=not unbuffered and (name == "stderr" or raw.isatty()),
      write_through=unbuffered,
    )
    setattr(sys, name, stream)
    setattr(sys, f"__{name}__", stream)


def _reseed() -> None:
  """A fresh interpreter seeds `random` and NumPy's global generator from the OS; a fork
  would share the server's."""
  import random  # pylint: disable=g-import-not-at-top

  random.seed()
  numpy = sys.modules.get("numpy")
  if numpy is not None:
    numpy.random.seed()


def _exit_status(code) -> int:
  if code is None:
    return 0
  if isinstance(code, int):
    return code & 0xFF
  print(code, file=sys.stderr)
  return 1


def _finish(code) -> None:
  """The interpreter's exit: wait for non-daemon threads, run atexit, flush."""
  import atexit  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top

  try:
    threading._shutdown()  # pylint: disable=protected-access
  except BaseException:  # pylint: disable=broad-except
    pass
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):
      if code == 0:
        code = 120  # as the interpreter does when it cannot flush stdout
  if code is not None:
    os._exit(code)  # pylint: disable=protected-access
