"""Running scripts/regenerate_hub_artifacts.py as users do, in a subprocess (with the tests'
warm `python`, tests/warm_python.py, unless `fresh`)."""

import os
import pathlib
import subprocess
import sys

import warm_python

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(checkpoint_dir, output_dir, *flags, wait=True, fresh=False):
  """scripts/regenerate_hub_artifacts.py in a subprocess: its CompletedProcess, or its Popen
  when not `wait`. `fresh`: in a fresh interpreter, its fork servers too."""
  command = [
    sys.executable if fresh else warm_python.executable(),
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
