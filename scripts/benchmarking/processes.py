"""The floor of the benchmark: the variant every measurement uses, and the fresh processes
(`scripts/benchmark.py --child ARGS`) that measure what must not share a process: how one is
started, and how its result comes back on stdout."""

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Optional

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARK_SCRIPT = PROJECT_ROOT / "scripts" / "benchmark.py"

MULTIPLIER = 0.75
IMAGE_SIZE = 96

# A child's result is the JSON after this prefix on its last such stdout line; TensorFlow and
# Keras may print other lines around it.
RESULT_PREFIX = "BENCHMARK_RESULT "


def print_result(result: dict) -> None:
  """In a child: hands `result` back to the `run_child` that started it."""
  print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(*arguments: str, environment: Optional[dict] = None) -> dict:
  """`scripts/benchmark.py --child ARGS` in a fresh process: its result, plus the process's
  wall-clock seconds."""
  command = [sys.executable, str(BENCHMARK_SCRIPT), "--child", *arguments]
  started = time.perf_counter()
  run = subprocess.run(
    command,
    capture_output=True,
    text=True,
    cwd=PROJECT_ROOT,
    env=dict(os.environ, **(environment or {})),
  )
  wall = time.perf_counter() - started
  results = [
    line[len(RESULT_PREFIX) :] for line in run.stdout.splitlines() if line.startswith(RESULT_PREFIX)
  ]
  if run.returncode or not results:
    raise RuntimeError(f"{' '.join(arguments)} failed ({run.returncode}): {run.stderr[-2000:]}")
  return dict(json.loads(results[-1]), process=wall)
