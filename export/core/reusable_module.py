"""The TF Hub "Reusable SavedModel" around `export.core.network.MobileNetV2`.

The root object carries what `hub.KerasLayer` reads: `__call__(inputs, training=False,
batch_norm_momentum=...)` traced for both values of `training`, `variables`,
`trainable_variables` and `regularization_losses`; the classifier also carries its labels.
"""

import hashlib
import os
from typing import Mapping
from typing import Optional

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2
from tensorflow.python.saved_model import save_context

from export.base import errors
from export.core import labels
from export.core import network as network_lib
from export.core import options as options_lib
from nets import architecture
from nets import variants

SERVING_INPUT_NAME = "inputs"
OUTPUT_NAMES = {"classification": "logits", "feature_vector": "feature_vector"}
# trace() and save() must use the same options: they are part of a tf.function's cache key.
_SAVE_OPTIONS = tf.saved_model.SaveOptions()


class ReusableModule(tf.__internal__.tracking.AutoTrackable):
  """A trackable that, unlike tf.Module, lets `variables` be saved as a plain list."""


def build(
  values: Mapping[str, np.ndarray],
  spec: variants.ModelSpec,
  batch_norm_momentum_default: float,
  labels_file: str = labels.LABELS_FILE,
) -> ReusableModule:
  num_classes = spec.num_classes
  network = network_lib.MobileNetV2(spec.depth_multiplier, values, num_classes)
  root = ReusableModule()
  root.network = network
  root.variables = list(network.model_variables)
  root.trainable_variables = [v for v in network.model_variables if v.trainable]
  root.regularization_losses = network.regularization_losses()
  root.image_size = spec.image_size
  root.module_type = spec.module_type
  if num_classes:
    root.labels_file = tf.saved_model.Asset(labels_file)

  def call(inputs, training=False, batch_norm_momentum=batch_norm_momentum_default):
    return network(architecture.network_input(inputs), training, batch_norm_momentum)

  # The network has no data-dependent control flow: AutoGraph would only slow tracing down.
  root.__call__ = tf.function(call, autograph=False)
  return root


def input_spec(image_size: int) -> tf.TensorSpec:
  return tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name=SERVING_INPUT_NAME)


def trace(root: ReusableModule, serving_signature: bool) -> Optional[dict]:
  """Traces `__call__` for training and inference; returns the signatures to save, if any.

  Tracing happens in the save context that `save()` enters: a tf.function's cache key records
  whether it was traced in one, so tf.saved_model.save would otherwise trace every function
  again, and the serving signature's call of `__call__` would be saved twice.
  """
  images = input_spec(root.image_size)
  momentum = tf.TensorSpec([], tf.float32, name="batch_norm_momentum")
  with save_context.save_context(_SAVE_OPTIONS):
    for training in (False, True):
      root.__call__.get_concrete_function(images, training, momentum)
    if not serving_signature:
      return None
    output_name = OUTPUT_NAMES[root.module_type]
    # Traced from the spec, as save() looks it up; traced from the serving function's input
    # instead, the default-momentum inference would be saved twice.
    inference = root.__call__.get_concrete_function(images, training=False)

    @tf.function(input_signature=[images], autograph=False)
    def serving_default(inputs):
      return {output_name: inference(inputs)}

    serving_default.get_concrete_function()
  return {"serving_default": serving_default}


def save(root: ReusableModule, directory: str, signatures: Optional[dict]) -> None:
  tf.saved_model.save(root, directory, signatures=signatures, options=_SAVE_OPTIONS)
  _make_fingerprint_reproducible(directory)


def _make_fingerprint_reproducible(directory: str) -> None:
  """Replaces the random `uuid` of fingerprint.pb with one derived from the content hashes.

  Everything else TensorFlow writes is a function of the module; the uuid alone would make
  two exports of the same checkpoint differ (see WORKSPACE-notes.md).
  """
  path = os.path.join(directory, "fingerprint.pb")
  fingerprint = fingerprint_pb2.FingerprintDef()
  with open(path, "rb") as stored:
    fingerprint.ParseFromString(stored.read())
  fingerprint.uuid = ""
  digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
  fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
  with open(path, "wb") as stored:
    stored.write(fingerprint.SerializeToString(deterministic=True))


# --- reading an export back -------------------------------------------------------------
class UnusableExport(errors.Failure):
  """An export directory that is not a loadable Reusable SavedModel; the message is one line."""


def check_export_dir(export_dir: str) -> None:
  if not os.path.isdir(export_dir):
    raise UnusableExport(f"{export_dir}: export directory not found")
  if not options_lib.holds_saved_model(export_dir):
    raise UnusableExport(f"{export_dir}: not a SavedModel (no saved_model.pb)")


def load(export_dir: str):
  """The SavedModel loaded on its own; it must have a `__call__`."""
  check_export_dir(export_dir)
  try:
    loaded = tf.saved_model.load(export_dir)
  except Exception as error:  # pylint: disable=broad-except  (any failure: unusable export)
    raise UnusableExport(
      f"{export_dir}: cannot load the SavedModel ({errors.first_line(error)})"
    ) from None
  if not callable(loaded):
    raise UnusableExport(f"{export_dir}: not a Reusable SavedModel (no __call__)")
  return loaded


def traced_calls(loaded) -> list:
  """(image TensorSpec, output structure) of each traced `__call__` taking NHWC images."""
  calls = []
  for function in getattr(loaded.__call__, "concrete_functions", None) or ():
    args, _ = function.structured_input_signature
    if args and isinstance(args[0], tf.TensorSpec) and args[0].shape.rank == 4:
      calls.append((args[0], function.structured_outputs))
  return calls
