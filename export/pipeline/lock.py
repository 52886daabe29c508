"""The regeneration's lock file: what a run must reproduce, and how a run differs from it.

A lock (tests/regeneration.lock.json) keeps, per artifact, what must be reproducible: digests,
fingerprints and parameter counts, its manifest entry's `locked()` part
(export/pipeline/manifest.py); never a figure computed with float kernels.
docs/regeneration.md describes it.

A run that selects part of what is locked is checked on that part only (`selected_part`), and
updates that part only (`merged_lock`): what it did not make is neither checked nor dropped.
"""

import json
import os
from typing import Optional

from export.base import errors
from export.base import files
from export.formats import beside
from export.pipeline import manifest as manifest_lib
from export.pipeline import records
from export.pipeline import report

LOCK_FORMAT = "mobilenet_v2_hub_regeneration_lock"
# A module version's card lists the files of the formats made beside it, so the card's digest
# and theirs depend on whether those formats were selected.
SELECTION_DEPENDENT = ("card_sha256",) + tuple(
  manifest_lib.locked_field(fmt.name) for fmt in beside.FORMATS
)
# "LiteRT and ONNX and TF.js": their names in the messages about those digests
BESIDE_LABELS = " and ".join(fmt.label for fmt in beside.FORMATS)


class LockError(errors.Failure):
  """A lock file that cannot be read; the message is one line naming it."""


def lock_from_manifest(manifest: manifest_lib.Manifest) -> dict:
  """What must be reproducible: digests, fingerprints, parameter counts (docs/regeneration.md)."""
  return {
    "artifacts": {key: entry.locked() for key, entry in manifest.artifacts.items()},
    "format": LOCK_FORMAT,
    "format_version": manifest_lib.FORMAT_VERSION,
    "tensorflow_version": manifest.tensorflow_version,
  }


def write_lock(path: str, manifest: manifest_lib.Manifest) -> None:
  files.write_json(path, lock_from_manifest(manifest))


def read_lock(path: str, any_format_version: bool = False) -> dict:
  """The lock in `path`; LockError if it is missing, not a lock, or of another format version
  (unless `any_format_version`: a lock about to be replaced whole)."""
  if not os.path.exists(path):
    raise LockError(f"{path}: lock file not found")
  lock = files.read_json(path)
  if lock is None or lock.get("format") != LOCK_FORMAT:
    raise LockError(
      f"{path}: not a readable regeneration lock file (expected a JSON object with "
      f'"format": "{LOCK_FORMAT}")'
    )
  if lock.get("format_version") != manifest_lib.FORMAT_VERSION and not any_format_version:
    raise LockError(
      f"{path}: lock format version {lock.get('format_version')}, this tool "
      f"reads {manifest_lib.FORMAT_VERSION}"
    )
  # Its entries are objects: checked here, before the run, rather than found by a traceback
  # after it (worded as the manifest's errors are).
  try:
    artifacts = records.Reader(lock, path).reader("artifacts")
    for key in artifacts.value:
      artifacts.reader(key)
  except records.RecordError as error:
    raise LockError(str(error)) from None
  return lock


def selection(artifacts: list) -> dict:
  """What a run selected, as the lock sees it: each planned artifact's key -> the formats
  selected to be made with it (`state.Artifact`s)."""
  return {artifact.key: tuple(name for name, _ in artifact.beside) for artifact in artifacts}


def _same_form(entry: dict, selected_beside: tuple) -> bool:
  """Whether a locked module version was made, as this run makes it, with the same formats
  beside it (LiteRT models): they go with the latest version selected, if `--formats` has
  them."""
  return all(
    (manifest_lib.locked_field(fmt.name) in entry) == (fmt.name in selected_beside)
    for fmt in beside.FORMATS
  )


def _without_beside_form(entry: dict) -> dict:
  return {field: value for field, value in entry.items() if field not in SELECTION_DEPENDENT}


def selected_part(lock: dict, manifest: manifest_lib.Manifest, selected: dict) -> tuple:
  """(the lock, the run's lock: both cut to what the run can be checked on; a line saying
  what was cut, or "").

  Locked artifacts the run did not select are cut. So are the card and LiteRT and ONNX digests of a
  module version the run makes in another form than the lock's (with LiteRT models where the
  lock has none, or the reverse): they differ because of the selection, not the code."""
  produced = lock_from_manifest(manifest)
  part, made = dict(lock, artifacts={}), dict(produced, artifacts=dict(produced["artifacts"]))
  outside = other_form = 0
  for key, entry in lock.get("artifacts", {}).items():
    if key not in selected:
      outside += 1
      continue
    if not _same_form(entry, selected[key]):
      other_form += 1
      entry = _without_beside_form(entry)
      if key in made["artifacts"]:
        made["artifacts"][key] = _without_beside_form(made["artifacts"][key])
    part["artifacts"][key] = entry
  cut = []
  if outside:
    were = "was" if outside == 1 else "were"
    cut.append(
      f"{report.plural(outside, 'locked artifact')} outside this selection {were} not checked"
    )
  if other_form:
    cut.append(
      f"the card and {BESIDE_LABELS} digests of "
      f"{report.plural(other_form, 'locked module version')} were not checked (this selection "
      f"makes {BESIDE_LABELS} models for other versions than the lock's: --formats, the "
      f"latest of --versions)"
    )
  return part, made, "; ".join(cut)


def merged_lock(lock: Optional[dict], manifest: manifest_lib.Manifest, selected: dict) -> tuple:
  """(`lock` with this run's artifacts put in, how many locked artifacts it kept as they were,
  of how many of the run's it kept the card and LiteRT and ONNX digests).

  Nothing the run did not select is dropped: other artifacts are kept, and so are the card
  and LiteRT digests of a module version the run made in another form than the lock's (see
  `selected_part`). Refuses (LockError) to keep entries made with another TensorFlow, since
  the lock names one."""
  produced = lock_from_manifest(manifest)
  if lock is None:
    return produced, 0, 0
  merged = dict(lock["artifacts"])
  kept_in_part = 0
  for key, entry in produced["artifacts"].items():
    old = merged.get(key)
    if old is not None and not _same_form(old, selected.get(key, ())):
      entry = dict(_without_beside_form(entry))
      entry.update({field: old[field] for field in SELECTION_DEPENDENT if field in old})
      kept_in_part += 1
    merged[key] = entry
  kept = len(set(merged) - set(produced["artifacts"]))
  if (kept or kept_in_part) and lock.get("tensorflow_version") != produced["tensorflow_version"]:
    raise LockError(
      f"the lock is for TensorFlow {lock.get('tensorflow_version')}, this run used "
      f"{produced['tensorflow_version']}: regenerate everything it locks, or pass "
      f"--prune_lock to keep only this run's artifacts"
    )
  return dict(produced, artifacts=merged), kept, kept_in_part


def lock_differences(lock: dict, manifest: manifest_lib.Manifest) -> list:
  """Readable lines, one per difference between a lock and a produced manifest."""
  return differences(lock, lock_from_manifest(manifest))


def differences(lock: dict, produced: dict) -> list:
  """Readable lines, one per difference between a lock and a run's lock."""
  lines = []
  for field in sorted((set(lock) | set(produced)) - {"artifacts"}):
    if lock.get(field) != produced.get(field):
      lines.append(f"{field}: lock {_short(lock.get(field))}, now {_short(produced.get(field))}")
  locked, made = lock.get("artifacts", {}), produced["artifacts"]
  for key in sorted(set(locked) | set(made)):
    if key not in made:
      lines.append(f"{key}: in the lock, not produced by this run")
    elif key not in locked:
      lines.append(f"{key}: produced, not in the lock")
    else:
      lines += [
        f"{key}: {field}: lock {_short(old)}, now {_short(new)}"
        for field, old, new in _field_differences(locked[key], made[key])
      ]
  return lines


def _field_differences(old: dict, new: dict) -> list:
  old, new = _flatten(old), _flatten(new)
  return [
    (records.field_name(path), old.get(path), new.get(path))
    for path in sorted(set(old) | set(new))
    if old.get(path) != new.get(path)
  ]


def _flatten(value, path=()) -> dict:
  if isinstance(value, dict) and value:
    flat = {}
    for key, item in value.items():
      flat.update(_flatten(item, path + (key,)))
    return flat
  return {path: value}


def _short(value) -> str:
  if value is None:
    return "(none)"
  if isinstance(value, str):
    return value[:12] + "…" if len(value) == 64 else value  # sha256s: enough to tell apart
  return json.dumps(value, sort_keys=True)
