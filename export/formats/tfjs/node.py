"""Runs a TF.js graph model in Node with `@tensorflow/tfjs` 4.22.0: the client web users run.

`tfjs/run_model.mjs` loads the model from its directory through a small fs IOHandler (pure
tfjs cannot read file:// URLs), runs the images on each requested backend (`cpu`, the plain
JavaScript kernels, and `wasm`, XNNPACK compiled to WebAssembly) and prints JSON. The npm
packages are pinned in `tfjs/package-lock.json` and installed by `scripts/setup_tfjs.sh`
(`npm ci`); tfjs-node is not used, since it downloads a native binary when installed.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import errors

BACKENDS = ("cpu", "wasm")
PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[3] / "tfjs"  # the checkout's tfjs/
RUNNER = PACKAGE_DIR / "run_model.mjs"
TIMEOUT_SECONDS = 600
# The backend exports and loaders run a model on: wasm computes in float32 as cpu does (both
# within 2e-6 of the SavedModel, docs/tfjs.md) and is 15-20 times as fast in Node, which
# decides a regeneration's time at 224 pixels. Tests hold both backends to the thresholds.
CHECK_BACKEND = "wasm"


class NodeError(errors.Failure):
  """Node or its packages are missing, or the model did not run; the message is one line."""


@dataclasses.dataclass(frozen=True)
class BackendRun:
  backend: str
  outputs: np.ndarray  # float32 [N, K]
  latency_ms: Optional[float]  # median of one batch-1 run, when repeats were asked for


def node_executable() -> str:
  """The `node` on PATH, or NodeError saying how to install the JavaScript side."""
  node = shutil.which("node")
  if node is None:
    raise NodeError("node is not on PATH: TF.js models run in Node 20 (install nodejs)")
  if not (PACKAGE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
    raise NodeError(
      f"{PACKAGE_DIR / 'node_modules'}: @tensorflow/tfjs is not installed; run "
      f"`bash scripts/setup_tfjs.sh` (npm ci in {PACKAGE_DIR})"
    )
  return node


def run_script(script: pathlib.Path, arguments: Sequence[str]) -> dict:
  """Runs one of the project's Node scripts; its JSON output, or NodeError with its stderr."""
  completed = subprocess.run(
    [node_executable(), str(script), *arguments],
    cwd=PACKAGE_DIR,
    capture_output=True,
    text=True,
    timeout=TIMEOUT_SECONDS,
    check=False,
  )
  if completed.returncode != 0:
    lines = completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"]
    raise NodeError(f"{script.name} failed: {lines[-1]}")
  return json.loads(completed.stdout)


def run_script_on(script: pathlib.Path, array: np.ndarray, flag: str, arguments: Sequence[str]):
  """`run_script` with `array`'s raw bytes in a scratch file, named to the script by `--flag`."""
  with tempfile.TemporaryDirectory(prefix="tfjs-input.") as scratch:
    path = os.path.join(scratch, f"{flag}.bin")
    array.tofile(path)
    return run_script(script, [f"--{flag}={path}", *arguments])


def run(
  model_dir: str,
  images: np.ndarray,
  backends: Sequence[str] = BACKENDS,
  repeats: int = 0,
) -> dict:
  """{backend: BackendRun} of float32 images [N, S, S, 3] in [0, 1] through the model."""
  images = np.ascontiguousarray(images, dtype="<f4")
  unknown = [backend for backend in backends if backend not in BACKENDS]
  if unknown or not backends:
    raise ValueError(f"TF.js backends must be a subset of {BACKENDS}, got {list(backends)}")
  report = run_script_on(
    RUNNER,
    images,
    "images",
    [
      f"--model_dir={os.path.abspath(model_dir)}",
      f"--shape={','.join(str(d) for d in images.shape)}",
      f"--backends={','.join(backends)}",
      f"--repeats={repeats}",
    ],
  )
  return {
    result["backend"]: BackendRun(
      result["backend"],
      np.asarray(result["outputs"], np.float32).reshape(result["shape"]),
      result.get("latency_ms"),
    )
    for result in report["results"]
  }


MOBILENET_SCRIPT = PACKAGE_DIR / "mobilenet_classify.mjs"
MOBILENET_IMAGE_SIZE = 224  # @tensorflow-models/mobilenet 2.1.1 hard-codes it


def mobilenet_classify(
  model_dir: str, pixels: np.ndarray, top_k: int = 3, input_range: Optional[tuple] = (0, 1)
) -> list:
  """`@tensorflow-models/mobilenet`'s classify() of uint8 RGB pixels [H, W, 3] with our model.

  `input_range` is given to its load(); None leaves the package's default ([-1, 1]), which
  is wrong for our models.
  Returns its predictions, each with `className` (the package's own name of the class) and
  `class_index`: the index into our 1001 logits (the package drops "background", index 0).
  """
  pixels = np.ascontiguousarray(pixels, np.uint8)
  if pixels.ndim != 3 or pixels.shape[2] != 3:
    raise ValueError(f"expected uint8 RGB pixels [H, W, 3], got shape {list(pixels.shape)}")
  report = run_script_on(
    MOBILENET_SCRIPT,
    pixels,
    "pixels",
    [
      f"--model_dir={os.path.abspath(model_dir)}",
      f"--height={pixels.shape[0]}",
      f"--width={pixels.shape[1]}",
      f"--top_k={top_k}",
      "--input_range=" + ("omit" if input_range is None else ",".join(map(str, input_range))),
    ],
  )
  index_of = {name: int(index) + 1 for index, name in report["classes"].items()}
  return [
    dict(prediction, class_index=index_of[prediction["className"]])
    for prediction in report["predictions"]
  ]


BROWSER_SCRIPT = PACKAGE_DIR / "browser_classify.mjs"
CHROMIUM = "/usr/bin/chromium"  # Debian's; scripts/setup_tfjs.sh installs it


def browser_classify(
  url: str, picture: str, screenshot: Optional[str] = None, runs: int = 1
) -> dict:
  """The demo page at `url`, in headless Chromium, given `picture`: what it shows, as a dict.

  Keys: `top` (index, label, probability; most probable first), `shown` (the labels in the
  page's table), `milliseconds`, `backend`, `status`, `chromium` (its version) and `runs_ms`
  (the model's time in each of `runs` classifications of the picture, the first a warm-up).
  """
  if not os.path.exists(CHROMIUM):
    raise NodeError(f"{CHROMIUM}: missing; install Debian's chromium (scripts/setup_tfjs.sh)")
  arguments = [
    f"--url={url}",
    f"--picture={os.path.abspath(picture)}",
    f"--chromium={CHROMIUM}",
    f"--runs={runs}",
  ]
  if screenshot:
    arguments.append(f"--screenshot={os.path.abspath(screenshot)}")
  return run_script(BROWSER_SCRIPT, arguments)
