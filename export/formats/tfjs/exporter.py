"""TF.js graph models of an export, checked in Node against the SavedModel, then written.

One directory per weight type, a sibling of the SavedModel directory (so the SavedModel, its
archive and its fingerprint are the same with or without them):

  float32  `<export_dir>.tfjs/`          model.json + group1-shard1of1.bin
  float16  `<export_dir>.float16.tfjs/`  float16 weights: half the size
  uint8    `<export_dir>.uint8.tfjs/`    8-bit affine weights: a quarter of the size

Every model is run by `@tensorflow/tfjs` in Node (the cpu backend; `export/formats/tfjs/node.py`)
on the 16 probe images and measured against the SavedModel with LiteRT's machinery
(`litert_agreement.measure`); one that falls short of its threshold is refused (AgreementError)
and no directory of any type is written. Directories are staged beside their target and
renamed into place.

Thresholds, relative to 1 + max |reference|: float32 within 1e-4 (the project's tolerance for
any float32 implementation; tfjs computes in float32 with other summation orders); float16
as LiteRT's float16 (5e-2 and cosine 0.999 on every probe); uint8 weights change the function
more (256 levels per tensor, depthwise kernels included), so they are held, like LiteRT's
full-integer models, to the direction of the outputs and the classes. Measured on seed-0
synthetic checkpoints of 0.35/96, 0.5/128 and 1.4/224 (both module types), 0.75/96 and
1.0/224 (classifiers; docs/tfjs.md): worst-probe cosine 0.81-0.99, mean 0.961-0.993, top-1
0.69-0.81, top-5 overlap 0.65-0.76; the bounds leave room for the variants not yet measured.
"""

import dataclasses
import hashlib
import pathlib
from typing import Optional
from typing import Sequence

import numpy as np

from export.base import files
from export.base import probe_images
from export.core import checkpoint
from export.formats import agreement as litert_agreement
from export.formats import litert as litert_format
from export.formats.litert import converter as litert
from export.formats.litert import network as litert_network
from export.formats.tfjs import converter as tfjs_converter
from export.formats.tfjs import node as tfjs_node

TYPES = tfjs_converter.TYPES
DEFAULT_TYPES = tfjs_converter.DEFAULT_TYPES
SUFFIX = ".tfjs"
AgreementError = litert_agreement.AgreementError
THRESHOLDS = {
  "float32": litert_agreement.Threshold(max_relative_difference=1e-4),
  "float16": litert_format.FLOAT16,
  "uint8": litert_agreement.Threshold(
    min_cosine=0.7, min_mean_cosine=0.93, min_top1_agreement=0.4, min_top5_overlap=0.5
  ),
}


@dataclasses.dataclass(frozen=True)
class WrittenModel:
  """One TF.js model directory beside the SavedModel."""

  model_type: str
  path: str  # the directory
  size_bytes: int  # of all its files
  sha256: str  # `tree_sha256`: of its files' names and contents, in name order
  agreement: litert_agreement.Agreement


def dir_beside(export_dir: str, model_type: str = "float32") -> str:
  """`<export_dir>.tfjs` for float32, `<export_dir>.<type>.tfjs` for the others."""
  target = pathlib.Path(export_dir).absolute()
  infix = "" if model_type == "float32" else f".{model_type}"
  return str(target.with_name(target.name + infix + SUFFIX))


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
  backend: str = "cpu",
  threshold: Optional[litert_agreement.Threshold] = None,
) -> litert_agreement.Agreement:
  """The agreement of the model in `model_dir`, run in Node, with the reference outputs."""
  got = tfjs_node.run(model_dir, images, backends=[backend])[backend].outputs
  return litert_agreement.measure(
    model_type, got, reference, module_type, threshold or THRESHOLDS[model_type]
  )


def write_beside(
  root,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  thresholds: Optional[dict] = None,
) -> list:
  """The models of a module built by `export.core.reusable_module.build`; see `write_network`."""
  network = litert.network_of(root)
  return write_network(
    network, root.image_size, root.module_type, export_dir, model_types, thresholds
  )


def write_network(
  network: litert_network.FoldedNetwork,
  image_size: int,
  module_type: str,
  export_dir: str,
  model_types: Sequence[str] = DEFAULT_TYPES,
  thresholds: Optional[dict] = None,
) -> list:
  """Converts the network to each weight type, checks each in Node, then writes them all.

  The SavedModel of the same network must be complete in `export_dir` (it is the reference).
  Returns a WrittenModel each; AgreementError (nothing written) when one falls short of its
  threshold (`THRESHOLDS`, or `thresholds` {type: Threshold}).
  """
  _, probes = probe_images.probe_batch(image_size)
  reference = litert.reference_outputs(export_dir, probes)
  checked = []
  with files.scratch_directory(
    pathlib.Path(export_dir).absolute().parent, "tfjs", needed_for=dir_beside(export_dir)
  ) as scratch:
    for model_type in model_types:
      model_dir = pathlib.Path(scratch) / model_type
      model_dir.mkdir()
      model = tfjs_converter.convert(network, image_size, module_type, model_type)
      for name, data in model.items():
        (model_dir / name).write_bytes(data)
      threshold = (thresholds or {}).get(model_type) or THRESHOLDS[model_type]
      agreement = measure(
        model_type, str(model_dir), probes, reference, module_type, threshold=threshold
      )
      litert_agreement.check(agreement, dir_beside(export_dir, model_type))
      checked.append((model_type, model, agreement))
  written = []
  for model_type, model, agreement in checked:
    path = dir_beside(export_dir, model_type)
    with files.staged_directory(path) as staging:
      for name, data in model.items():
        files.write_file(pathlib.Path(staging) / name, data)
    written.append(
      WrittenModel(model_type, path, sum(map(len, model.values())), tree_sha256(model), agreement)
    )
  return written


def tree_sha256(model: dict) -> str:
  """sha256 over each file's name and contents, in name order: one digest per model."""
  digest = hashlib.sha256()
  for name in sorted(model):
    digest.update(name.encode() + b"\0" + hashlib.sha256(model[name]).digest())
  return digest.hexdigest()
