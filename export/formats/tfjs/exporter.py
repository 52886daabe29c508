"""TF.js graph models of an export, checked in Node against the SavedModel: `convert_beside`.

One directory per weight type, a sibling of the SavedModel directory (so the SavedModel, its
archive and its fingerprint are the same with or without them):

  float32  `<export_dir>.tfjs/`          model.json + group1-shard1of1.bin
  float16  `<export_dir>.float16.tfjs/`  float16 weights: half the size
  uint8    `<export_dir>.uint8.tfjs/`    8-bit affine weights: a quarter of the size

Every model is run by `@tensorflow/tfjs` in Node (the wasm backend; `export/formats/tfjs/node.py`)
on the 16 probe images and measured against the SavedModel (`export/formats/agreement.py`,
against `THRESHOLDS` in export/formats/tfjs/__init__.py); one that falls short is refused
(AgreementError) and no directory of any type is written. `convert_beside` writes nothing
itself: the SavedModel exporter stages the directories with the SavedModel and places them all
together, or none (export/formats/saved_model/exporter.py).
"""

import pathlib
import tempfile
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import errors
from export.base import files
from export.base import versions
from export.core import checkpoint
from export.formats import agreement as agreement_lib
from export.formats import format as format_lib
from export.formats import tfjs as tfjs_format
from export.formats.litert import network as litert_network
from export.formats.tfjs import converter as tfjs_converter
from export.formats.tfjs import node as tfjs_node

TYPES = tfjs_format.TYPES
DEFAULT_TYPES = TYPES[:1]
THRESHOLDS = tfjs_format.THRESHOLDS
AgreementError = agreement_lib.AgreementError


def dir_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.tfjs` for float32, `<export_dir>.<type>.tfjs` for the others."""
  return tfjs_format.FORMAT.path_beside(str(pathlib.Path(export_dir).absolute()), model_type)


def network_of_checkpoint(
  checkpoint_path: str, depth_multiplier: float, module_type: str
) -> litert_network.FoldedNetwork:
  """The folded inference network of a checkpoint (EMA values, as the exporter restores)."""
  restored = checkpoint.restore(checkpoint_path, depth_multiplier)
  return litert_network.fold(restored.values, depth_multiplier, module_type)


def measure(
  model_type: str,
  model_dir: str,
  images: np.ndarray,
  reference: np.ndarray,
  module_type: str,
  backend: str = tfjs_node.CHECK_BACKEND,
  threshold: Optional[agreement_lib.Threshold] = None,
) -> agreement_lib.Agreement:
  """The agreement of the model in `model_dir`, run in Node, with the reference outputs."""
  got = tfjs_node.run(model_dir, images, backends=[backend])[backend].outputs
  return agreement_lib.measure(
    model_type, got, reference, module_type, threshold or THRESHOLDS[model_type]
  )


def write_model(model: dict, directory: str) -> None:
  """Writes a model's {file name: bytes} into an existing directory."""
  for name, data in sorted(model.items()):
    files.write_file(pathlib.Path(directory) / name, data)


def convert_beside(
  inputs,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  hub_version: int = versions.LATEST_VERSION,
  thresholds: Optional[dict] = None,
) -> list:
  """[(Written, {file name: bytes})] of each weight type of the module of `inputs`
  (export/formats/beside_inputs.py), each checked in Node; writes nothing.

  The SavedModel `inputs` names (the staged one) is the reference; the directories are named
  beside `export_dir`. AgreementError when a model falls short of its threshold (`THRESHOLDS`,
  or `thresholds` {type: Threshold}). A graph model names no hub version: `hub_version` is
  unused.
  """
  del hub_version
  with tfjs_converter.serving_saved_model(
    inputs.network, inputs.image_size, inputs.module_type
  ) as saved_model_dir:
    return [
      _checked(saved_model_dir, model_type, inputs, export_dir, thresholds)
      for model_type in model_types
    ]


def _checked(saved_model_dir: str, model_type: str, inputs, export_dir: str, thresholds) -> tuple:
  """(Written, files) of one weight type converted from `saved_model_dir`, checked in Node."""
  errors.raise_if_interrupted()
  model = tfjs_converter.convert_saved_model(saved_model_dir, model_type)
  threshold = (thresholds or {}).get(model_type) or THRESHOLDS[model_type]
  with tempfile.TemporaryDirectory(prefix="tfjs-check.") as model_dir:
    write_model(model, model_dir)  # Node reads the files it will be given
    agreement = measure(
      model_type,
      model_dir,
      inputs.probes,
      inputs.reference,
      inputs.module_type,
      threshold=threshold,
    )
  path = dir_beside(export_dir, model_type)
  agreement_lib.check(agreement, path)
  written = format_lib.Written(
    model_type, path, sum(map(len, model.values())), files.tree_sha256(model), agreement
  )
  return written, model
