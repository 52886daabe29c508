"""What the four LiteRT types cost an export: fresh-process exports of one checkpoint with and
without them, alternated in one run so a loaded machine weighs on both alike, and the exact
calibration (`litert_network.activation_ranges`) alone on one and on every usable CPU. Used by
`scripts/benchmark_litert.py --speed` (docs/litert.md#speed-and-size)."""

import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
FOUR_TYPES = ("--tflite", "--tflite_types=float32,float16,int8,uint8")


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def timed_export(checkpoint_path: str, export_dir: pathlib.Path, *extra: str) -> dict:
  """Wall-clock and CPU seconds of `python -m export.export_saved_model` in a fresh process."""
  command = [sys.executable, "-m", "export.export_saved_model"]
  command += [f"--checkpoint_path={checkpoint_path}", f"--export_dir={export_dir}", *extra]
  cpu, started = _children_cpu(), time.perf_counter()
  run = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
  if run.returncode:
    raise RuntimeError(f"export {' '.join(extra)} failed ({run.returncode}): {run.stderr[-2000:]}")
  return dict(wall=time.perf_counter() - started, cpu=_children_cpu() - cpu)


def calibration_seconds(checkpoint_path: str, multiplier: float, image_size: int) -> dict:
  """activation_ranges on the default 112 images: wall and CPU seconds per worker count."""
  from export.core import checkpoint
  from export.formats.litert import calibration as litert_calibration
  from export.formats.litert import network as litert_network

  with checkpoint.opened(checkpoint_path) as prefix:
    values = checkpoint.model_values(prefix, multiplier, True).values
  network = litert_network.fold(values, multiplier, "classification")
  images = litert_calibration.default_images(image_size)
  litert_network.activation_ranges(network, images[:1])  # compiles or loads the kernels
  results = {}
  for workers in sorted({1, len(os.sched_getaffinity(0))}):
    cpu, started = time.process_time(), time.perf_counter()
    litert_network.activation_ranges(network, images, workers=workers)
    results[workers] = dict(wall=time.perf_counter() - started, cpu=time.process_time() - cpu)
  return dict(images=len(images), by_workers=results)


def measure(scratch: pathlib.Path, multiplier: float, image_size: int, rounds: int) -> dict:
  from export.testing import synthetic_checkpoint

  checkpoint_path = synthetic_checkpoint.write_checkpoint(
    str(scratch / "speed_checkpoint"), multiplier, image_size, seed=0
  )
  runs = {"plain": [], "four types": []}
  for index in range(rounds):
    order = list(runs) if index % 2 == 0 else list(runs)[::-1]
    for name in order:
      extra = FOUR_TYPES if name == "four types" else ()
      runs[name].append(timed_export(checkpoint_path, scratch / f"{name}_{index}", *extra))
  medians = {
    name: {key: statistics.median(run[key] for run in found) for key in ("wall", "cpu")}
    for name, found in runs.items()
  }
  return dict(
    variant=f"{multiplier}/{image_size}",
    rounds=rounds,
    exports=medians,
    ratio={key: medians["four types"][key] / medians["plain"][key] for key in ("wall", "cpu")},
    calibration=calibration_seconds(checkpoint_path, multiplier, image_size),
  )


def markdown(results: dict) -> list:
  exports, ratio = results["exports"], results["ratio"]
  lines = [
    f"{results['variant']}, seed-0 synthetic, median of {results['rounds']} fresh-process "
    "exports each, alternated:",
    "",
    "| export | wall (s) | CPU (s) |",
    "|---|---|---|",
  ]
  for name, figures in exports.items():
    lines.append(f"| {name} | {figures['wall']:.1f} | {figures['cpu']:.1f} |")
  lines.append(f"| ratio | {ratio['wall']:.2f}x | {ratio['cpu']:.2f}x |")
  calibration = results["calibration"]
  lines += ["", f"activation_ranges on {calibration['images']} images:", ""]
  lines += ["| threads | wall (s) | CPU (s) |", "|---|---|---|"]
  for workers, figures in calibration["by_workers"].items():
    lines.append(f"| {workers} | {figures['wall']:.1f} | {figures['cpu']:.1f} |")
  return lines
