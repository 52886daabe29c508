"""A regeneration worker stopped by the orchestrator's forwarded signal places nothing, even when
the signal is lost inside native code; one that comes during the placement cannot cut it short.

The real `export.pipeline.worker.worker_main` runs in a subprocess (it installs signal
handlers) with `makers.make` replaced by a stand-in that stages one file and signals its own
process at a chosen moment: no TensorFlow is imported.
"""

import json
import subprocess
import sys
import textwrap

from export.pipeline import state

# worker_main with a stand-in for the export, which signals the worker where argv[2] says:
# "lost" (during the export, swallowed as TensorFlow's native code can) or "placing" (while
# the first file is moved into place).
_WORKER = textwrap.dedent(
  """
  import contextlib, os, signal, sys, types

  stub = types.ModuleType("export.core.checkpoint")  # the real one imports TensorFlow
  stub.CheckpointError = type("CheckpointError", (Exception,), {})
  stub.opened = contextlib.nullcontext
  sys.modules["export.core.checkpoint"] = stub

  from export.base import files
  from export.pipeline import makers, worker

  worker.preload = lambda: None
  moment = sys.argv.pop(2)

  def make(artifact, prefix, digest, staging, output_dir, timings):
    staged = os.path.join(staging, "model.bin")
    with open(staged, "w") as f:
      f.write("weights")
    if moment == "lost":
      try:
        os.kill(os.getpid(), signal.SIGTERM)
      except BaseException:
        pass  # lost on its way, as inside TensorFlow's garbage collection
    entry = types.SimpleNamespace(
      to_json=lambda: {}, parity=types.SimpleNamespace(max_abs_error=0.0)
    )
    return entry, [(staged, "placed/model.bin")]

  place_file = files.place_file

  def place_signalled(staged, target):
    if moment == "placing":
      os.kill(os.getpid(), signal.SIGTERM)
    place_file(staged, target)

  makers.make, files.place_file = make, place_signalled
  sys.exit(worker.worker_main(sys.argv))
  """
)


def _run_worker(tmp_path, moment):
  output_dir = tmp_path / "hub"
  job = {
    "checkpoint_path": str(tmp_path / "checkpoint"),
    "inputs": {"checkpoint": {"sha256": "0" * 64}},
    "key": "google/imagenet/mobilenet_v2_075_96/classification/5",
    "module_type": "classification",
    "output_dir": str(output_dir),
    "result_path": str(tmp_path / "result.json"),
    "variant": "mobilenet_v2_0.75_96",
    "version": 5,
    "beside": [],
    "format": "saved_model",
  }
  process = subprocess.run(
    [sys.executable, "-c", _WORKER, json.dumps(job), moment],
    capture_output=True,
    text=True,
    timeout=120,
  )
  return process, output_dir, tmp_path / "result.json"


def test_an_interrupt_lost_during_the_export_still_stops_the_placement(tmp_path):
  process, output_dir, result = _run_worker(tmp_path, "lost")
  assert process.returncode == state.INTERRUPTED_EXIT_CODE, process.stderr
  assert process.stderr.strip().splitlines()[-1] == "interrupted (SIGTERM); nothing placed"
  assert not (output_dir / "placed").exists() and not result.exists()
  assert list((output_dir / state.STATE_DIR / "staging").glob("*")) == []


def test_an_interrupt_during_the_placement_lets_it_finish(tmp_path):
  process, output_dir, result = _run_worker(tmp_path, "placing")
  assert process.returncode == 0, process.stderr
  assert (output_dir / "placed" / "model.bin").read_text() == "weights"
  assert json.loads(result.read_text())["status"] == state.MADE
