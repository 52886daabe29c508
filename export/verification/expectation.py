"""What a faithful export must reproduce: the probe outputs of its checkpoint, and its values.

`expectation_from_checkpoint` runs the fixed probe images (export/base/probe_images.py)
through the checkpoint's network with its EMA weights, and reads the values every variable of
the export must hold with this module's own reader (`expected_variables`: the shadow of a
trainable variable, the plain value of a batch-norm statistic), independently of the
exporter's restore, so that a bug there cannot hide itself. The network is the TF-Slim graph
(TF_SLIM, as TF-Slim evaluates; for checking exports) or the fixed-order float64 network
(FLOAT64, whose bits are the same on every machine; for goldens).
"""

import dataclasses
import glob
import hashlib
import os
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from export.base import errors
from export.base import probe_images
from export.core import checkpoint
from export.verification import reference
from nets import architecture
from nets import numpy_mobilenet_v2
from nets import variants

# The networks a checkpoint's reference outputs can come from.
TF_SLIM, FLOAT64 = "tf_slim", "float64"
REFERENCE_NETWORKS = (TF_SLIM, FLOAT64)
REFERENCE_DESCRIPTIONS = {
  TF_SLIM: "TF-Slim graph (nets/mobilenet_v2.py) fed 2x - 1, EMA weights",
  FLOAT64: "float64 network summed in a fixed order (nets/numpy_mobilenet_v2.py) fed 2x - 1, "
  "EMA weights, rounded to float32: the same bits on every machine",
}


class VerifyInputError(errors.Failure):
  """Verification cannot run (missing, corrupt or mismatched inputs); the message is one line."""


# --- what a faithful export must reproduce ----------------------------------------------
@dataclasses.dataclass
class Expectation:
  """The probe inputs and the reference's outputs on them (and the variables, if known)."""

  spec: variants.ModelSpec
  input_names: list
  inputs: np.ndarray  # uint8 [N, S, S, 3]; the images are inputs / 255
  outputs: np.ndarray  # float32 [N, K]: logits or features of the reference
  variables: Optional[dict]  # TF-Slim name -> value the export must hold; None for a golden
  source: dict  # where the reference came from, for the report
  seconds: float = 0.0  # time taken to compute or read it


def expectation_from_checkpoint(
  checkpoint_path: str,
  spec: variants.ModelSpec,
  *,
  reference_network: str = TF_SLIM,
) -> Expectation:
  """The probe set run through the checkpoint's network (EMA weights) and the values the
  export must hold.

  `reference_network` TF_SLIM runs the TF-Slim graph (nets/mobilenet_v2.py), as TF-Slim
  evaluates; FLOAT64 runs the fixed-order float64 network (nets/numpy_mobilenet_v2.py), whose
  outputs have the same bits on every machine, which is what goldens store.
  """
  if reference_network not in REFERENCE_NETWORKS:
    raise ValueError(
      f"reference network must be one of {', '.join(REFERENCE_NETWORKS)}, got {reference_network!r}"
    )
  return _expectations(checkpoint_path, [spec], reference_network)[0]


def expectations_from_checkpoint(checkpoint_path: str, specs: list) -> list:
  """`expectation_from_checkpoint` (TF_SLIM) of each of `specs`, the module types of one
  variant, from one run of one TF-Slim graph: the classifier's, whose global pool is the
  feature vector (its head only follows it), so the outputs are those each spec's own graph
  gives, bit for bit."""
  if len({(spec.depth_multiplier, spec.image_size) for spec in specs}) != 1:
    raise ValueError(f"expected the module types of one variant, got {specs}")
  return _expectations(checkpoint_path, specs, TF_SLIM)


def _expectations(checkpoint_path: str, specs: list, reference_network: str) -> list:
  started = time.perf_counter()
  names, inputs = probe_images.probe_uint8(specs[0].image_size)
  images = probe_images.to_float(inputs)
  with checkpoint.opened(checkpoint_path) as prefix:
    values = [expected_variables(prefix, spec) for spec in specs]
    digest, files = checkpoint_digest(prefix)
    if reference_network == TF_SLIM:
      outputs = _tf_slim_outputs(prefix, specs, images)
    else:
      outputs = [
        numpy_mobilenet_v2.mobilenet_v2(
          architecture.network_input(images.astype(np.float64)),
          spec_values,
          spec.depth_multiplier,
          num_classes=spec.num_classes,
        )[0]
        for spec, spec_values in zip(specs, values)
      ]
  source = {
    "kind": "checkpoint",
    "path": str(checkpoint_path),
    "sha256": digest,
    "files": files,
    "use_ema": True,
    "probe_set_version": probe_images.PROBE_SET_VERSION,
    "network": reference_network,
  }
  seconds = time.perf_counter() - started
  return [
    Expectation(spec, names, inputs, output.astype(np.float32), spec_values, dict(source), seconds)
    for spec, output, spec_values in zip(specs, outputs, values)
  ]


def expected_variables(prefix: str, spec: variants.ModelSpec) -> dict:
  """TF-Slim name -> the value an export of the checkpoint must hold, read here rather than by
  the exporter (so that a bug in its restore cannot hide itself): a trainable variable's
  `/ExponentialMovingAverage` shadow when the checkpoint has one, else its plain value."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_variable_to_shape_map()
    values = {}
    for variable in architecture.variable_specs(spec.depth_multiplier, spec.num_classes):
      shadow = architecture.ema_name(variable.name)
      name = shadow if variable.trainable and shadow in stored else variable.name
      if name not in stored:
        raise checkpoint.CheckpointError(
          f"{prefix}: variable {variable.name} is missing (expected shape "
          f"{list(variable.shape)} for depth multiplier {spec.depth_multiplier})"
        )
      if tuple(stored[name]) != variable.shape:
        raise checkpoint.CheckpointError(
          f"{prefix}: variable {name} has shape {list(stored[name])}, expected "
          f"{list(variable.shape)} for depth multiplier {spec.depth_multiplier}"
        )
      with errors.signals_held():  # as checkpoint.read_tensors: not lost in the reader's C++
        values[variable.name] = reader.get_tensor(name)
  except (tf.errors.OpError, ValueError, IndexError) as error:
    raise checkpoint.CheckpointError(
      f"{prefix}: cannot read checkpoint ({errors.first_line(error)})"
    ) from None
  return values


def _tf_slim_outputs(prefix, specs, images) -> list:
  """Each spec's outputs, from one graph: a classifier's if any spec is one."""
  widest = max(specs, key=lambda spec: spec.num_classes or 0)
  with reference.SlimReference(prefix, widest, use_ema=True) as slim:
    batches = [
      slim.output_and_features(images[start:stop])
      for start, stop in probe_images.batch_plan(len(images))[1:]
    ]
  by_classes = {
    widest.num_classes: np.concatenate([output for output, _ in batches]),
    None: np.concatenate([features for _, features in batches]),
  }
  return [by_classes[spec.num_classes] for spec in specs]


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
