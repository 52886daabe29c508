"""Where each regenerated file goes on Kaggle Models: the mapping as data.

A Kaggle model instance is `<owner>/<model>/<framework>/<variation>`, and each upload to it
makes its next version (1, 2, ...). One `FormatRule` per publishable format says which
framework it goes to, how the variation slug is spelled, and which TF Hub versions become
which Kaggle versions:

  format          framework     variation                   Kaggle versions
  saved_model     tensorFlow2   075-96-classification       1 <- hub 4, 2 <- hub 5
  litert_float32  tfLite        075-96-classification       1 <- hub 5
  litert_float16  tfLite        075-96-classification-fp16  1 <- hub 5
  litert_int8     tfLite        075-96-classification-int8  1 <- hub 5
  litert_uint8    tfLite        075-96-classification-uint8 1 <- hub 5
  keras           keras         075-96-classification       1 (no hub version)

Sources (docs/publishing.md): tfhub.dev handles redirect to `google/mobilenet-v2` instances
such as `tensorFlow2/100-224-feature-vector/2` and `tfLite/035-128-classification` (seen in
public code); the float32 LiteRT slug equals the TF2 one as there. The `-fp16`, `-int8` and
`-uint8` suffixes are inferred (Kaggle's `tensorflow/mobilenet-v2` has `tfLite/100-224-fp32`),
and so is the Keras slug. LiteRT files are published from the latest hub version only: hub
versions 4 and 5 differ in SavedModel features (a signature, a GradientTape fix) that a
LiteRT flatbuffer does not have, so a second Kaggle version would repeat the same model.
"""

import dataclasses
import re
from typing import Optional

from export.base import versions as versions_lib
from nets import variants as variants_lib

DEFAULT_MODEL_SLUG = "mobilenet-v2"
LICENSE_NAME = "Apache 2.0"  # Kaggle's name of the licence the TF-Slim checkpoints carry

FRAMEWORK_TENSORFLOW2 = "tensorFlow2"
FRAMEWORK_TFLITE = "tfLite"
FRAMEWORK_KERAS = "keras"

SAVED_MODEL = "saved_model"
KERAS = "keras"
LITERT_TYPES = ("float32", "float16", "int8", "uint8")
LITERT_PREFIX = "litert_"

# Kaggle slugs: lowercase words of letters and digits joined by single hyphens.
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class FormatRule:
  """How one format of one module is published."""

  name: str  # what --formats names
  framework: str  # Kaggle's framework slug
  slug_suffix: str  # appended to `<mmm>-<size>-<module type>`
  hub_versions: tuple  # hub versions published, oldest first: Kaggle versions 1, 2, ...
  fine_tunable: bool
  summary: str  # a few words for version notes and overviews


_LATEST = versions_lib.PRODUCED_VERSIONS[-1]
_LITERT_SUFFIXES = {"float32": "", "float16": "-fp16", "int8": "-int8", "uint8": "-uint8"}

RULES = (
  FormatRule(
    SAVED_MODEL, FRAMEWORK_TENSORFLOW2, "", versions_lib.PRODUCED_VERSIONS, True, "TF2 SavedModel"
  ),
  *(
    FormatRule(
      LITERT_PREFIX + kind,
      FRAMEWORK_TFLITE,
      _LITERT_SUFFIXES[kind],
      (_LATEST,),
      False,
      f"LiteRT {kind} model",
    )
    for kind in LITERT_TYPES
  ),
  FormatRule(KERAS, FRAMEWORK_KERAS, "", (None,), True, "Keras 3 model"),
)
FORMATS = tuple(rule.name for rule in RULES)


def rule(format_name: str) -> FormatRule:
  for candidate in RULES:
    if candidate.name == format_name:
      return candidate
  raise ValueError(f"unknown format {format_name!r}; formats are {', '.join(FORMATS)}")


def select_formats(names) -> tuple:
  """Formats from "all", names of FORMATS, or "litert" for the four LiteRT types; table order."""
  chosen = set()
  for name in names:
    if name == "all":
      chosen.update(FORMATS)
    elif name == "litert":
      chosen.update(LITERT_PREFIX + kind for kind in LITERT_TYPES)
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
  if format_rule.name == SAVED_MODEL:
    changes = " ".join(versions_lib.get(hub_version).changes)
    return f"{source}. {changes}"
  return f"{format_rule.summary} converted from {source}."


def file_name(
  variant: variants_lib.Variant, module_type: str, format_name: str, suffix: str
) -> str:
  """The name of a single-file instance's file: mobilenet_v2_075_96_classification_int8.tflite.

  Named after the module rather than Kaggle's version, so the downloaded directory says what
  it holds; the float32 LiteRT and the Keras file carry no type.
  """
  kind = format_name.removeprefix(LITERT_PREFIX) if format_name.startswith(LITERT_PREFIX) else ""
  extra = f"_{kind}" if kind and kind != "float32" else ""
  return f"{variant.hub_name}_{module_type}{extra}{suffix}"
