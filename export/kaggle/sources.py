"""What a finished regeneration output offers for publishing, checked before anything is staged.

`load(hub_dir, lock_path)` refuses an output directory whose manifest is missing or unreadable,
whose last run failed or was interrupted (run_report.json), whose manifest differs from a lock
file, or whose files differ from the manifest's digests; otherwise it returns the manifest and
its `Publishable` items. The manifest is read by export/pipeline/manifest.py, which owns its
schema and refuses a malformed one; `publishable_files` maps its entries to Kaggle formats:

  - a module version `<handle>/<version>`: its SavedModel's files, with its card;
  - the files of each format made from its SavedModel (LiteRT, ONNX: one item per type, an
    ONNX model with its test vectors);
  - a module's file of a format made per module (`<handle>/keras`).

The formats are the registry's (export/formats/registry.py); files of formats it does not
list are not published. `made_from_synthetic` tells which items were made
from a seed-0 synthetic checkpoint (random weights), by the checkpoint digest their entries
record. Nothing here imports TensorFlow.
"""

import dataclasses
import json
import os
import pathlib
from typing import Optional

from export.base import errors
from export.base import files
from export.formats import registry
from export.kaggle import mapping
from export.pipeline import lock as regeneration_lock
from export.pipeline import manifest as manifest_lib
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
  card_file: Optional[SourceFile] = None  # the card as the manifest records it, to check
  directory: Optional[str] = None  # a SavedModel's directory: it must hold only `files`
  checkpoint_sha256: Optional[str] = None  # the digest of the checkpoint it was made from

  @property
  def size(self) -> int:
    return sum(f.size for f in self.files)


def _variant(key: str, entry: manifest_lib.Entry) -> variants_lib.Variant:
  try:
    return variants_lib.by_name(entry.variant)
  except ValueError as error:
    raise SourceError(f"{manifest_lib.FILE_NAME}: {key}: {error}") from None


def _source_file(file: manifest_lib.File, name: str) -> SourceFile:
  return SourceFile(name=name, path=file.path, sha256=file.sha256, size=file.size)


def _with_companions(model: manifest_lib.DerivedFile, name: str) -> tuple:
  """A derived file named `name` in its instance, and the files that come with it (ONNX's test
  vectors: `<name>.test_data/test_data_set_0/...`) named after it, sorted by name."""
  companions = (
    SourceFile(name + path[len(model.path) :], path, digest.sha256, digest.size)
    for path, digest in model.companions.items()
  )
  return tuple(sorted([_source_file(model, name), *companions], key=lambda f: f.name))


def _module_version_items(key: str, entry: manifest_lib.ModuleVersionEntry) -> list:
  """The SavedModel, and the files of each format made from it (LiteRT, ONNX, TF.js), per type."""
  variant = _variant(key, entry)
  common = dict(
    key=key,
    variant=variant,
    module_type=entry.module_type,
    hub_version=entry.version,
    card=entry.card.path,
    card_file=_source_file(entry.card, os.path.basename(entry.card.path)),
    checkpoint_sha256=entry.checkpoint.sha256,
  )
  saved_model = entry.saved_model
  saved_model_files = tuple(
    SourceFile(name=name, path=f"{saved_model.path}/{name}", sha256=d.sha256, size=d.size)
    for name, d in sorted(saved_model.files.items())
  )
  items = [
    Publishable(
      format=mapping.SAVED_MODEL,
      files=saved_model_files,
      directory=saved_model.path,
      **common,
    )
  ]
  for format_name, by_type in sorted(entry.derived.items()):
    if format_name not in registry.NAMES:
      continue  # a format this tool does not know is not published
    fmt = registry.by_name(format_name)
    for kind, model in sorted(by_type.items()):
      if kind not in fmt.types:
        raise SourceError(
          f"{manifest_lib.FILE_NAME}: {key}: {fmt.label} type {kind!r} has no Kaggle mapping; "
          f"expected one of {', '.join(fmt.types)}"
        )
      rule = mapping.rule_of(format_name, kind)
      items.append(_derived_item(model, rule, variant, entry.module_type, common))
  return items


def _derived_item(model: manifest_lib.DerivedFile, rule, variant, module_type: str, common: dict):
  """A derived file's Publishable: the file under its Kaggle name with its companions (ONNX's
  test vectors), or a directory's (a TF.js model's) files under their own names, as the
  instance's whole content."""
  if isinstance(model, manifest_lib.DerivedDirectory):
    held = tuple(
      SourceFile(name=name, path=f"{model.path}/{name}", sha256=d.sha256, size=d.size)
      for name, d in sorted(model.files.items())
    )
    return Publishable(format=rule.name, files=held, directory=model.path, **common)
  name = mapping.file_name(variant, module_type, rule.name)
  return Publishable(format=rule.name, files=_with_companions(model, name), **common)


def _file_item(key: str, entry: manifest_lib.FileEntry) -> Publishable:
  """A module's file of a format made per module (the Keras file)."""
  variant = _variant(key, entry)
  rule = mapping.rule_of(entry.format)
  name = mapping.file_name(variant, entry.module_type, rule.name)
  return Publishable(
    key=key,
    variant=variant,
    module_type=entry.module_type,
    hub_version=None,
    format=rule.name,
    files=(_source_file(entry.file, name),),
    checkpoint_sha256=entry.checkpoint.sha256,
  )


def publishable_files(manifest: manifest_lib.Manifest) -> list:
  """Every Publishable the manifest describes, in the manifest's key order (paths relative to
  the hub directory; `check_files` reads the files)."""
  items = []
  for key, entry in sorted(manifest.artifacts.items()):
    if isinstance(entry, manifest_lib.ModuleVersionEntry):
      items.extend(_module_version_items(key, entry))
    elif entry.format in registry.NAMES:
      items.append(_file_item(key, entry))
  return items


# --- checks --------------------------------------------------------------------------------
def read_manifest(hub_dir: str) -> manifest_lib.Manifest:
  path = os.path.join(hub_dir, manifest_lib.FILE_NAME)
  if not os.path.isfile(path):
    raise SourceError(
      f"{path}: no manifest; is {hub_dir} the --output_dir of a finished regeneration?"
    )
  try:
    return manifest_lib.read(path)
  except manifest_lib.ManifestError as error:
    raise SourceError(str(error)) from None


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


def check_lock(manifest: manifest_lib.Manifest, lock_path: str) -> None:
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
    # The card too: its text is what Kaggle shows as the instance's description.
    for source in item.files + ((item.card_file,) if item.card_file else ()):
      _check_file(hub_dir, source)


def _check_file(hub_dir: str, source: SourceFile) -> None:
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
  if os.path.exists(hub_dir) and not os.path.isdir(hub_dir):
    raise SourceError(f"{hub_dir}: not a directory (expected a regeneration's --output_dir)")
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
