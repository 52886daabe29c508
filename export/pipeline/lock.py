"""The regeneration's lock file: what a run must reproduce, and how a run differs from it.

A lock (tests/regeneration.lock.json) keeps, per artifact, what must be reproducible: digests,
fingerprints and parameter counts, taken from a manifest; never a figure computed with float
kernels. docs/regeneration.md describes it.
"""

import json

from export.base import errors
from export.base import files
from export.pipeline import state

LOCK_FORMAT = "mobilenet_v2_hub_regeneration_lock"


class LockError(errors.Failure):
  """A lock file that cannot be read; the message is one line naming it."""


def lock_from_manifest(manifest: dict) -> dict:
  """What must be reproducible: digests, fingerprints, parameter counts (docs/regeneration.md)."""
  return {
    "artifacts": {key: _locked(entry) for key, entry in manifest["artifacts"].items()},
    "format": LOCK_FORMAT,
    "format_version": state.FORMAT_VERSION,
    "tensorflow_version": manifest["tensorflow_version"],
  }


def _locked(entry: dict) -> dict:
  """The reproducible part of a manifest entry. Measured figures (float kernels' last bits)
  stay out: the card is locked without its measurements (`static_sha256`)."""
  locked = {
    "checkpoint_sha256": entry["checkpoint"]["sha256"],
    "parameters": entry["parameters"],
  }
  if "keras" in entry:
    locked["keras_sha256"] = entry["keras"]["sha256"]
    return locked
  saved_model = entry["saved_model"]
  locked.update(
    {
      "archive_tar_sha256": entry["archive"]["tar_sha256"],
      "card_sha256": entry["card"]["static_sha256"],
      "fingerprint": saved_model["fingerprint"],
      "saved_model_files": {name: f["sha256"] for name, f in saved_model["files"].items()},
    }
  )
  if "litert" in entry:
    locked["litert_sha256"] = {kind: model["sha256"] for kind, model in entry["litert"].items()}
  return locked


def write_lock(path: str, manifest: dict) -> None:
  files.write_json(path, lock_from_manifest(manifest))


def read_lock(path: str) -> dict:
  lock = files.read_json(path)
  if lock is None or lock.get("format") != LOCK_FORMAT:
    raise LockError(f"{path}: not a readable regeneration lock file")
  if lock.get("format_version") != state.FORMAT_VERSION:
    raise LockError(
      f"{path}: lock format version {lock.get('format_version')}, this tool "
      f"reads {state.FORMAT_VERSION}"
    )
  return lock


def lock_differences(lock: dict, manifest: dict) -> list:
  """Readable lines, one per difference between a lock and a produced manifest."""
  produced = lock_from_manifest(manifest)
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
    (_field_name(path), old.get(path), new.get(path))
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


def _field_name(path: tuple) -> str:
  name = path[0]
  for part in path[1:]:
    name += f"[{part}]" if ("/" in part or "." in part) else f".{part}"
  return name


def _short(value) -> str:
  if value is None:
    return "(none)"
  if isinstance(value, str):
    return value[:12] + "…" if len(value) == 64 else value  # sha256s: enough to tell apart
  return json.dumps(value, sort_keys=True)
