"""What a finished regeneration output offers for publishing, checked before anything is staged.

`load(hub_dir, lock_path)` refuses an output directory whose manifest is missing or unreadable,
whose last run failed or was interrupted (run_report.json), whose manifest differs from a lock
file, or whose files differ from the manifest's digests; otherwise it returns the manifest and
its `Publishable` items. `publishable_files` is the one function that knows the manifest's
schema, so that a change of schema is adapted there:

  - a SavedModel artifact `<handle>/<version>` (written by export/pipeline/makers.py), whose
    `saved_model.files` are the instance's files, `card` its model card;
  - LiteRT files: an optional `litert` dict in a SavedModel artifact's entry, type -> `{path,
    sha256, bytes, agreement}`;
  - Keras files: an entry `<handle>/keras` with `"format": "keras"`, `variant`, `module_type`
    and `keras: {path, sha256, bytes}`.

Entries of any other kind are not published. `made_from_synthetic` tells which items were made
from a seed-0 synthetic checkpoint (random weights), by the checkpoint digest their entries
record. Nothing here imports TensorFlow.
"""

import dataclasses
import json
import os
import pathlib
import posixpath
from typing import Optional

from export.base import errors
from export.base import files
from export.kaggle import mapping
from export.pipeline import lock as regeneration_lock
from export.pipeline import report as regeneration_report
from export.pipeline import state
from nets import variants as variants_lib

# The checkpoint digest (sha256 over .index and data files, as the manifest records it) of each
# variant's seed-0 synthetic checkpoint: random weights that must never be published.
# Written by scripts/make_synthetic_digests.py.
SYNTHETIC_DIGESTS_PATH = pathlib.Path(__file__).with_name("synthetic_checkpoint_digests.json")


class SourceError(errors.Failure):
  """The output directory cannot be published as it is; one line naming the file."""


@dataclasses.dataclass(frozen=True)
class SourceFile:
  name: str  # the file's path inside the Kaggle instance, '/'-separated
  path: str  # its path relative to the hub directory, '/'-separated
  sha256: str
  size: int


@dataclasses.dataclass(frozen=True)
class Publishable:
  """One module's file(s) of one format, as the manifest describes them."""

  key: str  # the manifest's artifact key it comes from
  variant: variants_lib.Variant
  module_type: str
  hub_version: Optional[int]  # None for Keras files
  format: str  # a mapping.FORMATS name
  files: tuple  # of SourceFile, sorted by name
  card: Optional[str] = None  # the model card's path relative to the hub directory
  directory: Optional[str] = None  # a SavedModel's directory: it must hold only `files`
  checkpoint_sha256: Optional[str] = None  # the digest of the checkpoint it was made from

  @property
  def size(self) -> int:
    return sum(f.size for f in self.files)


def _relative(path, where: str) -> str:
  """A manifest path that stays inside the hub directory, or SourceError."""
  if not isinstance(path, str) or not path:
    raise SourceError(f"manifest.json: {where}: expected a relative path, found {path!r}")
  normal = posixpath.normpath(path)
  if normal.startswith(("/", "../")) or normal == "..":
    raise SourceError(f"manifest.json: {where}: path {path!r} leaves the hub directory")
  return normal


def _field(entry: dict, name: str, where: str):
  if not isinstance(entry, dict) or name not in entry:
    raise SourceError(f"manifest.json: {where}: expected a field {name!r}, found none")
  return entry[name]


def _single_file(entry: dict, where: str, name: str) -> SourceFile:
  return SourceFile(
    name=name,
    path=_relative(_field(entry, "path", where), where),
    sha256=_field(entry, "sha256", where),
    size=_field(entry, "bytes", where),
  )


def _variant(entry: dict, where: str) -> variants_lib.Variant:
  try:
    return variants_lib.by_name(_field(entry, "variant", where))
  except ValueError as error:
    raise SourceError(f"manifest.json: {where}: {error}") from None


def _saved_model_items(key: str, entry: dict) -> list:
  variant = _variant(entry, key)
  module_type, version = _field(entry, "module_type", key), _field(entry, "version", key)
  saved_model = _field(entry, "saved_model", key)
  directory = _relative(_field(saved_model, "path", f"{key}: saved_model"), key)
  files = tuple(
    SourceFile(
      name=name,
      path=_relative(f"{directory}/{name}", key),
      sha256=_field(info, "sha256", f"{key}: {name}"),
      size=_field(info, "bytes", f"{key}: {name}"),
    )
    for name, info in sorted(_field(saved_model, "files", key).items())
  )
  card = _relative(_field(_field(entry, "card", key), "path", f"{key}: card"), key)
  checkpoint_sha256 = _checkpoint_sha256(entry)
  items = [
    Publishable(
      key,
      variant,
      module_type,
      version,
      mapping.SAVED_MODEL,
      files,
      card,
      directory,
      checkpoint_sha256,
    )
  ]
  for kind, info in sorted((entry.get("litert") or {}).items()):
    if kind not in mapping.LITERT_TYPES:
      raise SourceError(
        f"manifest.json: {key}: LiteRT type {kind!r} has no Kaggle mapping; "
        f"expected one of {', '.join(mapping.LITERT_TYPES)}"
      )
    format_name = mapping.LITERT_PREFIX + kind
    name = mapping.file_name(variant, module_type, format_name)
    items.append(
      Publishable(
        key,
        variant,
        module_type,
        version,
        format_name,
        (_single_file(info, f"{key}: litert.{kind}", name),),
        card,
        checkpoint_sha256=checkpoint_sha256,
      )
    )
  return items


def _keras_item(key: str, entry: dict) -> Publishable:
  variant = _variant(entry, key)
  module_type = _field(entry, "module_type", key)
  name = mapping.file_name(variant, module_type, mapping.KERAS)
  keras_file = _field(entry, "keras", key)
  return Publishable(
    key,
    variant,
    module_type,
    None,
    mapping.KERAS,
    (_single_file(keras_file, key, name),),
    checkpoint_sha256=_checkpoint_sha256(entry),
  )


def _checkpoint_sha256(entry: dict) -> Optional[str]:
  checkpoint = entry.get("checkpoint")
  return checkpoint.get("sha256") if isinstance(checkpoint, dict) else None


def publishable_files(manifest: dict) -> list:
  """Every Publishable the manifest describes, in the manifest's key order (paths relative to
  the hub directory; `check_files` reads the files)."""
  items = []
  for key, entry in sorted(_field(manifest, "artifacts", "top level").items()):
    if isinstance(entry, dict) and entry.get("format") == mapping.KERAS:
      items.append(_keras_item(key, entry))
    elif isinstance(entry, dict) and "saved_model" in entry:
      items.extend(_saved_model_items(key, entry))
  return items


# --- checks --------------------------------------------------------------------------------
def read_manifest(hub_dir: str) -> dict:
  path = os.path.join(hub_dir, regeneration_report.MANIFEST_NAME)
  if not os.path.isfile(path):
    raise SourceError(
      f"{path}: no manifest; is {hub_dir} the --output_dir of a finished regeneration?"
    )
  manifest = files.read_json(path)
  if manifest is None or manifest.get("format") != regeneration_report.MANIFEST_FORMAT:
    raise SourceError(
      f"{path}: expected a {regeneration_report.MANIFEST_FORMAT} file, found "
      f"{'unreadable JSON' if manifest is None else manifest.get('format')!r}"
    )
  if manifest.get("format_version") != state.FORMAT_VERSION:
    raise SourceError(
      f"{path}: format version {manifest.get('format_version')!r}, this tool "
      f"reads {state.FORMAT_VERSION}"
    )
  return manifest


def check_run(hub_dir: str) -> None:
  """Refuses an output whose last run failed or was interrupted (its run_report.json says)."""
  path = os.path.join(hub_dir, regeneration_report.RUN_REPORT_NAME)
  report = files.read_json(path)
  if report is None:
    raise SourceError(f"{path}: missing or unreadable; cannot tell whether the run finished")
  if report.get("interrupted"):
    raise SourceError(f"{path}: the last regeneration was interrupted; rerun it first")
  bad = {
    key: a
    for key, a in sorted((report.get("artifacts") or {}).items())
    if a.get("status") in (state.FAILED, state.NOT_RUN)
  }
  if bad:
    key, first = next(iter(bad.items()))
    raise SourceError(
      f"{path}: the last regeneration failed for {len(bad)} artifacts, first "
      f"{key}: {first.get('status')} ({first.get('reason')})"
    )


def check_lock(manifest: dict, lock_path: str) -> None:
  try:
    lock = regeneration_lock.read_lock(lock_path)
  except regeneration_lock.LockError as error:
    raise SourceError(str(error)) from None
  differences = regeneration_lock.lock_differences(lock, manifest)
  if differences:
    raise SourceError(
      f"{lock_path}: the manifest differs from the lock in {len(differences)} "
      f"places, first {differences[0]}"
    )


def check_files(hub_dir: str, items: list) -> None:
  """Every file of `items` exists with its recorded size and sha256; SavedModel directories
  hold nothing else. Refuses on the first difference."""
  for item in items:
    if item.directory is not None:
      found = files.tree_files(os.path.join(hub_dir, *item.directory.split("/")))
      extra = sorted(set(found) - {f.name for f in item.files})
      if extra:
        raise SourceError(
          f"{os.path.join(hub_dir, item.directory, extra[0])}: not in the "
          f"manifest ({len(extra)} such files in {item.directory}/)"
        )
    for source in item.files:
      path = os.path.join(hub_dir, *source.path.split("/"))
      if not os.path.isfile(path):
        raise SourceError(f"{path}: missing (the manifest records it)")
      size = os.path.getsize(path)
      if size != source.size or files.sha256(path) != source.sha256:
        raise SourceError(
          f"{path}: differs from the manifest's digest ({size} bytes, "
          f"recorded {source.size}); regenerate before publishing"
        )


def load(hub_dir: str, lock_path: Optional[str] = None, selected=None) -> tuple:
  """(manifest, [Publishable]) of a finished, intact regeneration output; SourceError if not.

  `selected(item) -> bool` narrows the items whose files are checked and returned.
  """
  if not os.path.isdir(hub_dir):
    raise SourceError(f"{hub_dir}: no such directory")
  manifest = read_manifest(hub_dir)
  check_run(hub_dir)
  if lock_path:
    check_lock(manifest, lock_path)
  items = [item for item in publishable_files(manifest) if selected is None or selected(item)]
  check_files(hub_dir, items)
  return manifest, items


# --- synthetic checkpoints ----------------------------------------------------------------
def synthetic_digests() -> dict:
  """Variant name -> checkpoint digest of its seed-0 synthetic checkpoint."""
  with open(SYNTHETIC_DIGESTS_PATH, encoding="utf-8") as f:
    return json.load(f)


def write_synthetic_digests(digests: dict) -> None:
  files.write_json(SYNTHETIC_DIGESTS_PATH, digests)


def made_from_synthetic(items: list) -> list:
  """The sorted manifest keys of `items` made from a seed-0 synthetic checkpoint (random
  weights), recognized by the checkpoint digest the manifest records."""
  known = synthetic_digests()
  return sorted(
    {
      item.key
      for item in items
      if item.checkpoint_sha256 and item.checkpoint_sha256 == known.get(item.variant.name)
    }
  )
