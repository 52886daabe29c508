"""Where each regenerated file goes on Kaggle Models: the mapping as data.

A Kaggle model instance is `<owner>/<model>/<framework>/<variation>`, and each upload to it
makes its next version (1, 2, ...). One `FormatRule` per publishable format (per type of a
typed one) says which framework it goes to, how the variation slug is spelled, and which TF
Hub versions become which Kaggle versions; the rules are derived from the format registry
(export/formats), which holds each format's framework, slug suffixes and versions:

  format          framework     variation                   Kaggle versions
  saved_model     tensorFlow2   075-96-classification       1 <- hub 4, 2 <- hub 5
  litert_float32  tfLite        075-96-classification       1 <- hub 5
  litert_float16  tfLite        075-96-classification-fp16  1 <- hub 5
  litert_int8     tfLite        075-96-classification-int8  1 <- hub 5
  litert_uint8    tfLite        075-96-classification-uint8 1 <- hub 5
  onnx_float32    onnx          075-96-classification       1 <- hub 5
  onnx_int8       onnx          075-96-classification-int8  1 <- hub 5
  tfjs_float32    tfJs          075-96-classification       1 <- hub 5
  tfjs_float16    tfJs          075-96-classification-fp16  1 <- hub 5
  tfjs_uint8      tfJs          075-96-classification-uint8 1 <- hub 5
  keras           keras         075-96-classification       1 (no hub version)

Sources (docs/publishing.md): tfhub.dev handles redirect to `google/mobilenet-v2` instances
such as `tensorFlow2/100-224-feature-vector/2` and `tfLite/035-128-classification` (seen in
public code); the float32 LiteRT slug equals the TF2 one as there. The `-fp16`, `-int8` and
`-uint8` suffixes are inferred (Kaggle's `tensorflow/mobilenet-v2` has `tfLite/100-224-fp32`),
and so are the Keras, ONNX and TF.js slugs (ONNX's and TF.js's spelled as LiteRT's). A TF.js
instance holds its model directory's files (model.json and its weight shard) at its top.
LiteRT, ONNX and TF.js files are published from the latest hub version only: hub versions 4
and 5 differ in SavedModel features (a signature, a GradientTape fix) that a LiteRT flatbuffer,
an ONNX graph or a TF.js graph model does not have, so a second Kaggle version would repeat the
same model.
"""

import dataclasses
import re
from typing import Optional

from export.base import versions as versions_lib
from export.formats import format as format_lib
from export.formats import registry
from nets import variants as variants_lib

DEFAULT_MODEL_SLUG = "mobilenet-v2"
LICENSE_NAME = "Apache 2.0"  # Kaggle's name of the licence the TF-Slim checkpoints carry

SAVED_MODEL = registry.PRIMARY.name  # its model card is the one every format's files carry
# Kaggle slugs: lowercase words of letters and digits joined by single hyphens.
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class FormatRule:
  """How one format (one type of a typed format) of one module is published."""

  name: str  # what --formats names: the registry's name, `<name>_<type>` for a typed format
  framework: str  # Kaggle's framework slug
  slug_suffix: str  # appended to `<mmm>-<size>-<module type>`
  hub_versions: tuple  # hub versions published, oldest first: Kaggle versions 1, 2, ...
  fine_tunable: bool
  summary: str  # a few words for version notes and overviews
  format: str = ""  # the registry's name of the format
  kind: str = ""  # the type, for a typed format


_HUB_VERSIONS = {
  format_lib.ALL_VERSIONS: versions_lib.PRODUCED_VERSIONS,
  format_lib.LATEST_VERSION: (versions_lib.PRODUCED_VERSIONS[-1],),
  format_lib.NO_VERSION: (None,),
}


def _rules(fmt: format_lib.Format) -> tuple:
  """A format's publishing rules, from its registry entry: one per type."""
  return tuple(
    FormatRule(
      f"{fmt.name}_{kind}" if fmt.typed else fmt.name,
      fmt.kaggle_framework,
      fmt.kaggle_slug_suffix(kind),
      _HUB_VERSIONS[fmt.kaggle_hub_versions],
      fmt.fine_tunable,
      fmt.describe(kind),
      fmt.name,
      kind,
    )
    for kind in fmt.types
  )


RULES = tuple(rule for fmt in registry.FORMATS for rule in _rules(fmt))
FORMATS = tuple(rule.name for rule in RULES)


def rule(format_name: str) -> FormatRule:
  for candidate in RULES:
    if candidate.name == format_name:
      return candidate
  raise ValueError(f"unknown format {format_name!r}; formats are {', '.join(FORMATS)}")


def rule_of(format_name: str, kind: str = "") -> FormatRule:
  """The rule of a registry format (and type, for a typed one)."""
  for candidate in RULES:
    if candidate.format == format_name and candidate.kind == kind:
      return candidate
  raise ValueError(f"format {format_name!r} {kind!r} has no Kaggle mapping")


def select_formats(names) -> tuple:
  """Formats from "all", names of FORMATS, or a typed format's name for all its types ("litert":
  the four LiteRT types, "tfjs": the three TF.js ones); table order."""
  chosen = set()
  for name in names:
    if name == "all":
      chosen.update(FORMATS)
    elif name in registry.NAMES and registry.by_name(name).typed:
      chosen.update(rule.name for rule in RULES if rule.format == name)
    else:
      chosen.add(rule(name).name)
  if not chosen:
    raise ValueError("no formats selected")
  return tuple(name for name in FORMATS if name in chosen)


def check_owner(owner: str) -> str:
  if not owner or not _OWNER.match(owner):
    raise ValueError(
      f"{owner!r} is not a Kaggle user or organization slug (letters, digits, '-', '_')"
    )
  return owner


def check_model_slug(model: str) -> str:
  if not model or not _SLUG.match(model):
    raise ValueError(
      f"{model!r} is not a model slug (lowercase letters and digits joined by hyphens, "
      f"such as {DEFAULT_MODEL_SLUG})"
    )
  return model


@dataclasses.dataclass(frozen=True)
class InstanceVersion:
  """One version of one Kaggle model instance."""

  owner: str
  model: str
  framework: str
  variation: str
  version: int

  @property
  def handle(self) -> str:
    """`<owner>/<model>/<framework>/<variation>`: what kagglehub.model_upload takes."""
    return f"{self.owner}/{self.model}/{self.framework}/{self.variation}"

  @property
  def versioned_handle(self) -> str:
    """What kagglehub.model_download takes to get exactly this version."""
    return f"{self.handle}/{self.version}"


def variation_slug(variant: variants_lib.Variant, module_type: str, format_name: str) -> str:
  """`075-96-classification`, `100-224-feature-vector`, `075-96-classification-int8`, ..."""
  if module_type not in variants_lib.MODULE_TYPES:
    raise ValueError(
      f"module type must be one of {', '.join(variants_lib.MODULE_TYPES)}, got {module_type!r}"
    )
  size_part = variant.hub_name.removeprefix("mobilenet_v2_").replace("_", "-")
  return f"{size_part}-{module_type.replace('_', '-')}{rule(format_name).slug_suffix}"


def target(
  variant: variants_lib.Variant,
  module_type: str,
  hub_version: Optional[int],
  format_name: str,
  owner: str,
  model: str = DEFAULT_MODEL_SLUG,
) -> Optional[InstanceVersion]:
  """The Kaggle instance version a module's file of this format is published as.

  None when the format does not publish that hub version (LiteRT of version 4). Keras files
  have no hub version: pass None.
  """
  format_rule = rule(format_name)
  if format_rule.hub_versions == (None,):
    if hub_version is not None:
      raise ValueError(f"format {format_name} has no hub version, got {hub_version!r}")
  elif hub_version not in versions_lib.PRODUCED_VERSIONS:
    raise ValueError(
      f"format {format_name} comes from hub versions "
      f"{versions_lib.PRODUCED_VERSIONS}, got {hub_version!r}"
    )
  elif hub_version not in format_rule.hub_versions:
    return None
  return InstanceVersion(
    check_owner(owner),
    check_model_slug(model),
    format_rule.framework,
    variation_slug(variant, module_type, format_name),
    format_rule.hub_versions.index(hub_version) + 1,
  )


def skip_reason(format_name: str) -> str:
  """Why `target` gives None for a format: for the plan's list of what is not published."""
  published = ", ".join(str(v) for v in rule(format_name).hub_versions)
  return f"{format_name} is published from hub version {published} only"


def version_notes(
  variant: variants_lib.Variant, module_type: str, hub_version: Optional[int], format_name: str
) -> str:
  """The Kaggle version notes: the hub version's changelog entry (export/base/versions.py)."""
  format_rule = rule(format_name)
  source = (
    f"TF Hub module {variant.hub_handle(module_type)}/{hub_version}"
    if hub_version is not None
    else f"the TF-Slim checkpoint {variant.checkpoint_name}"
  )
  if format_rule.hub_versions == versions_lib.PRODUCED_VERSIONS:  # it changes with them
    changes = " ".join(versions_lib.get(hub_version).changes)
    return f"{source}. {changes}"
  return f"{format_rule.summary} converted from {source}."


def file_name(variant: variants_lib.Variant, module_type: str, format_name: str) -> str:
  """The name of a single-file instance's file: mobilenet_v2_075_96_classification_int8.tflite.

  Named after the module rather than Kaggle's version, so the downloaded directory says what
  it holds; a typed format's default type (the float32 LiteRT) carries no type.
  """
  format_rule = rule(format_name)
  stem = f"{variant.hub_name}_{module_type}"
  return registry.by_name(format_rule.format).file_name(stem, format_rule.kind)
