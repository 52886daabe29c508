"""Golden files: a checkpoint's reference outputs on the probe images, stored for later.

Format version 1 (docs/verification.md): a .npz of the probe inputs (uint8), the float64
network's outputs rounded to float32, and JSON metadata, with fixed zip time stamps, so a
golden's bytes depend on its contents only, on every machine.
"""

import io
import json
import os
import time
import zipfile

import numpy as np

from export.base import errors
from export.base import files
from export.base import probe_images
from export.verification import expectation as expectation_lib
from nets import variants

GOLDEN_FORMAT = "mobilenet_v2_verification_golden"
GOLDEN_VERSION = 1
GOLDEN_TOOL = "export.verify (slim-mobilenet-hub)"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so a golden's bytes depend on its contents only
VerifyInputError = expectation_lib.VerifyInputError
_MEMBERS = ("inputs", "outputs", "metadata")


def write_golden(
  golden_path: str, spec: variants.ModelSpec, *, checkpoint_path: str
) -> expectation_lib.Expectation:
  """Computes the reference from the checkpoint and stores it as a golden file."""
  expectation = expectation_lib.expectation_from_checkpoint(
    checkpoint_path, spec, reference_network=expectation_lib.FLOAT64
  )
  save_golden(golden_path, expectation)
  return expectation


def golden_metadata(expectation: expectation_lib.Expectation) -> dict:
  source, spec = expectation.source, expectation.spec
  return {
    "format": GOLDEN_FORMAT,
    "format_version": GOLDEN_VERSION,
    "variant": spec.name,
    "depth_multiplier": spec.depth_multiplier,
    "image_size": spec.image_size,
    "module_type": spec.module_type,
    "checkpoint": {
      "name": os.path.basename(source["path"]),
      "sha256": source["sha256"],
      "files": source["files"],
      "use_ema": source["use_ema"],
    },
    "reference": expectation_lib.REFERENCE_DESCRIPTIONS[source["network"]],
    "probe_set_version": probe_images.PROBE_SET_VERSION,
    "input_names": list(expectation.input_names),
    "input_encoding": "uint8 pixels; the image fed is pixels / 255 in float32",
    "created_by": GOLDEN_TOOL,
  }


def save_golden(golden_path: str, expectation: expectation_lib.Expectation) -> None:
  """Writes a golden: a .npz of inputs, outputs and a JSON metadata string, atomically."""
  if expectation.source.get("kind") != "checkpoint":
    raise VerifyInputError("a golden is written from a checkpoint, not from another golden")
  if expectation.source.get("network") != expectation_lib.FLOAT64:
    # TensorFlow's outputs differ in their last bits between machines; a golden must not.
    raise VerifyInputError(
      "a golden stores the float64 network's outputs (reference_network="
      "FLOAT64), whose bits are the same on every machine"
    )
  metadata = json.dumps(golden_metadata(expectation), sort_keys=True)
  _write_npz(
    golden_path,
    {
      "inputs": expectation.inputs,
      "outputs": expectation.outputs.astype(np.float32),
      "metadata": np.array(metadata),
    },
  )


def _write_npz(path: str, arrays: dict) -> None:
  # np.savez stamps each member with the current time; fixed stamps keep goldens
  # byte-for-byte reproducible. np.load reads the result like any .npz.
  try:
    with (
      files.staged_file(path) as staging,
      zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
      for name, array in arrays.items():
        member = io.BytesIO()
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, member.getvalue())
  except OSError as error:
    raise VerifyInputError(f"{path}: cannot write the golden ({error.strerror})") from None


def read_golden(golden_path: str):
  """(metadata dict, inputs uint8 [N, S, S, 3], outputs float32 [N, K]) of a golden file."""
  if not os.path.isfile(golden_path):
    raise VerifyInputError(f"{golden_path}: golden file not found")
  # A golden is a zip (.npz); np.load would take anything else for a pickle and say so.
  if not zipfile.is_zipfile(golden_path):
    raise VerifyInputError(
      f"{golden_path}: not a golden file (expected a .npz that --write_golden writes)"
    )
  try:
    with np.load(golden_path, allow_pickle=False) as golden:
      missing = [f"{name}.npy" for name in _MEMBERS if name not in golden.files]
      if missing:
        raise VerifyInputError(
          f"{golden_path}: not a golden file (a .npz without {', '.join(missing)})"
        )
      metadata = json.loads(str(golden["metadata"][()]))
      inputs, outputs = golden["inputs"], golden["outputs"]
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
    raise VerifyInputError(
      f"{golden_path}: not a readable golden file ({errors.first_line(error)})"
    ) from None
  if not isinstance(metadata, dict) or metadata.get("format") != GOLDEN_FORMAT:
    raise VerifyInputError(
      f"{golden_path}: not a verification golden (format is not {GOLDEN_FORMAT!r})"
    )
  if metadata.get("format_version") != GOLDEN_VERSION:
    raise VerifyInputError(
      f"{golden_path}: golden format version "
      f"{metadata.get('format_version')}, this tool reads {GOLDEN_VERSION}"
    )
  names = metadata.get("input_names") or []
  if (
    inputs.dtype != np.uint8
    or inputs.ndim != 4
    or inputs.shape[3] != 3
    or outputs.ndim != 2
    or not len(names) == len(inputs) == len(outputs)
  ):
    raise VerifyInputError(
      f"{golden_path}: inconsistent golden (inputs {list(inputs.shape)} "
      f"{inputs.dtype}, outputs {list(outputs.shape)}, "
      f"{len(names)} input names)"
    )
  return metadata, inputs, outputs.astype(np.float32)


def expectation_from_golden(
  golden_path: str, spec: variants.ModelSpec
) -> expectation_lib.Expectation:
  """The stored reference; it must be for this variant and module type."""
  started = time.perf_counter()
  metadata, inputs, outputs = read_golden(golden_path)
  stored = (
    metadata.get("depth_multiplier"),
    metadata.get("image_size"),
    metadata.get("module_type"),
  )
  multiplier_ok = (
    isinstance(stored[0], (int, float)) and abs(stored[0] - spec.depth_multiplier) < 1e-9
  )
  if not multiplier_ok or stored[1:] != (spec.image_size, spec.module_type):
    raise VerifyInputError(
      f"{golden_path}: golden is for depth multiplier {stored[0]}, image size {stored[1]}, "
      f"{stored[2]}; verifying {spec.depth_multiplier}, {spec.image_size}, {spec.module_type}"
    )
  if inputs.shape[1:3] != (spec.image_size, spec.image_size):
    raise VerifyInputError(
      f"{golden_path}: golden inputs are {inputs.shape[2]}x"
      f"{inputs.shape[1]}, its metadata says image size {spec.image_size}"
    )
  source = {"kind": "golden", "path": str(golden_path), "metadata": metadata}
  return expectation_lib.Expectation(
    spec,
    list(metadata["input_names"]),
    inputs,
    outputs,
    None,
    source,
    time.perf_counter() - started,
  )
