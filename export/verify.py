r"""Verifies an exported SavedModel against its TF-Slim checkpoint, or against a stored golden.

  python -m export.verify --export_dir=/tmp/mobilenet_v2_075_96 \
      --checkpoint_path=mobilenet_v2_0.75_96.ckpt --variant=mobilenet_v2_075_96 \
      --module_type=classification --report=/tmp/verify_075_96.json

The reference is the checkpoint run through the TF-Slim graph as TF-Slim evaluates it
(export/reference.py: EMA shadows, images fed as 2x - 1). The candidate is the SavedModel
loaded on its own with `tf.saved_model.load` and called on the same [0, 1] images: the fixed
probe set of export/probe_images.py, the first image alone and then in batches of 8.

The checks, in this order; the first failing one names the verdict:

  module_type  the export returns what the module type promises: [N, 1001] logits for
               classification, [N, features] for feature_vector.
  variables    every variable of the export holds exactly (bit for bit) the checkpoint value
               it should: EMA shadow for trainables, plain value for batch-norm statistics;
               none missing, none extra (a feature vector holds no Logits variables).
  outputs      on every probe input, max |export - reference| <= 1e-4 * (1 + max |reference|).
  top1, top5   (classification) the same top-1 class and the same top-5 set on every input,
               except where the reference itself ties within the output tolerance.

The tolerance covers float32 reordering (Grappler folds batch norm into the convolutions,
oneDNN picks its own kernels), which moves logits by ~1e-6 of their scale; raw instead of EMA
weights or a wrong input scaling moves them by 1 or more (docs/verification.md has the
measured margins). Weights are compared exactly, so one wrong value is caught on its own.

With `--golden` instead of a checkpoint, the reference outputs come from a golden file written
earlier with `--write_golden`: a versioned .npz of the probe inputs (uint8), the reference
outputs and JSON metadata (`save_golden`, docs/verification.md). The variables cannot be
compared then, and the report says so. Exit codes: 0 every check holds, 1 a check fails,
2 the verification could not run (bad flags; a missing, corrupt or mismatched checkpoint,
export or golden).
"""

import dataclasses
import glob
import hashlib
import io
import json
import math
import os
import tempfile
import time
import zipfile
from typing import Optional

from absl import flags
import numpy as np
import tensorflow as tf

from export import checkpoint
from export import cli
from export import probe_images
from export import reference
from export import reusable_module
from nets import architecture
from nets import numpy_mobilenet_v2
from nets import variants

OUTPUT_TOLERANCE = 1e-4  # max |diff| <= OUTPUT_TOLERANCE * (1 + max |reference|), per input
TOP_K = 5
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
# The networks a checkpoint's reference outputs can come from (see expectation_from_checkpoint).
TF_SLIM, FLOAT64 = "tf_slim", "float64"
REFERENCE_NETWORKS = (TF_SLIM, FLOAT64)
_REFERENCE_DESCRIPTIONS = {
    TF_SLIM: "TF-Slim graph (nets/mobilenet_v2.py) fed 2x - 1, EMA weights",
    FLOAT64: "float64 network summed in a fixed order (nets/numpy_mobilenet_v2.py) fed 2x - 1, "
             "EMA weights, rounded to float32: the same bits on every machine",
}

REPORT_FORMAT = "mobilenet_v2_verification_report"
REPORT_VERSION = 1
GOLDEN_FORMAT = "mobilenet_v2_verification_golden"
GOLDEN_VERSION = 1
GOLDEN_TOOL = "export.verify (slim-mobilenet-hub)"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so a golden's bytes depend on its contents only


class VerifyInputError(Exception):
  """Verification cannot run (missing, corrupt or mismatched inputs); the message is one line."""


# --- what a faithful export must reproduce ----------------------------------------------
@dataclasses.dataclass
class Expectation:
  """The probe inputs and the reference's outputs on them (and the variables, if known)."""
  depth_multiplier: float
  image_size: int
  module_type: str
  input_names: list
  inputs: np.ndarray  # uint8 [N, S, S, 3]; the images are inputs / 255
  outputs: np.ndarray  # float32 [N, K]: logits or features of the reference
  variables: Optional[dict]  # TF-Slim name -> value the export must hold; None for a golden
  source: dict  # where the reference came from, for the report
  seconds: float = 0.0  # time taken to compute or read it


def expectation_from_checkpoint(checkpoint_path: str, *, depth_multiplier: float,
                                image_size: int, module_type: str,
                                reference_network: str = TF_SLIM) -> Expectation:
  """The probe set run through the checkpoint's network (EMA weights) and the values the
  export must hold.

  `reference_network` TF_SLIM runs the TF-Slim graph (nets/mobilenet_v2.py), as TF-Slim
  evaluates; FLOAT64 runs the fixed-order float64 network (nets/numpy_mobilenet_v2.py), whose
  outputs have the same bits on every machine, which is what goldens store.
  """
  _check_variant(depth_multiplier, image_size, module_type)
  if reference_network not in REFERENCE_NETWORKS:
    raise ValueError(f"reference network must be one of {', '.join(REFERENCE_NETWORKS)}, got "
                     f"{reference_network!r}")
  started = time.perf_counter()
  names, inputs = probe_images.probe_uint8(image_size)
  images = probe_images.to_float(inputs)
  with checkpoint.opened(checkpoint_path) as prefix:
    values = expected_variables(prefix, depth_multiplier, module_type)
    digest, files = checkpoint_digest(prefix)
    if reference_network == TF_SLIM:
      outputs = _tf_slim_outputs(prefix, depth_multiplier, image_size, module_type, images)
    else:
      outputs, _ = numpy_mobilenet_v2.mobilenet_v2(
          images.astype(np.float64) * 2.0 - 1.0, values, depth_multiplier,
          num_classes=_num_classes(module_type))
  source = {"kind": "checkpoint", "path": str(checkpoint_path), "sha256": digest,
            "files": files, "use_ema": True, "probe_set_version": probe_images.PROBE_SET_VERSION,
            "network": reference_network}
  return Expectation(depth_multiplier, image_size, module_type, names, inputs,
                     outputs.astype(np.float32), values, source, time.perf_counter() - started)


def expected_variables(prefix: str, depth_multiplier: float, module_type: str) -> dict:
  """TF-Slim name -> the value an export of the checkpoint must hold, read here rather than by
  the exporter (so that a bug in its restore cannot hide itself): a trainable variable's
  `/ExponentialMovingAverage` shadow when the checkpoint has one, else its plain value."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_variable_to_shape_map()
    values = {}
    for spec in architecture.variable_specs(depth_multiplier, _num_classes(module_type)):
      shadow = architecture.ema_name(spec.name)
      name = shadow if spec.trainable and shadow in stored else spec.name
      if name not in stored:
        raise checkpoint.CheckpointError(
            f"{prefix}: variable {spec.name} is missing (expected shape {list(spec.shape)} for "
            f"depth multiplier {depth_multiplier})")
      if tuple(stored[name]) != spec.shape:
        raise checkpoint.CheckpointError(
            f"{prefix}: variable {name} has shape {list(stored[name])}, expected "
            f"{list(spec.shape)} for depth multiplier {depth_multiplier}")
      values[spec.name] = reader.get_tensor(name)
  except (tf.errors.OpError, ValueError, IndexError) as error:
    raise checkpoint.CheckpointError(
        f"{prefix}: cannot read checkpoint ({checkpoint.first_line(error)})") from None
  return values


def _tf_slim_outputs(prefix, depth_multiplier, image_size, module_type, images):
  with reference.SlimReference(prefix, depth_multiplier, image_size, module_type,
                               use_ema=True) as slim:
    return np.concatenate([slim(images[start:stop]) for start, stop in
                           probe_images.batch_plan(len(images))[1:]])


def checkpoint_digest(prefix: str):
  """(sha256 hex, file names): the digest over `<prefix>.index`, then each data file in name
  order; a checkpoint is the same whether it came as a prefix or inside a .tgz archive."""
  paths = [prefix + ".index"] + sorted(glob.glob(glob.escape(prefix) + ".data-*-of-*"))
  digest = hashlib.sha256()
  for path in paths:
    try:
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          digest.update(block)
    except OSError as error:
      raise checkpoint.CheckpointError(f"{path}: cannot read ({error.strerror})") from None
  return digest.hexdigest(), [os.path.basename(path) for path in paths]


def _num_classes(module_type: str) -> Optional[int]:
  return None if module_type == "feature_vector" else architecture.NUM_CLASSES


def _check_variant(depth_multiplier, image_size, module_type) -> None:
  try:
    cli.check_module_type(module_type)
    cli.check_depth_multiplier_and_size(depth_multiplier, image_size)
  except ValueError as error:
    raise VerifyInputError(str(error)) from None


# --- goldens -----------------------------------------------------------------------------
def write_golden(golden_path: str, *, checkpoint_path: str, depth_multiplier: float,
                 image_size: int, module_type: str) -> Expectation:
  """Computes the reference from the checkpoint and stores it as a golden file."""
  expectation = expectation_from_checkpoint(
      checkpoint_path, depth_multiplier=depth_multiplier, image_size=image_size,
      module_type=module_type, reference_network=FLOAT64)
  save_golden(golden_path, expectation)
  return expectation


def golden_metadata(expectation: Expectation) -> dict:
  source = expectation.source
  return {
      "format": GOLDEN_FORMAT,
      "format_version": GOLDEN_VERSION,
      "variant": variants.checkpoint_stem(expectation.depth_multiplier, expectation.image_size),
      "depth_multiplier": expectation.depth_multiplier,
      "image_size": expectation.image_size,
      "module_type": expectation.module_type,
      "checkpoint": {"name": os.path.basename(source["path"]), "sha256": source["sha256"],
                     "files": source["files"], "use_ema": source["use_ema"]},
      "reference": _REFERENCE_DESCRIPTIONS[source["network"]],
      "probe_set_version": probe_images.PROBE_SET_VERSION,
      "input_names": list(expectation.input_names),
      "input_encoding": "uint8 pixels; the image fed is pixels / 255 in float32",
      "created_by": GOLDEN_TOOL,
  }


def save_golden(golden_path: str, expectation: Expectation) -> None:
  """Writes a golden: a .npz of inputs, outputs and a JSON metadata string, atomically."""
  if expectation.source.get("kind") != "checkpoint":
    raise VerifyInputError("a golden is written from a checkpoint, not from another golden")
  if expectation.source.get("network") != FLOAT64:
    # TensorFlow's outputs differ in their last bits between machines; a golden must not.
    raise VerifyInputError("a golden stores the float64 network's outputs (reference_network="
                           "FLOAT64), whose bits are the same on every machine")
  metadata = json.dumps(golden_metadata(expectation), sort_keys=True)
  _write_npz(golden_path, {"inputs": expectation.inputs,
                           "outputs": expectation.outputs.astype(np.float32),
                           "metadata": np.array(metadata)})


def _write_npz(path: str, arrays: dict) -> None:
  # np.savez stamps each member with the current time; fixed stamps keep goldens
  # byte-for-byte reproducible. np.load reads the result like any .npz.
  directory = os.path.dirname(os.path.abspath(path))
  staging = None
  try:
    os.makedirs(directory, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".golden-", suffix=".npz", dir=directory)
    with os.fdopen(handle, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
      for name, array in arrays.items():
        member = io.BytesIO()
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, member.getvalue())
    os.chmod(staging, 0o644)  # mkstemp's 0600 would be odd for a committed file
    os.replace(staging, path)
  except OSError as error:
    raise VerifyInputError(f"{path}: cannot write the golden ({error.strerror})") from None
  finally:
    if staging and os.path.exists(staging):
      os.remove(staging)


def read_golden(golden_path: str):
  """(metadata dict, inputs uint8 [N, S, S, 3], outputs float32 [N, K]) of a golden file."""
  if not os.path.isfile(golden_path):
    raise VerifyInputError(f"{golden_path}: golden file not found")
  try:
    with np.load(golden_path, allow_pickle=False) as golden:
      metadata = json.loads(str(golden["metadata"][()]))
      inputs, outputs = golden["inputs"], golden["outputs"]
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
    raise VerifyInputError(f"{golden_path}: not a readable golden file "
                           f"({checkpoint.first_line(error)})") from None
  if not isinstance(metadata, dict) or metadata.get("format") != GOLDEN_FORMAT:
    raise VerifyInputError(f"{golden_path}: not a verification golden (format is not "
                           f"{GOLDEN_FORMAT!r})")
  if metadata.get("format_version") != GOLDEN_VERSION:
    raise VerifyInputError(f"{golden_path}: golden format version "
                           f"{metadata.get('format_version')}, this tool reads {GOLDEN_VERSION}")
  names = metadata.get("input_names") or []
  if (inputs.dtype != np.uint8 or inputs.ndim != 4 or inputs.shape[3] != 3
      or outputs.ndim != 2 or not len(names) == len(inputs) == len(outputs)):
    raise VerifyInputError(f"{golden_path}: inconsistent golden (inputs {list(inputs.shape)} "
                           f"{inputs.dtype}, outputs {list(outputs.shape)}, "
                           f"{len(names)} input names)")
  return metadata, inputs, outputs.astype(np.float32)


def expectation_from_golden(golden_path: str, *, depth_multiplier: float, image_size: int,
                            module_type: str) -> Expectation:
  """The stored reference; it must be for this variant and module type."""
  _check_variant(depth_multiplier, image_size, module_type)
  started = time.perf_counter()
  metadata, inputs, outputs = read_golden(golden_path)
  stored = (metadata.get("depth_multiplier"), metadata.get("image_size"),
            metadata.get("module_type"))
  multiplier_ok = isinstance(stored[0], (int, float)) and abs(stored[0] - depth_multiplier) < 1e-9
  if not multiplier_ok or stored[1:] != (image_size, module_type):
    raise VerifyInputError(
        f"{golden_path}: golden is for depth multiplier {stored[0]}, image size {stored[1]}, "
        f"{stored[2]}; verifying {depth_multiplier}, {image_size}, {module_type}")
  if inputs.shape[1:3] != (image_size, image_size):
    raise VerifyInputError(f"{golden_path}: golden inputs are {inputs.shape[2]}x"
                           f"{inputs.shape[1]}, its metadata says image size {image_size}")
  source = {"kind": "golden", "path": str(golden_path), "metadata": metadata}
  return Expectation(depth_multiplier, image_size, module_type, list(metadata["input_names"]),
                     inputs, outputs, None, source, time.perf_counter() - started)


# --- the report --------------------------------------------------------------------------
@dataclasses.dataclass
class Check:
  name: str
  status: str  # PASS, FAIL or SKIPPED
  summary: str  # one line
  details: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Report:
  export_dir: str
  depth_multiplier: float
  image_size: int
  module_type: str
  reference: dict
  checks: list
  evaluations: list  # per (input, batch size): error figures and agreement
  timings: dict

  @property
  def passed(self) -> bool:
    return all(check.status != FAIL for check in self.checks)

  @property
  def first_failure(self) -> Optional[str]:
    """"<check>: <summary>" of the first failing check, or None."""
    failed = [check for check in self.checks if check.status == FAIL]
    return f"{failed[0].name}: {failed[0].summary}" if failed else None

  def summary(self) -> str:
    """The verdict line: "PASS ..." or "FAIL <check>: <why>"."""
    if not self.passed:
      return f"FAIL {self.first_failure}"
    skipped = [check.name for check in self.checks if check.status == SKIPPED]
    return (f"PASS: {self.export_dir} matches the {self.reference['kind']} "
            f"({', '.join(c.name for c in self.checks if c.status == PASS)})"
            + (f"; not checked: {', '.join(skipped)}" if skipped else ""))

  def text(self) -> str:
    lines = [f"  {check.status.upper():7} {check.name}: {check.summary}" for check in self.checks]
    return "\n".join(lines + [self.summary()])

  def to_dict(self) -> dict:
    return _json_safe({
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "passed": self.passed,
        "first_failure": self.first_failure,
        "export_dir": self.export_dir,
        "variant": variants.checkpoint_stem(self.depth_multiplier, self.image_size),
        "depth_multiplier": self.depth_multiplier,
        "image_size": self.image_size,
        "module_type": self.module_type,
        "reference": self.reference,
        "tolerance_policy": {
            "outputs": f"max |diff| <= {OUTPUT_TOLERANCE:g} * (1 + max |reference|), per input",
            "top1": "same class on every input, unless the reference's two classes are within "
                    "the output tolerance of each other",
            "top5": "same set on every input, unless every class that differs is within the "
                    "output tolerance of the reference's 5th largest value",
            "variables": "exactly equal, none missing or extra",
        },
        "checks": [dataclasses.asdict(check) for check in self.checks],
        "evaluations": self.evaluations,
        "tensorflow_version": tf.__version__,
        "timings_seconds": self.timings,
    })

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

  def write(self, path: str) -> None:
    with open(path, "w") as f:
      f.write(self.to_json())


def _json_safe(value):
  """Numpy scalars become Python numbers; NaN and infinities become strings."""
  if isinstance(value, dict):
    return {key: _json_safe(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(item) for item in value]
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value


# --- the export --------------------------------------------------------------------------
def check_export_dir(export_dir: str) -> None:
  try:
    reusable_module.check_export_dir(export_dir)
  except reusable_module.UnusableExport as error:
    raise VerifyInputError(str(error)) from None


def load_export(export_dir: str, image_size: int):
  """The SavedModel, loaded on its own; it must take [N, S, S, 3] images."""
  try:
    loaded = reusable_module.load(export_dir)
  except reusable_module.UnusableExport as error:
    raise VerifyInputError(str(error)) from None
  sizes = {tuple(spec.shape[1:3]) for spec, _ in reusable_module.traced_calls(loaded)}
  if sizes and not any(size in ((None, None), (image_size, image_size)) for size in sizes):
    height, width = sorted(sizes, key=str)[0]
    raise VerifyInputError(f"{export_dir}: the export takes {width}x{height} images, but the "
                           f"variant verified has image size {image_size}")
  return loaded


def _run_export(loaded, export_dir: str, images: np.ndarray) -> list:
  """[((start, stop), outputs as numpy)] for each run of the probe batch plan."""
  runs = []
  for start, stop in probe_images.batch_plan(len(images)):
    try:
      outputs = tf.convert_to_tensor(loaded(tf.constant(images[start:stop]))).numpy()
    except (tf.errors.OpError, TypeError, ValueError) as error:
      raise VerifyInputError(f"{export_dir}: calling the export on {stop - start} probe "
                             f"images failed ({checkpoint.first_line(error)})") from None
    runs.append(((start, stop), outputs))
  return runs


# --- the checks --------------------------------------------------------------------------
def _module_type_check(runs, expectation: Expectation, variable_names) -> Check:
  expected = expectation.outputs.shape[1]
  kinds = {"classification": "logits", "feature_vector": "features"}
  want = f"[N, {expected}] {kinds[expectation.module_type]} ({expectation.module_type})"
  has_logits = any(f"/{architecture.LOGITS_SCOPE}/" in name for name in variable_names)
  details = {"expected_output_shape": ["N", expected], "has_logits_variables": has_logits}
  for (start, stop), outputs in runs:
    shape = list(outputs.shape)
    details["output_shape"] = ["N"] + shape[1:]
    if outputs.dtype != np.float32 or shape != [stop - start, expected]:
      looks_like = ""
      if outputs.ndim == 2 and outputs.dtype == np.float32:
        other = "classification" if has_logits else "feature_vector"
        if other != expectation.module_type:
          looks_like = f" (a {other} export?)"
      return Check("module_type", FAIL,
                   f"the export returns {outputs.dtype.name} {shape} for a batch of "
                   f"{stop - start}{looks_like}, expected {want}", details)
  return Check("module_type", PASS, f"outputs {want}", details)


def _variables_check(loaded, expected: Optional[dict]) -> Check:
  if expected is None:
    return Check("variables", SKIPPED, "no checkpoint given: a golden stores outputs only, so "
                 "the variables cannot be compared")
  got = {_variable_name(v): v.numpy() for v in getattr(loaded, "variables", ())}
  missing = [name for name in expected if name not in got]
  extra = sorted(set(got) - set(expected))
  differ = []
  for name, want in expected.items():
    if name in got and not _exactly_equal(got[name], want):
      differ.append({"name": name, **_difference(got[name], want)})
  details = {"compared": len(expected) - len(missing), "differ": differ, "missing": missing,
             "extra": extra}
  if not (differ or missing or extra):
    return Check("variables", PASS, f"{len(expected)} of {len(expected)} exactly equal", details)
  problems = []
  if differ:
    first = differ[0]
    how = (f"max |diff| {first['max_abs_diff']:.3g}" if "max_abs_diff" in first
           else first["mismatch"])
    problems.append(f"{len(differ)} of {len(expected)} differ, first {first['name']} ({how})")
  if missing:
    problems.append(f"{len(missing)} missing, first {missing[0]}")
  if extra:
    problems.append(f"{len(extra)} extra, first {extra[0]}")
  return Check("variables", FAIL, "; ".join(problems), details)


def _variable_name(variable) -> str:
  name = variable.name
  return name[:-len(":0")] if name.endswith(":0") else name


def _exactly_equal(got: np.ndarray, want: np.ndarray) -> bool:
  return (got.dtype == want.dtype and got.shape == want.shape
          and np.array_equal(got, want, equal_nan=True))


def _difference(got: np.ndarray, want: np.ndarray) -> dict:
  if got.shape != want.shape:
    return {"mismatch": f"shape {list(got.shape)}, expected {list(want.shape)}"}
  if got.dtype != want.dtype:
    return {"mismatch": f"dtype {got.dtype.name}, expected {want.dtype.name}"}
  diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
  return {"max_abs_diff": float(np.nanmax(diff)) if not np.isnan(diff).all() else math.nan,
          "elements_differ": int(np.count_nonzero(~(diff == 0)))}


def _evaluations(runs, expectation: Expectation) -> list:
  """Error figures and agreement for each (input, batch size) the export ran on."""
  rows = []
  for (start, stop), outputs in runs:
    for index in range(start, stop):
      got = outputs[index - start].astype(np.float64)
      ref = expectation.outputs[index].astype(np.float64)
      rows.append(_evaluation(expectation.input_names[index], stop - start, got, ref,
                              expectation.module_type == "classification"))
  return rows


def _evaluation(name: str, batch_size: int, got: np.ndarray, ref: np.ndarray,
                classification: bool) -> dict:
  scale = float(np.abs(ref).max())
  tolerance = OUTPUT_TOLERANCE * (1.0 + scale)
  error = float(np.abs(got - ref).max())  # NaN if the export gave NaN
  row = {"input": name, "batch_size": batch_size, "max_abs_error": error,
         "max_rel_error": error / scale if scale > 0 else (0.0 if error == 0 else math.inf),
         "max_abs_reference": scale, "tolerance": tolerance,
         "within_tolerance": bool(error <= tolerance)}
  if classification:
    row.update(_top_k_agreement(got, ref, tolerance))
  return row


def _top_k_agreement(got: np.ndarray, ref: np.ndarray, tolerance: float) -> dict:
  got_top1, ref_top1 = int(np.argmax(got)), int(np.argmax(ref))
  # A disagreement on classes the reference itself cannot tell apart is noise, not an error.
  top1_tie = got_top1 != ref_top1 and ref[ref_top1] - ref[got_top1] <= tolerance
  got_top5, ref_top5 = _top_k(got), _top_k(ref)
  kth = ref[ref_top5].min()
  changed = set(got_top5) ^ set(ref_top5)
  top5_tie = bool(changed) and all(abs(ref[c] - kth) <= tolerance for c in changed)
  return {"top1_export": got_top1, "top1_reference": ref_top1,
          "top1_agree": got_top1 == ref_top1 or bool(top1_tie), "top1_tie": bool(top1_tie),
          "top5_export": got_top5, "top5_reference": ref_top5,
          "top5_agree": not changed or top5_tie, "top5_tie": top5_tie}


def _top_k(values: np.ndarray) -> list:
  return [int(i) for i in np.argsort(-values, kind="stable")[:TOP_K]]


def _outputs_check(rows: list) -> Check:
  worst = max(rows, key=lambda row: _ratio(row["max_abs_error"], row["tolerance"]))
  details = {"evaluations": len(rows), "max_abs_error": max(r["max_abs_error"] for r in rows),
             "max_rel_error": max(r["max_rel_error"] for r in rows),
             "worst_input": worst["input"], "worst_batch_size": worst["batch_size"],
             "worst_fraction_of_tolerance": _ratio(worst["max_abs_error"], worst["tolerance"])}
  where = f"on input '{worst['input']}'" + (" (batch size 1)" if worst["batch_size"] == 1 else "")
  if not worst["within_tolerance"]:
    return Check("outputs", FAIL, f"max |diff| {worst['max_abs_error']:.3g} > tolerance "
                 f"{worst['tolerance']:.2g} {where}", details)
  return Check("outputs", PASS,
               f"max |diff| {details['max_abs_error']:.2g} on {len(rows)} evaluations; worst "
               f"{where}, at {100 * details['worst_fraction_of_tolerance']:.2g}% of its tolerance",
               details)


def _ratio(error: float, tolerance: float) -> float:
  return math.inf if math.isnan(error) else error / tolerance


def _agreement_check(rows: list, k: int) -> Check:
  key = f"top{k}"
  disagree = [row for row in rows if not row[f"{key}_agree"]]
  ties = sum(row[f"{key}_tie"] for row in rows)
  details = {"agree": len(rows) - len(disagree), "evaluations": len(rows),
             "agree_by_tie": ties}
  tie_note = f" ({ties} by a tie within tolerance)" if ties else ""
  if not disagree:
    return Check(key, PASS, f"{len(rows)} of {len(rows)} agree{tie_note}", details)
  first = disagree[0]
  what = "class" if k == 1 else "set"
  return Check(key, FAIL,
               f"{len(disagree)} of {len(rows)} differ, first on input '{first['input']}' "
               f"(export {what} {first[f'{key}_export']}, reference {first[f'{key}_reference']})",
               details)


def _output_checks(rows: list, module_type: str) -> list:
  """outputs, top1 and top5; skipped where there is nothing to compare."""
  if not rows:
    return [Check(name, SKIPPED, "the export's outputs have another shape")
            for name in ("outputs", "top1", "top5")]
  if module_type != "classification":
    return [_outputs_check(rows)] + [Check(name, SKIPPED, "feature vectors have no classes")
                                     for name in ("top1", "top5")]
  return [_outputs_check(rows), _agreement_check(rows, 1), _agreement_check(rows, TOP_K)]


# --- verification ------------------------------------------------------------------------
def compare(export_dir: str, expectation: Expectation) -> Report:
  """Runs every check of the export at `export_dir` against `expectation`."""
  started = time.perf_counter()
  loaded = load_export(export_dir, expectation.image_size)
  loaded_at = time.perf_counter()
  runs = _run_export(loaded, export_dir, probe_images.to_float(expectation.inputs))
  variable_names = [_variable_name(v) for v in getattr(loaded, "variables", ())]
  checks = [_module_type_check(runs, expectation, variable_names),
            _variables_check(loaded, expectation.variables)]
  rows = _evaluations(runs, expectation) if checks[0].status == PASS else []
  checks += _output_checks(rows, expectation.module_type)
  finished = time.perf_counter()
  timings = {"reference": round(expectation.seconds, 3),
             "load_export": round(loaded_at - started, 3),
             "run_and_compare": round(finished - loaded_at, 3)}
  return Report(str(export_dir), expectation.depth_multiplier, expectation.image_size,
                expectation.module_type, dict(expectation.source), checks, rows, timings)


def verify(export_dir: str, *, checkpoint_path: Optional[str] = None,
           golden_path: Optional[str] = None, depth_multiplier: float, image_size: int,
           module_type: str) -> Report:
  """Verifies an export against a checkpoint or (without one) against a golden file.

  Raises VerifyInputError or checkpoint.CheckpointError when verification cannot run.
  """
  if (checkpoint_path is None) == (golden_path is None):
    raise VerifyInputError("give exactly one of a checkpoint path and a golden path")
  check_export_dir(export_dir)  # before the reference, which takes seconds
  return compare(export_dir, _expectation(checkpoint_path, golden_path, depth_multiplier,
                                          image_size, module_type))


def _expectation(checkpoint_path, golden_path, depth_multiplier, image_size, module_type):
  variant = dict(depth_multiplier=depth_multiplier, image_size=image_size,
                 module_type=module_type)
  if checkpoint_path:
    return expectation_from_checkpoint(checkpoint_path, **variant)
  return expectation_from_golden(golden_path, **variant)


# --- the binary --------------------------------------------------------------------------
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class _Options:
  export_dir: Optional[str]
  checkpoint_path: Optional[str]
  golden: Optional[str]
  write_golden: Optional[str]
  report: Optional[str]
  depth_multiplier: float
  image_size: int
  module_type: str


def _define_flags() -> None:
  # Defined only when run as a binary: the exporter defines the same names at import.
  cli.define_variant_flags()
  flags.DEFINE_string("export_dir", None, "The SavedModel to verify.")
  flags.DEFINE_string("checkpoint_path", None,
                      "Checkpoint prefix (.../mobilenet_v2_0.75_96.ckpt) or released .tgz the "
                      "export was made from: the reference.")
  flags.DEFINE_string("golden", None,
                      "A golden file (--write_golden) to verify against instead of a checkpoint; "
                      "variables are then not compared.")
  flags.DEFINE_string("write_golden", None,
                      "Also store the checkpoint's reference outputs as a golden file here "
                      "(--export_dir is then optional).")
  flags.DEFINE_enum("module_type", "classification", list(variants.MODULE_TYPES),
                    "Classification (logits) or feature_vector module.")
  flags.DEFINE_string("report", None, "Write the JSON report here.")


def _options_from_flags(argv) -> _Options:
  cli.reject_positional_arguments(argv)
  depth_multiplier, image_size = cli.variant_from_flags()
  if bool(FLAGS.checkpoint_path) == bool(FLAGS.golden):
    raise ValueError("give exactly one of --checkpoint_path and --golden")
  if FLAGS.write_golden and not FLAGS.checkpoint_path:
    raise ValueError("--write_golden needs --checkpoint_path (a golden stores a checkpoint's "
                     "outputs)")
  if not FLAGS.export_dir and not FLAGS.write_golden:
    raise ValueError("--export_dir is required (unless only writing a golden)")
  try:
    if FLAGS.export_dir:
      check_export_dir(FLAGS.export_dir)
    if FLAGS.report:
      _check_writable(FLAGS.report)
  except VerifyInputError as error:
    raise ValueError(str(error)) from None
  return _Options(FLAGS.export_dir, FLAGS.checkpoint_path, FLAGS.golden, FLAGS.write_golden,
                  FLAGS.report, depth_multiplier, image_size, FLAGS.module_type)


def _check_writable(path: str) -> None:
  # Checked before the work: a report that cannot be written should not cost a verification.
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory) or os.path.isdir(path):
    raise VerifyInputError(f"{path}: cannot write a report there (no such directory, or it "
                           f"is a directory)")


def _verify_from_options(options: _Options) -> int:
  variant = dict(depth_multiplier=options.depth_multiplier, image_size=options.image_size,
                 module_type=options.module_type)
  if options.write_golden:
    golden = write_golden(options.write_golden, checkpoint_path=options.checkpoint_path,
                          **variant)
    print(f"wrote golden {options.write_golden}: {len(golden.input_names)} inputs, "
          f"outputs {list(golden.outputs.shape)}, checkpoint sha256 {golden.source['sha256']}")
  if not options.export_dir:
    return 0
  report = compare(options.export_dir, _expectation(options.checkpoint_path, options.golden,
                                                    **variant))
  if options.report:
    try:
      report.write(options.report)
    except OSError as error:
      raise VerifyInputError(f"{options.report}: cannot write the report "
                             f"({error.strerror})") from None
    print(f"wrote report {options.report}")
  print(report.text())  # the verdict comes last
  return 0 if report.passed else 1


def main(argv) -> int:
  options = cli.parse_or_exit(_options_from_flags, argv)
  try:
    return _verify_from_options(options)
  except (VerifyInputError, checkpoint.CheckpointError) as error:
    cli.fail(str(error), exit_code=cli.USAGE_ERROR)


def run() -> None:
  """Console-script entry point (mobilenet-v2-verify)."""
  _define_flags()
  cli.run(main)


if __name__ == "__main__":
  run()
