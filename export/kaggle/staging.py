"""The publishing plan and its staging tree: one directory per Kaggle instance version.

  <output_dir>/plan.json                                    the plan (what --json prints)
  <output_dir>/<owner>/<model>/model-metadata.json          for `kaggle models create`
  <output_dir>/<owner>/<model>/<framework>/<variation>/<version>/
      model-instance-metadata.json                          for `kaggle models instances create`
      saved_model.pb, variables/..., assets/...             the instance's files, as uploaded
      (or the one .tflite or .keras file, or a TF.js model directory's files)

The files are hard links to the verified files of the hub directory (copies across file
systems), so staging costs no space. Each version directory is built beside its place and
renamed into it, so nothing half-written is left. The tree and plan.json depend only on the
hub directory's files and the flags, never on the time or the machine.
"""

import dataclasses
import os
import shutil
from typing import Callable
from typing import Optional

from export.base import files
from export.kaggle import mapping
from export.kaggle import metadata
from export.kaggle import sources
from export.publish import model_card

PLAN_FILE = "plan.json"
PLAN_FORMAT = "mobilenet_v2_kaggle_plan"


class PlanError(ValueError):
  """The selection cannot be published as Kaggle versions in order; one line."""


@dataclasses.dataclass(frozen=True)
class PlannedVersion:
  instance: mapping.InstanceVersion
  item: sources.Publishable
  notes: str
  directory: str  # relative to the output directory, '/'-separated

  def to_json(self) -> dict:
    return {
      "directory": self.directory,
      "files": [{"bytes": f.size, "name": f.name, "sha256": f.sha256} for f in self.item.files],
      "format": self.item.format,
      "framework": self.instance.framework,
      "handle": self.instance.handle,
      "hub_version": self.item.hub_version,
      "license": mapping.LICENSE_NAME,
      "source": self.item.key,
      "variation": self.instance.variation,
      "version": self.instance.version,
      "version_notes": self.notes,
    }


@dataclasses.dataclass(frozen=True)
class Plan:
  owner: str
  model: str
  private: bool
  versions: tuple  # of PlannedVersion: by instance handle, then Kaggle version
  skipped: tuple  # of (source key, format, reason)
  absent_formats: tuple = ()  # selected formats the manifest has no file of
  synthetic_sources: tuple = ()  # manifest keys made from a synthetic checkpoint (random weights)

  @property
  def model_metadata_path(self) -> str:
    return f"{self.owner}/{self.model}/{metadata.MODEL_METADATA_FILE}"

  def instances(self) -> dict:
    """Instance handle -> its PlannedVersions, oldest first."""
    grouped = {}
    for planned in self.versions:
      grouped.setdefault(planned.instance.handle, []).append(planned)
    return grouped

  def to_json(self) -> dict:
    return {
      "absent_formats": list(self.absent_formats),
      "format": PLAN_FORMAT,
      "model": self.model,
      "model_metadata": self.model_metadata_path,
      "owner": self.owner,
      "private": self.private,
      "skipped": [{"format": f, "reason": r, "source": k} for k, f, r in self.skipped],
      "synthetic_sources": list(self.synthetic_sources),
      "versions": [planned.to_json() for planned in self.versions],
    }


def make_plan(
  items: list,
  owner: str,
  model: str = mapping.DEFAULT_MODEL_SLUG,
  private: bool = True,
  published: frozenset = frozenset(),
) -> Plan:
  """Maps each Publishable to its Kaggle instance version (export/kaggle/mapping.py).

  Kaggle numbers versions in upload order, so version N of an instance is planned only if
  versions 1 … N-1 are planned too or in `published` (versioned handles already uploaded);
  otherwise PlanError names the missing one.
  """
  mapping.check_owner(owner)
  mapping.check_model_slug(model)
  versions, skipped, seen = [], [], {}
  for item in items:
    instance = mapping.target(
      item.variant, item.module_type, item.hub_version, item.format, owner, model
    )
    if instance is None:
      skipped.append((item.key, item.format, mapping.skip_reason(item.format)))
      continue
    if instance.versioned_handle in seen:
      raise PlanError(
        f"manifest.json: {item.key} and {seen[instance.versioned_handle]} both "
        f"map to {instance.versioned_handle}"
      )
    seen[instance.versioned_handle] = item.key
    notes = mapping.version_notes(item.variant, item.module_type, item.hub_version, item.format)
    versions.append(PlannedVersion(instance, item, notes, f"{instance.handle}/{instance.version}"))
  versions.sort(key=lambda p: (p.instance.handle, p.instance.version))
  for planned in versions:
    for earlier in range(1, planned.instance.version):
      handle = f"{planned.instance.handle}/{earlier}"
      if handle not in seen and handle not in published:
        raise PlanError(
          f"{planned.instance.versioned_handle} (from {planned.item.key}) needs "
          f"Kaggle version {earlier} published first, which is neither in the "
          f"selection nor in the upload record; regenerate every hub version "
          f"({', '.join(map(str, mapping.rule(planned.item.format).hub_versions))})"
        )
  return Plan(owner, model, private, tuple(versions), tuple(skipped))


# --- the staging tree ----------------------------------------------------------------------
def _card(hub_dir: str, item: sources.Publishable) -> str:
  """The item's model card: the hub directory's (verified), or rendered for Keras files."""
  if item.card is not None:
    return metadata.card_text(os.path.join(hub_dir, *item.card.split("/")))
  latest = mapping.rule(mapping.SAVED_MODEL).hub_versions[-1]
  return model_card.render(item.variant, item.module_type, latest)


def _link_or_copy(source: str, target: str) -> None:
  os.makedirs(os.path.dirname(target), exist_ok=True)
  try:
    os.link(source, target)
  except OSError:  # another file system, or links not allowed
    shutil.copyfile(source, target)


def stage(plan: Plan, hub_dir: str, output_dir: str) -> None:
  """Writes the plan's staging tree and plan.json under `output_dir` (see the module doc)."""
  if not plan.versions:
    raise PlanError("nothing to publish: the selection maps to no Kaggle instance version")
  # The newest module's card: its changelog is the longest.
  newest = max(plan.versions, key=lambda p: p.item.hub_version or 0)
  model_json = metadata.model_metadata(
    plan.owner,
    plan.model,
    _card(hub_dir, newest.item),
    [(p.instance, p.item) for p in plan.versions],
    private=plan.private,
  )
  # The model's whole tree is built aside and put in place at once: a failure leaves the old
  # tree as it was, and what an earlier, wider selection staged does not linger beside it.
  model_root = f"{plan.owner}/{plan.model}/"
  with files.staged_directory(os.path.join(output_dir, *model_root.split("/"))) as built:
    files.write_json(
      os.path.join(built, *plan.model_metadata_path[len(model_root) :].split("/")), model_json
    )
    for planned_versions in plan.instances().values():
      latest = planned_versions[-1]
      instance_json = metadata.instance_metadata(
        latest.instance, latest.item, _card(hub_dir, latest.item)
      )
      for planned in planned_versions:
        version_dir = os.path.join(built, *planned.directory[len(model_root) :].split("/"))
        for source in planned.item.files:
          _link_or_copy(
            os.path.join(hub_dir, *source.path.split("/")),
            os.path.join(version_dir, *source.name.split("/")),
          )
        files.write_json(os.path.join(version_dir, metadata.INSTANCE_METADATA_FILE), instance_json)
  files.write_json(os.path.join(output_dir, PLAN_FILE), plan.to_json())


def staged_files(output_dir: str, planned: PlannedVersion) -> list:
  """The paths of a staged version's files that are uploaded: all but the metadata."""
  root = os.path.join(output_dir, *planned.directory.split("/"))
  return [name for name in files.tree_files(root) if name not in metadata.METADATA_FILES]


# --- the plan, for people ------------------------------------------------------------------
def _megabytes(size: int) -> str:
  return f"{size / 1e6:.1f}"


def table(plan: Plan, status: Optional[Callable] = None) -> str:
  """The plan as a text table; `status(planned) -> str` fills the last column."""
  rows = [("instance", "version", "from", "files", "MB", "status")]
  for planned in plan.versions:
    rows.append(
      (
        planned.instance.handle,
        str(planned.instance.version),
        planned.item.key,
        str(len(planned.item.files)),
        _megabytes(planned.item.size),
        status(planned) if status else "staged",
      )
    )
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  right = (False, True, False, True, True, False)
  lines = [
    "  ".join(
      cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right, strict=True)
    ).rstrip()
    for row in rows
  ]
  instances = len(plan.instances())
  lines.append(
    f"{len(plan.versions)} versions of {instances} instances of "
    f"{plan.owner}/{plan.model} ({'private' if plan.private else 'public'}), "
    f"{_megabytes(sum(p.item.size for p in plan.versions))} MB"
  )
  for key, format_name, reason in plan.skipped:
    lines.append(f"not published: {key} ({format_name}): {reason}")
  if plan.absent_formats:
    lines.append(f"no files in the manifest for: {', '.join(plan.absent_formats)}")
  return "\n".join(lines)
