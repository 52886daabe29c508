"""Verification: an export loaded on its own, run on the probe images, checked against an
expectation (from the checkpoint or from a golden). docs/verification.md has the policy.

An export is one of the registry's verifiable formats (a SavedModel directory, a Keras 3
`.keras` file, a LiteRT `.tflite` model, an ONNX model, a TF.js model directory run in Node),
loaded through `export.runtime.loading`; all are checked the same way, the weights under the
TF-Slim names they stand for where the format keeps them, the outputs within verify's tolerance
or, for a type that computes another function (LiteRT float16, int8, uint8; ONNX int8; TF.js
float16, uint8), within the agreement its format promises.
"""

import dataclasses
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from export.base import errors
from export.base import probe_images
from export.formats import registry
from export.runtime import loading
from export.verification import checks as checks_lib
from export.verification import expectation as expectation_lib
from export.verification import golden
from export.verification import report as report_lib
from nets import variants

VerifyInputError = expectation_lib.VerifyInputError


def check_export_dir(export_dir: str) -> None:
  """VerifyInputError unless `export_dir` looks like an export verify checks (a SavedModel
  directory, a .keras or .tflite file, a .tfjs directory: the registry's verifiable formats).
  A file of another format is refused by name, once it is found to exist."""
  fmt = loading.format_of(export_dir)
  try:
    fmt.check(export_dir)
  except loading.LoadError as error:
    raise VerifyInputError(str(error)) from None
  if not fmt.verifiable:
    checked = " and ".join(other.label for other in registry.verifiable())
    raise VerifyInputError(
      f"{export_dir}: a {fmt.label} model; export.verify checks {checked} exports against "
      f"the checkpoint (a {fmt.label} model is checked against its SavedModel when written)"
    )


def load_export(export_dir: str, image_size: int) -> loading.Loaded:
  """The export, loaded on its own; it must take [N, S, S, 3] images."""
  try:
    loaded = loading.load(export_dir, registry.verifiable())
  except loading.LoadError as error:
    raise VerifyInputError(str(error)) from None
  sizes = loaded.image_sizes
  if sizes and not any(size in ((None, None), (image_size, image_size)) for size in sizes):
    height, width = sorted(sizes, key=str)[0]
    raise VerifyInputError(
      f"{export_dir}: the export takes {width}x{height} images, but the "
      f"variant verified has image size {image_size}"
    )
  return loaded


def _run_export(loaded: loading.Loaded, export_dir: str, images: np.ndarray) -> list:
  """[((start, stop), outputs as numpy)] for each run of the probe batch plan."""
  runs = []
  for start, stop in probe_images.batch_plan(len(images)):
    try:
      outputs = loaded.run(images[start:stop])
    except (tf.errors.OpError, TypeError, ValueError) as error:
      raise VerifyInputError(
        f"{export_dir}: calling the export on {stop - start} probe "
        f"images failed ({errors.first_line(error)})"
      ) from None
    runs.append(((start, stop), np.asarray(outputs)))
  return runs


def own_threshold(fmt, kind: str) -> Optional[tuple]:
  """(kind, threshold) when the format's type is held to an agreement looser than verify's
  elementwise tolerance (LiteRT float16, int8, uint8); None when that tolerance applies."""
  kind = kind or fmt.types[0]
  threshold = fmt.thresholds[fmt.types.index(kind)]
  limit = threshold.max_relative_difference
  others = dataclasses.replace(threshold, max_relative_difference=None)
  if limit is not None and limit <= report_lib.OUTPUT_TOLERANCE and others == type(threshold)():
    return None
  return kind, threshold


def compare(export_dir: str, expectation: expectation_lib.Expectation) -> report_lib.Report:
  """Runs every check of the export at `export_dir` against `expectation`."""
  started = time.perf_counter()
  loaded = load_export(export_dir, expectation.spec.image_size)
  loaded_at = time.perf_counter()
  runs = _run_export(loaded, export_dir, probe_images.to_float(expectation.inputs))
  variables = loaded.variables() if loaded.variables is not None else None
  own = own_threshold(loading.format_of(export_dir), loaded.kind)
  checks, rows = checks_lib.run_checks(runs, expectation, variables, own)
  timings = {
    "reference": round(expectation.seconds, 3),
    "load_export": round(loaded_at - started, 3),
    "run_and_compare": round(time.perf_counter() - loaded_at, 3),
  }
  return report_lib.Report(
    str(export_dir),
    expectation.spec,
    dict(expectation.source),
    checks,
    rows,
    timings,
  )


def expectation(
  checkpoint_path: Optional[str],
  golden_path: Optional[str],
  spec: variants.ModelSpec,
) -> expectation_lib.Expectation:
  """From the checkpoint (the TF-Slim graph) or else from the golden file."""
  if checkpoint_path:
    return expectation_lib.expectation_from_checkpoint(checkpoint_path, spec)
  return golden.expectation_from_golden(golden_path, spec)


def verify(
  export_dir: str,
  spec: variants.ModelSpec,
  *,
  checkpoint_path: Optional[str] = None,
  golden_path: Optional[str] = None,
) -> report_lib.Report:
  """Verifies an export against a checkpoint or (without one) against a golden file.

  Raises VerifyInputError or checkpoint.CheckpointError when verification cannot run.
  """
  if (checkpoint_path is None) == (golden_path is None):
    raise ValueError("give exactly one of a checkpoint path and a golden path")
  check_export_dir(export_dir)  # before the reference, which takes seconds
  return compare(export_dir, expectation(checkpoint_path, golden_path, spec))
