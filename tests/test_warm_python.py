"""The tests' warm `python` (tests/warm_python.py) behaves as a fresh interpreter does: the same
command, run both ways, prints the same and exits the same."""

import os
import signal
import subprocess
import sys

import pytest
import warm_python

# What a command can see of the process it runs in.
_SNIPPET = """
import os, sys
print(sys.argv, os.getcwd(), sys.path[0], oct(os.umask(0o22)), os.environ.get("WARM_TEST"))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


def _both(*arguments, cwd, env=None, umask=0o027):
  """(fresh, warm) CompletedProcess of `python ARGUMENTS`."""
  runs = []
  for python in (sys.executable, warm_python.executable()):
    runs.append(
      subprocess.run(
        [python, *arguments],
        cwd=cwd,
        env={**os.environ, "WARM_TEST": "seen", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(umask),
      )
    )
  return runs


@pytest.mark.slow
def test_a_served_command_sees_and_ends_as_a_fresh_one(tmp_path):
  script = tmp_path / "script.py"
  script.write_text(_SNIPPET)
  (tmp_path / "snippet_module.py").write_text(_SNIPPET)
  for arguments in (
    ["-c", _SNIPPET, "3"],
    [str(script), "0"],
    ["-m", "snippet_module", "5"],
    ["-c", "import sys; print(sys.path[:3])"],
    ["-c", "raise ValueError('no')"],
  ):
    fresh, warm = _both(*arguments, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "extra")})
    assert (warm.returncode, warm.stdout, warm.stderr) == (
      fresh.returncode,
      fresh.stdout,
      fresh.stderr,
    ), arguments
  assert fresh.stderr.splitlines()[-1] == "ValueError: no"


@pytest.mark.slow
def test_an_interrupt_reaches_the_command_and_ends_it_as_it_ends_a_fresh_one(tmp_path):
  waits = "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)"
  statuses = []
  for python in (sys.executable, warm_python.executable()):
    process = subprocess.Popen(
      [python, "-c", waits], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    statuses.append((process.returncode, err.splitlines()[-1]))
  assert statuses[1] == statuses[0] == (-signal.SIGINT, "KeyboardInterrupt")


@pytest.mark.slow
def test_a_served_command_starts_with_tensorflow_imported_and_nothing_else_run(tmp_path):
  seen = (
    "import sys; imported = 'tensorflow' in sys.modules, 'export' in sys.modules; "
    "from tensorflow.python.framework import ops; print(*imported, ops.uid())"
  )
  fresh, warm = _both("-c", seen, cwd=tmp_path)
  assert fresh.stdout.split()[:2] == ["False", "False"]
  assert warm.stdout.split()[:2] == ["True", "False"]  # TensorFlow only, not the project
  # The same next uid: nothing traced or built before the command (saved_model.pb's names).
  assert warm.stdout.split()[2] == fresh.stdout.split()[2]
