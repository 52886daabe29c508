"""Where the artifacts of one module version go: TF Hub's layout under an output root.

Under an output root every module version gets three siblings, named after its TF Hub handle,
the latest version also its LiteRT models, and each module its Keras 3 file:

  <root>/google/imagenet/mobilenet_v2_075_96/classification/4/      the SavedModel
  <root>/google/imagenet/mobilenet_v2_075_96/classification/4.md    the model card
  <root>/google/imagenet/mobilenet_v2_075_96/classification/4.tar.gz the SavedModel archive
  <root>/google/imagenet/mobilenet_v2_075_96/classification/5.tflite the LiteRT float32 model
                                            .../5.float16.tflite, 5.int8.tflite, 5.uint8.tflite
  <root>/google/imagenet/mobilenet_v2_075_96/classification/keras/
      mobilenet_v2_075_96_classification.keras                      the Keras 3 model

Each format's files are placed as its registry entry says (`export/formats/format.py`
`Format.relative_path`): a file per module version beside the SavedModel, or one per module in a
directory named after the format. The archive holds the SavedModel directory's contents with paths
relative to it (as TF Hub's compressed modules do), written by
`export.base.files.write_reproducible_archive`, so regenerating a module from the same checkpoint
gives the same archive, byte for byte.
"""

import dataclasses
import os

from export.base import versions
from export.formats import format as format_lib
from export.formats import registry
from nets import variants as variants_lib

ARCHIVE_SUFFIX = ".tar.gz"
CARD_SUFFIX = ".md"


@dataclasses.dataclass(frozen=True)
class ArtifactPaths:
  """The paths of one module version under an output root."""

  handle: str  # google/imagenet/mobilenet_v2_075_96/classification
  version: int
  saved_model_dir: str
  card_path: str
  archive_path: str


def relative_stem(variant: variants_lib.Variant, module_type: str, version: int) -> str:
  """`<handle>/<version>`, '/'-separated: the layout's paths relative to the root, minus suffix."""
  return f"{variant.hub_handle(module_type)}/{versions.get(version).number}"


def relative_path(
  fmt: format_lib.Format,
  variant: variants_lib.Variant,
  module_type: str,
  version=None,
  kind: str = "",
) -> str:
  """A format's file of a module (version), relative to the root, as its registry entry places
  it: `<handle>/5.int8.tflite`, `<handle>/keras/<hub name>_<module type>.keras`."""
  number = versions.get(version).number if fmt.per_version else None
  stem = f"{variant.hub_name}_{module_type}"
  return fmt.relative_path(variant.hub_handle(module_type), number, stem, kind)


KERAS = registry.by_name("keras")
KERAS_DIR = KERAS.name  # the directory of a module's Keras file, beside its versions


def relative_keras_path(variant: variants_lib.Variant, module_type: str) -> str:
  """`<handle>/keras/<hub name>_<module type>.keras`: one per module, not per hub version."""
  return relative_path(KERAS, variant, module_type)


def relative_archive_path(variant: variants_lib.Variant, module_type: str, version: int) -> str:
  """The archive's path relative to the output root (the model card's asset-path)."""
  return relative_stem(variant, module_type, version) + ARCHIVE_SUFFIX


def artifact_paths(
  root: str, variant: variants_lib.Variant, module_type: str, version: int
) -> ArtifactPaths:
  """The SavedModel directory, card and archive paths of a module version under `root`."""
  stem = os.path.join(os.fspath(root), *relative_stem(variant, module_type, version).split("/"))
  return ArtifactPaths(
    handle=variant.hub_handle(module_type),
    version=version,
    saved_model_dir=stem,
    card_path=stem + CARD_SUFFIX,
    archive_path=stem + ARCHIVE_SUFFIX,
  )
