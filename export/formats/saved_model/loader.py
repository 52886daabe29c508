"""A SavedModel directory loaded on its own with `tf.saved_model.load`, as verification and
classification run it."""

import os

import tensorflow as tf

from export.core import labels as labels_lib
from export.core import reusable_module
from export.formats import format as format_lib


def check(export_dir: str) -> None:
  """LoadError unless `export_dir` looks like a SavedModel directory (without loading it)."""
  try:
    reusable_module.check_export_dir(export_dir)
  except reusable_module.UnusableExport as error:
    raise format_lib.LoadError(str(error)) from None


def load(export_dir: str) -> format_lib.Loaded:
  """The Reusable SavedModel at `export_dir`; LoadError (one line) if it is not one."""
  try:
    loaded = reusable_module.load(export_dir)
  except reusable_module.UnusableExport as error:
    raise format_lib.LoadError(str(error)) from None
  calls = reusable_module.traced_calls(loaded)
  fixed = [
    (spec, outputs) for spec, outputs in calls if None not in tuple(spec.shape[1:3])
  ]  # the first call with a fixed image size says how many outputs there are
  num_outputs = None
  if fixed and isinstance(fixed[0][1], tf.TensorSpec):
    num_outputs = fixed[0][1].shape[-1]
  names = [v.name for v in getattr(loaded, "variables", ())]
  return format_lib.Loaded(
    path=export_dir,
    run=lambda images: tf.convert_to_tensor(loaded(tf.constant(images))).numpy(),
    image_sizes=frozenset(tuple(spec.shape[1:3]) for spec, _ in calls),
    num_outputs=num_outputs,
    variables=lambda: {
      v.name.removesuffix(":0"): v.numpy() for v in getattr(loaded, "variables", ())
    },
    has_head=any("/Logits/" in name for name in names),
    labels_path=_labels_path(loaded, export_dir),
  )


def _labels_path(loaded, export_dir: str) -> str:
  asset = getattr(loaded, "labels_file", None)
  if asset is not None:
    return asset.asset_path.numpy().decode()
  return os.path.join(export_dir, "assets", labels_lib.LABELS_FILE_NAME)
