"""Running the project's binaries as users do, in a subprocess.

`run` takes the tests' warm `python` (tests/warm_python.py: TensorFlow already imported),
unless the test needs a fresh interpreter: `fresh=True`, or `blocked` modules.
"""

import os
import subprocess
import sys

import warm_python


def start(module, *flags, environment=None):
  """`python -m <module> <flags>` started in a fresh interpreter, its output piped: a Popen,
  for tests that signal it and watch what it loads."""
  return subprocess.Popen(
    [sys.executable, "-m", module, *flags],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env={**os.environ, **(environment or {})},
  )


def run(module, *flags, umask=None, environment=None, blocked=(), fresh=False):
  """`python -m <module> <flags>`: its CompletedProcess.

  `blocked` names modules whose import fails, as if they were not installed: what the binary
  reports before importing them (TensorFlow's start-up takes seconds); it runs in a fresh
  interpreter, as does `fresh`: what TensorFlow's start-up prints, or bytes that must not
  depend on the process.
  """
  python = sys.executable if fresh or blocked else warm_python.executable()
  if blocked:
    launch = [
      "-c",
      f"import runpy, sys; sys.modules.update(dict.fromkeys({list(blocked)!r})); "
      f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)",
    ]
  else:
    launch = ["-m", module]
  return subprocess.run(
    [python, *launch, *flags],
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **(environment or {})},
    preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
  )
