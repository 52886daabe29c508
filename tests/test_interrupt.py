"""Ctrl-C in the binaries: one line, exit 130, nothing placed and no staging left.

Each test waits for a sign that the binary reached a point (it opened a flag file, TensorFlow
is mapped into it, a staging directory or file appeared) and sends SIGINT then, instead of
guessing a delay.
"""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import binaries
import pytest
import warm_python

from export.base import errors
from export.base import files
from export.base import timing

INTERRUPTED = ["interrupted (SIGINT); nothing partial is left"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _interrupt_when(process, reached, what, timeout=600):
  """Sends SIGINT as soon as `reached()`; returns (exit code, stdout, stderr)."""
  deadline = time.monotonic() + timeout
  while not reached():
    if process.poll() is not None or time.monotonic() > deadline:
      process.kill()
      out, err = process.communicate()
      pytest.fail(f"the binary ended or stalled before {what}: {process.returncode} {err[-2000:]}")
    time.sleep(0.02)
  process.send_signal(signal.SIGINT)
  out, err = process.communicate(timeout=timeout)
  return process.returncode, out, err


def _tensorflow_mapped(process):
  def mapped():
    with open(f"/proc/{process.pid}/maps") as maps:
      return "libtensorflow_framework" in maps.read()

  return mapped


def _appeared(pattern):
  return lambda: bool(glob.glob(pattern))


def _leftovers(directory):
  return sorted(os.listdir(directory))


# --- before TensorFlow: while the flags are read ------------------------------------------
@pytest.mark.parametrize(
  "module",
  [
    "export.export_saved_model",
    "export.export_keras",
    "export.verify",
    "export.classify",
    "export.model_card",
    "scripts.make_synthetic_checkpoint",
  ],
)
def test_an_interrupt_while_the_flags_are_read_is_one_line_and_130(module, tmp_path):
  flag_file = tmp_path / "flags"
  os.mkfifo(flag_file)
  process = binaries.start(module, f"--flagfile={flag_file}")
  with open(flag_file, "w"):  # returns once the binary opened it: it is parsing its flags
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
  assert (process.returncode, err.splitlines(), out) == (130, INTERRUPTED, "")


# --- the SavedModel exporter --------------------------------------------------------------
def _start_export(checkpoint, tmp_path, *flags):
  return binaries.start(
    "export.export_saved_model",
    f"--checkpoint_path={checkpoint}",
    f"--export_dir={tmp_path / 'out' / 'module'}",
    *flags,
  )


def _assert_rerun_is_not_refused(checkpoint, tmp_path, *flags):
  """The same command again gets past the option checks (TensorFlow blocked: it stops there)."""
  rerun = binaries.run(
    "export.export_saved_model",
    f"--checkpoint_path={checkpoint}",
    f"--export_dir={tmp_path / 'out' / 'module'}",
    *flags,
    blocked=["tensorflow"],
  )
  assert "ModuleNotFoundError" in rerun.stderr and "exists" not in rerun.stderr


@pytest.mark.slow
def test_an_interrupt_while_tensorflow_loads_leaves_nothing(synthetic_checkpoint_075_96, tmp_path):
  process = _start_export(synthetic_checkpoint_075_96, tmp_path, "--tflite")
  code, out, err = _interrupt_when(process, _tensorflow_mapped(process), "TensorFlow loaded")
  assert (code, err.splitlines(), out) == (130, INTERRUPTED, "")
  assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_an_interrupt_while_restoring_leaves_no_staging(synthetic_checkpoint_075_96, tmp_path):
  process = _start_export(synthetic_checkpoint_075_96, tmp_path, "--tflite")
  staging = str(tmp_path / "out" / ".module.*.staging")
  code, out, err = _interrupt_when(process, _appeared(staging), "the staging directory")
  assert (code, err.splitlines(), out) == (130, INTERRUPTED, "")
  assert _leftovers(tmp_path) == []  # the parent the export created is gone too


@pytest.mark.slow
def test_an_interrupt_during_the_litert_conversion_places_neither_format(
  synthetic_checkpoint_075_96, tmp_path
):
  flags = ("--tflite", "--tflite_types=float32,int8")
  process = _start_export(synthetic_checkpoint_075_96, tmp_path, *flags)
  # The SavedModel's fingerprint is its last file: the LiteRT conversion comes next.
  staged = str(tmp_path / "out" / ".module.*.staging" / "module" / "fingerprint.pb")
  code, out, err = _interrupt_when(process, _appeared(staged), "the staged SavedModel")
  assert (code, err.splitlines(), out) == (130, INTERRUPTED, "")
  assert _leftovers(tmp_path) == []
  _assert_rerun_is_not_refused(synthetic_checkpoint_075_96, tmp_path, *flags)


# --- the Keras exporter -------------------------------------------------------------------
def _start_keras_export(checkpoint, tmp_path, scratch):
  return binaries.start(
    "export.export_keras",
    f"--checkpoint_path={checkpoint}",
    f"--output={tmp_path / 'out' / 'model.keras'}",
    environment={"TMPDIR": str(scratch)},
  )


@pytest.mark.slow
def test_an_interrupt_while_keras_loads_leaves_nothing(synthetic_checkpoint_075_96, tmp_path):
  scratch = tmp_path.parent / f"{tmp_path.name}_scratch"
  scratch.mkdir()
  process = _start_keras_export(synthetic_checkpoint_075_96, tmp_path, scratch)
  code, out, err = _interrupt_when(process, _tensorflow_mapped(process), "TensorFlow loaded")
  assert (code, err.splitlines(), out) == (130, INTERRUPTED, "")
  assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_an_interrupt_during_the_keras_save_places_no_file(synthetic_checkpoint_075_96, tmp_path):
  scratch = tmp_path.parent / f"{tmp_path.name}_scratch"  # Keras saves through a temp dir
  scratch.mkdir()
  process = _start_keras_export(synthetic_checkpoint_075_96, tmp_path, scratch)
  saving = str(scratch / "keras_model_*")
  code, out, err = _interrupt_when(process, _appeared(saving), "the Keras save")
  assert (code, err.splitlines(), out) == (130, INTERRUPTED, "")
  assert _leftovers(tmp_path) == []
  assert not glob.glob(saving)


# --- whatever the interrupt became on its way ---------------------------------------------
_BINARY = textwrap.dedent(
  """
  import os, signal, sys
  from export import cli
  from export.base import errors, files

  def interrupted_inside(then):
    try:
      os.kill(os.getpid(), signal.SIGINT)
      for _ in range(1000):
        pass
    except KeyboardInterrupt:
      then()

  def converted():  # what pybind11 does to an exception it cannot hand back
    raise RuntimeError("pybind11::error_already_set: MISMATCH ... REPLACED BY KeyboardInterrupt")

  def failed():
    raise errors.Failure("cannot read checkpoint (KeyboardInterrupt)")

  class Collected:  # TensorFlow's garbage collectors: an exception in __del__ is dropped
    def __del__(self):
      interrupted_inside(lambda: (_ for _ in ()).throw(KeyboardInterrupt))

  def main(argv):
    how = argv[1]
    if how == "failure":
      cli.work_or_exit(interrupted_inside, failed)
    if how == "collected":
      Collected()
    else:
      interrupted_inside({"converted": converted}.get(how, lambda: None))
    if how == "placed":
      files.write_file(argv[2], "written after the interrupt")
    print("finished")
    return 0

  cli.run(main, lambda: None)
  """
)


@pytest.mark.parametrize("how", ["converted", "swallowed", "collected", "failure", "placed"])
def test_an_interrupt_turned_into_an_error_or_lost_still_exits_130(how, tmp_path):
  target = tmp_path / "out" / "file.txt"
  process = subprocess.run(
    [sys.executable, "-c", _BINARY, how, str(target)],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=120,
  )
  assert (process.returncode, process.stderr.splitlines()) == (130, INTERRUPTED)
  assert _leftovers(tmp_path) == []
  assert process.stdout == ("finished\n" if how in ("swallowed", "collected") else "")


_READER = textwrap.dedent(
  """
  import os, signal, sys
  from export.base import errors
  from export.core import checkpoint
  from export.verification import expectation
  from nets import variants

  prefix, reading = sys.argv[1:]
  errors.watch_interrupts()
  names = sorted(checkpoint.read_shapes(prefix))
  spec = variants.ModelSpec(0.75, 96)
  read = {
    "tensors": lambda: checkpoint.read_tensors(prefix, names),
    "expected variables": lambda: expectation.expected_variables(prefix, spec),
  }[reading]
  sent = []

  def interrupt_the_callback(frame, event, unused_arg):
    # A process's first read calls back from the reader's C++ into NumPy (a version check).
    if event == "call" and not sent and frame.f_code.co_filename.endswith("numpy/lib/_version.py"):
      sent.append(os.kill(os.getpid(), signal.SIGINT))

  sys.setprofile(interrupt_the_callback)
  try:
    read()
  except KeyboardInterrupt:
    print("raised", file=sys.stderr)
  finally:
    sys.setprofile(None)
  print(f"sent {len(sent)}, interrupted {errors.interrupted()}", file=sys.stderr)
  """
)


@pytest.mark.slow
@pytest.mark.parametrize("reading", ["tensors", "expected variables"])
def test_an_interrupt_inside_the_checkpoint_reader_is_raised_not_printed_and_lost(
  reading, synthetic_checkpoint_075_96
):
  # Raised inside the C++ reader, the KeyboardInterrupt came out on stdout ("KeyboardInterrupt:
  # <EMPTY MESSAGE> At: ...") and the read went on: a Ctrl-C while the export restored.
  process = subprocess.run(
    [warm_python.executable(), "-c", _READER, synthetic_checkpoint_075_96, reading],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=120,
    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
  )
  assert process.stdout == ""
  assert process.stderr.splitlines()[-2:] == ["raised", "sent 1, interrupted SIGINT"]


# --- the pieces -----------------------------------------------------------------------------
def test_nothing_is_placed_after_an_interrupt_that_was_lost(tmp_path, monkeypatch):
  monkeypatch.setattr(errors, "_received", ["SIGINT"])
  with pytest.raises(KeyboardInterrupt):  # nor is the next phase of the work begun
    with timing.phase({}, "restore"):
      pass
  with pytest.raises(KeyboardInterrupt):
    files.write_file(tmp_path / "new" / "file.txt", "x")
  staged = tmp_path / "staged"
  staged.mkdir()
  with pytest.raises(KeyboardInterrupt):
    files.place_together([(str(staged), str(tmp_path / "target"))])
  assert _leftovers(tmp_path) == ["staged"]


def test_an_interrupt_is_held_back_until_the_renames_are_done(monkeypatch):
  monkeypatch.setattr(errors, "_received", [])
  monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # watch_interrupts wraps it
  previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
  errors.watch_interrupts()
  steps = []
  try:
    with pytest.raises(KeyboardInterrupt):
      with errors.signals_held():
        os.kill(os.getpid(), signal.SIGINT)
        for step in range(3):
          steps.append(step)
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
  assert steps == [0, 1, 2]
  assert errors.interrupted() == "SIGINT"
