"""Running scripts/regenerate_hub_artifacts.py as users do, in a subprocess."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(checkpoint_dir, output_dir, *flags, wait=True):
  """scripts/regenerate_hub_artifacts.py in a subprocess: its CompletedProcess, or its Popen
  when not `wait`."""
  command = [
    sys.executable,
    str(ROOT / "scripts" / "regenerate_hub_artifacts.py"),
    f"--checkpoint_dir={checkpoint_dir}",
    f"--output_dir={output_dir}",
    *flags,
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  if not wait:
    return subprocess.Popen(
      command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
  return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
