"""Running scripts/regenerate_hub_artifacts.py as users do, in a subprocess (with the tests'
warm `python`, tests/warm_python.py, unless `fresh`)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import warm_python

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The small artifact the regeneration tests make: the 0.75/96 classifier, version 5.
KEY = "google/imagenet/mobilenet_v2_075_96/classification/5"
KERAS_KEY = "google/imagenet/mobilenet_v2_075_96/classification/keras"
ONE_ARTIFACT = [
  "--variants=mobilenet_v2_0.75_96",
  "--module_types=classification",
  "--versions=5",
  "--formats=saved_model",
  "--jobs=1",
]


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


def manifest(output_dir) -> dict:
  return json.loads((pathlib.Path(output_dir) / "manifest.json").read_text())


def copy(run, tmp_path) -> pathlib.Path:
  """A copy of a run's output directory, (output_dir, process), to change: `tmp_path/hub`."""
  copied = tmp_path / "hub"
  shutil.copytree(run[0], copied)
  return copied
