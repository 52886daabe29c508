"""What the regeneration's orchestrator and workers share: artifacts, checkpoints, stamps.

An artifact's stamp, `OUT/.regenerate/stamps/<handle>/<version>.json`, written last by the
worker that made it, records what the artifact was made from (`stamp_inputs`, the sha256 of
the project's code) and its manifest entry; `staleness` compares it with the present. Nothing
here imports TensorFlow. docs/regeneration.md describes the behaviour.
"""

import dataclasses
import importlib.metadata
import os
import pathlib
import platform
from typing import Optional
import zlib

from export.base import files
from export.core import labels
from export.formats import registry
from export.pipeline import manifest
from export.publish import hub_layout
from nets import variants as variants_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL_NAME = "slim-mobilenet-hub"
STATE_DIR = ".regenerate"  # inside OUT: stamps, staging, logs and the run lock
REFERENCES_DIR = "references"  # inside STATE_DIR: what a run's workers share (references.py)
# What every artifact is exported with: the exporter's defaults, recorded in the stamps.
EXPORT_OPTIONS = {"use_ema": True, "batch_norm_momentum_default": None}
# Non-Python files the worker reads; their contents are part of what an artifact depends on.
DATA_FILES = (os.path.relpath(labels.LABELS_FILE, PROJECT_ROOT),)

# Artifact statuses.
MADE = "made"
UP_TO_DATE = "up to date"
FAILED = "FAILED"
NOT_RUN = "not run"

# How the orchestrator, and a worker, exit when interrupted.
INTERRUPTED_EXIT_CODE = 130


class MissingCheckpoint(Exception):
  """No usable checkpoint file for a variant in the checkpoint directory; one line."""


# --- artifacts ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Artifact:
  """A module version (SavedModel, card, archive, and for the latest version the files of the
  formats made with it: `beside`), or with `version` None a module's file of a format made
  per module (`format`: Keras)."""

  variant: variants_lib.Variant
  module_type: str
  version: Optional[int]
  beside: tuple = ()  # (format name, types) of each format made with this module version
  format: str = registry.PRIMARY.name

  @property
  def per_module(self) -> bool:
    return self.version is None

  def types_beside(self, format_name: str) -> tuple:
    """The types of `format_name` made with this module version; () for none."""
    return dict(self.beside).get(format_name, ())

  @property
  def spec(self) -> variants_lib.ModelSpec:
    return self.variant.spec(self.module_type)

  @property
  def key(self) -> str:
    """`<handle>/<version>` or `<handle>/<format>`: the artifact's path under the output root."""
    if self.per_module:
      return f"{self.variant.hub_handle(self.module_type)}/{self.format}"
    return hub_layout.relative_stem(self.variant, self.module_type, self.version)

  def paths(self, output_dir: str) -> hub_layout.ArtifactPaths:
    return hub_layout.artifact_paths(output_dir, self.variant, self.module_type, self.version)

  def file_path(self, output_dir: str) -> str:
    """A per-module artifact's file under the output root."""
    relative = hub_layout.relative_path(
      registry.by_name(self.format), self.variant, self.module_type
    )
    return os.path.join(output_dir, *relative.split("/"))

  def stamp_path(self, output_dir: str) -> str:
    return os.path.join(output_dir, STATE_DIR, "stamps", *self.key.split("/")) + ".json"

  @property
  def file_stem(self) -> str:
    """A flat name for logs and staging: mobilenet_v2_075_96-classification-5 (or -keras)."""
    return f"{self.variant.hub_name}-{self.module_type}-{self.version or self.format}"


# --- checkpoints -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Source:
  """The checkpoint found for a variant: a prefix or a released .tgz, and its digest."""

  path: str
  sha256: str


def find_checkpoint(checkpoint_dir: str, variant: variants_lib.Variant) -> str:
  """`<dir>/<name>.ckpt` (a prefix with its .index) or else `<dir>/<name>.tgz`.

  Raises MissingCheckpoint naming what was looked for.
  """
  prefix = os.path.join(checkpoint_dir, variant.checkpoint_name)
  archive = os.path.join(checkpoint_dir, f"{variant.name}.tgz")
  if os.path.isfile(prefix + ".index"):
    if not _data_files(prefix):
      raise MissingCheckpoint(
        f"{prefix}.index has no data file ({variant.checkpoint_name}.data-*-of-*) beside it"
      )
    return prefix
  if os.path.isfile(archive):
    return archive
  strays = [
    name for name in _listdir(checkpoint_dir) if name.startswith(variant.checkpoint_name + ".")
  ]
  found = f" (found {', '.join(sorted(strays))} but no .index)" if strays else ""
  raise MissingCheckpoint(
    f"no checkpoint in {checkpoint_dir}: expected "
    f"{variant.checkpoint_name}.index with its data file, or "
    f"{variant.name}.tgz{found}"
  )


def _listdir(directory: str) -> list:
  try:
    return os.listdir(directory)
  except OSError:
    return []


def _data_files(prefix: str) -> list:
  directory, stem = os.path.split(prefix)
  return sorted(
    os.path.join(directory, name)
    for name in _listdir(directory)
    if name.startswith(stem + ".data-")
  )


def source_digest(path: str) -> str:
  """sha256 of the checkpoint's bytes: the .index then the data files, or the .tgz.

  For a prefix this equals the manifest's checkpoint digest (verification's); for an archive
  it is the archive's own digest, which is cheaper than unpacking it on every run.
  """
  return files.sha256([path] if path.endswith(".tgz") else [path + ".index"] + _data_files(path))


# --- environment -------------------------------------------------------------------------
def tool_version() -> str:
  """The project's version from setup.cfg (the checkout's, even if installed long ago)."""
  import configparser  # pylint: disable=g-import-not-at-top

  config = configparser.ConfigParser()
  if config.read(PROJECT_ROOT / "setup.cfg") and config.has_option("metadata", "version"):
    return config.get("metadata", "version")
  return importlib.metadata.version(TOOL_NAME)


def tensorflow_version() -> str:
  """TensorFlow's installed version, read without importing it (which takes seconds)."""
  for name in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    try:
      return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      continue
  return "unknown"


def stamp_inputs(artifact: Artifact, source: Source, tool: str, tensorflow: str) -> dict:
  """What an artifact is made from, besides the project's code (recorded by the worker)."""
  return {
    "artifact": {
      "variant": artifact.variant.name,
      "module_type": artifact.module_type,
      "version": artifact.version,
      # one `<format>_types` per format made with a module version: "litert_types"
      **{
        f"{fmt.name}_types": list(artifact.types_beside(fmt.name))
        for fmt in registry.FORMATS
        if fmt.made_with
      },
    },
    "checkpoint": {"file": os.path.basename(source.path), "sha256": source.sha256},
    "export_options": dict(EXPORT_OPTIONS),
    "python_version": platform.python_version(),
    "tensorflow_version": tensorflow,
    "tool_version": tool,
    "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
  }


def environment(tensorflow: str) -> dict:
  """What the artifacts' bytes depend on besides the project and the checkpoints."""
  return {
    "python": platform.python_version(),
    "tensorflow": tensorflow,
    "zlib": zlib.ZLIB_RUNTIME_VERSION,
  }


# --- stamps: what is complete and current ------------------------------------------------
class CodeDigests:
  """sha256 of project files, each read once per run."""

  def __init__(self):
    self._known = {}

  def __call__(self, relative: str) -> Optional[str]:
    if relative not in self._known:
      try:
        self._known[relative] = files.sha256(PROJECT_ROOT / relative)
      except OSError:
        self._known[relative] = None
    return self._known[relative]


def staleness(
  artifact: Artifact, output_dir: str, inputs: dict, code: CodeDigests
) -> Optional[str]:
  """None if the artifact is complete and current; otherwise why it must be made."""
  stamp_path = artifact.stamp_path(output_dir)
  stamp = files.read_json(stamp_path)
  if stamp is None and os.path.exists(stamp_path):
    return "stale: unreadable stamp"
  if stamp is None:
    if artifact.per_module:
      outputs = [artifact.file_path(output_dir)]
    else:
      paths = artifact.paths(output_dir)
      outputs = [paths.saved_model_dir, paths.card_path, paths.archive_path]
    present = any(os.path.exists(path) for path in outputs)
    return "incomplete (no stamp)" if present else "new"
  recorded = stamp.get("inputs", {})
  for name in sorted(set(recorded) | set(inputs)):
    if recorded.get(name) != inputs.get(name):
      return f"stale: {name.replace('_', ' ')} changed"
  changed = [path for path, digest in sorted(stamp.get("code", {}).items()) if code(path) != digest]
  if changed:
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return f"stale: {changed[0]}{more} changed"
  problem = _output_problem(output_dir, artifact)
  return f"stale: {problem}" if problem else None


def recorded_entry(artifact: Artifact, output_dir: str) -> manifest.Entry:
  """The manifest entry the artifact's stamp records; ManifestError if it cannot be read."""
  stamp_path = artifact.stamp_path(output_dir)
  stamp = files.read_json(stamp_path) or {}
  return manifest.entry_from_json(stamp.get("entry"), stamp_path, artifact.key)


def _output_problem(output_dir: str, artifact: Artifact) -> Optional[str]:
  """Why the files on disk are not those the stamp's entry records, or None."""
  try:
    entry = recorded_entry(artifact, output_dir)
  except manifest.ManifestError:
    return "unreadable stamp"
  for directory, names in sorted(entry.directories().items()):
    if files.tree_files(os.path.join(output_dir, *directory.split("/"))) != names:
      return f"{directory}/ holds other files than recorded"
  for relative, digest in sorted(entry.files().items()):
    path = os.path.join(output_dir, *relative.split("/"))
    if not os.path.isfile(path):
      return f"{relative} missing"
    if files.sha256(path) != digest:
      return f"{relative} modified"
  return None
