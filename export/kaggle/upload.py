"""Uploads a staged plan to Kaggle Models through kagglehub, resumably and without duplicates.

Each instance's versions go up in order, each with `kagglehub.model_upload(handle, directory,
license_name, version_notes)`: the first creates the instance (its version 1), each later one
meets "instance exists" (409) and becomes the next version. How a version is decided, from the
record `uploads.json` (export/kaggle/ledger.py) and the instance's latest version on Kaggle:

  recorded published, same files         skip: already published
  recorded published, other files        fail: a published version cannot change
  Kaggle has it, recorded pending        record published (an earlier upload reached Kaggle
                                         before it was cut short), skip
  Kaggle has it, not recorded so         fail: not this tool's upload; never guess or duplicate
  Kaggle has exactly the versions before upload (recorded pending first, published after)
  Kaggle lacks an earlier version        fail: the numbering would be wrong

A failed version stops its instance (later versions would be misnumbered); other instances go
on. Before the first upload the model is created with model-metadata.json's title, subtitle,
description and privacy if it does not exist (kagglehub would name it after its slug); after
an instance's uploads, model-instance-metadata.json's overview, usage, licence, fine-tunable and
training data are applied to it (kagglehub sends none of them), when they changed.

The calls themselves, credentials and the endpoint are export/kaggle/kaggle_api.py's.
"""

import dataclasses
import hashlib
import json
import os
import sys
from typing import Optional
from typing import TextIO

from export.base import files
from export.kaggle import kaggle_api
from export.kaggle import ledger as ledger_lib
from export.kaggle import metadata
from export.kaggle import staging

# Raised here too; the binary and the tests name them through this module.
UploadError = kaggle_api.UploadError
MissingCredentials = kaggle_api.MissingCredentials

UPLOADED = "uploaded"
ALREADY_PUBLISHED = "already published"
CONFIRMED = "confirmed on Kaggle"
FAILED = "FAILED"
NOT_ATTEMPTED = "not attempted"


@dataclasses.dataclass
class Outcome:
  planned: staging.PlannedVersion
  status: str = NOT_ATTEMPTED
  detail: str = ""


def _read_json(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


class _Uploader:
  """One run over a plan: see the module docstring for the decisions."""

  def __init__(self, plan, output_dir: str, ledger, kaggle, credentials: str, out: TextIO):
    self.plan, self.output_dir, self.ledger, self.kaggle = plan, output_dir, ledger, kaggle
    self.credentials, self.out = credentials, out

  def print(self, text: str) -> None:
    print(text, file=self.out, flush=True)

  def call(self, what: str, function, *args):
    """Runs an API call; a rejected credential or an unreachable endpoint stops the run."""
    import requests  # pylint: disable=g-import-not-at-top

    try:
      return function(*args)
    except requests.ConnectionError as error:
      raise UploadError(
        f"{what}: cannot reach {self.ledger.endpoint} ({type(error).__name__})"
      ) from None
    except requests.HTTPError as error:
      if kaggle_api.status_code(error) == 401:
        raise UploadError(
          f"{what}: Kaggle rejected the credentials from {self.credentials} (HTTP 401)"
        ) from None
      raise

  def ensure_model(self) -> None:
    model_json = _read_json(
      os.path.join(self.output_dir, *self.plan.model_metadata_path.split("/"))
    )
    model_handle = f"{self.plan.owner}/{self.plan.model}"
    if self.call(
      f"model {model_handle}", self.kaggle.model_exists, self.plan.owner, self.plan.model
    ):
      if self.ledger.model(model_handle) is None:
        self.ledger.record_model(model_handle, created=False)
      return
    self.call(f"creating model {model_handle}", self.kaggle.create_model, model_json)
    self.ledger.record_model(model_handle, created=True)
    self.print(
      f"created model {model_handle} ({'private' if model_json['isPrivate'] else 'public'})"
    )

  def staged_digests(self, planned) -> dict:
    root = os.path.join(self.output_dir, *planned.directory.split("/"))
    return {
      name: files.sha256(os.path.join(root, *name.split("/")))
      for name in staging.staged_files(self.output_dir, planned)
    }

  def publish_version(self, planned, outcome: Outcome) -> None:
    instance, versioned = planned.instance, planned.instance.versioned_handle
    digests = {f.name: f.sha256 for f in planned.item.files}
    if self.staged_digests(planned) != digests:
      outcome.status, outcome.detail = (
        FAILED,
        (f"{planned.directory}: staged files differ from the plan; stage again"),
      )
      return
    record = self.ledger.version(versioned)
    if record and record["state"] == ledger_lib.PUBLISHED:
      if record["files"] == digests:
        outcome.status = ALREADY_PUBLISHED
      else:
        outcome.status, outcome.detail = (
          FAILED,
          (
            f"published before with other files "
            f"({self.ledger.path}); a Kaggle version "
            f"cannot change"
          ),
        )
      return
    latest = self.call(versioned, self.kaggle.latest_version, instance.handle)
    record_args = (digests, planned.notes, planned.to_json()["license"], planned.item.key)
    if latest >= instance.version:
      if record and record["state"] == ledger_lib.PENDING and record["files"] == digests:
        self.ledger.record_version(
          versioned,
          ledger_lib.PUBLISHED,
          *record_args,
          how=f"confirmed: Kaggle reported version {latest} after an upload that was cut short",
        )
        outcome.status = CONFIRMED
      else:
        outcome.status, outcome.detail = (
          FAILED,
          (
            f"Kaggle already has version {latest} of {instance.handle}, which "
            f"{self.ledger.path} does not record as these files; not uploading a duplicate"
          ),
        )
      return
    if latest < instance.version - 1:
      outcome.status, outcome.detail = (
        FAILED,
        (
          f"Kaggle has {latest} versions of {instance.handle}; version {instance.version} "
          f"needs version {instance.version - 1} first"
        ),
      )
      return
    self.ledger.record_version(
      versioned,
      ledger_lib.PENDING,
      *record_args,
      how=f"upload started; Kaggle had {latest} versions",
    )
    directory = os.path.join(self.output_dir, *planned.directory.split("/"))
    self.call(
      versioned,
      self.kaggle.upload,
      instance.handle,
      directory,
      planned.to_json()["license"],
      planned.notes,
    )
    self.ledger.record_version(
      versioned,
      ledger_lib.PUBLISHED,
      *record_args,
      how=f"uploaded; Kaggle had {latest} versions before",
    )
    outcome.status = UPLOADED

  def apply_instance_metadata(self, planned_versions: list) -> Optional[str]:
    """Applies the instance's metadata if this tool made the instance and it changed."""
    latest = planned_versions[-1]
    handle = latest.instance.handle
    first = self.ledger.version(f"{handle}/1")
    if not first or first["state"] != ledger_lib.PUBLISHED:
      return None
    path = os.path.join(
      self.output_dir, *latest.directory.split("/"), metadata.INSTANCE_METADATA_FILE
    )
    with open(path, "rb") as f:
      digest = hashlib.sha256(f.read()).hexdigest()
    if self.ledger.instance_metadata_sha256(handle) == digest:
      return None
    self.call(f"metadata of {handle}", self.kaggle.update_instance, _read_json(path))
    self.ledger.record_instance_metadata(handle, digest)
    return f"applied the instance metadata of {handle}"

  def run(self) -> list:
    self.ensure_model()
    outcomes = []
    for planned_versions in self.plan.instances().values():
      failed = None
      for planned in planned_versions:
        outcome = Outcome(planned)
        outcomes.append(outcome)
        if failed:
          outcome.detail = f"version {failed} failed"
          continue
        try:
          self.publish_version(planned, outcome)
        except UploadError:
          raise
        except Exception as error:  # pylint: disable=broad-except
          outcome.status, outcome.detail = FAILED, kaggle_api.one_line(error)
        self.print(
          f"{outcome.status}: {planned.instance.versioned_handle}"
          + (f": {outcome.detail}" if outcome.detail else "")
        )
        if outcome.status == FAILED:
          failed = planned.instance.version
      try:
        note = self.apply_instance_metadata(planned_versions)
      except UploadError:
        raise
      except Exception as error:  # pylint: disable=broad-except
        note = f"instance metadata not applied (retried by a rerun): {kaggle_api.one_line(error)}"
      if note:
        self.print(note)
    return outcomes


def upload(plan: staging.Plan, output_dir: str, out: TextIO = sys.stdout) -> list:
  """Uploads the staged `plan` from `output_dir`; returns an Outcome per planned version.

  Raises UploadError when nothing more can be done (no or rejected credentials, unreachable
  endpoint, unreadable record); failures of single versions are in the outcomes.
  """
  kaggle_api.require_client()
  credentials = kaggle_api.credentials_source()
  with kaggle_api.api_endpoint(os.environ.get(kaggle_api.ENDPOINT_VARIABLE)) as endpoint:
    try:
      ledger = ledger_lib.Ledger(output_dir, endpoint)
    except ledger_lib.LedgerError as error:
      raise UploadError(str(error)) from None
    with kaggle_api.kagglehub_log_to(out):
      return _Uploader(plan, output_dir, ledger, kaggle_api.KaggleApi(), credentials, out).run()


def recorded_status(output_dir: str):
  """`status(planned) -> str` for the plan table: what the record says, without the network."""
  try:
    ledger = ledger_lib.Ledger(output_dir, kaggle_api.endpoint_name())
  except ledger_lib.LedgerError as error:
    raise UploadError(str(error)) from None

  def status(planned) -> str:
    record = ledger.version(planned.instance.versioned_handle)
    if record is None:
      return "to upload"
    digests = {f.name: f.sha256 for f in planned.item.files}
    if record["files"] != digests:
      return "CONFLICT: published with other files"
    return record["state"]

  return status
