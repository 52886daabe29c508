"""The upload record, `<output_dir>/uploads.json`: what was sent to which Kaggle endpoint.

Per instance version (`<owner>/<model>/<framework>/<variation>/<version>`) it keeps the state
(`pending` from just before kagglehub is called, `published` once it returned), the files'
sha256, the version notes, the licence and the source artifact; per instance, the sha256 of
the instance metadata last applied; per model, whether this tool created it. Records are
per API endpoint, so a rehearsal against a local server never counts as publishing.
export/kaggle/upload.py decides with it what a rerun must still do; it is rewritten
atomically after every change, so an interrupted upload leaves it consistent.
"""

import os
from typing import Optional

from export.base import errors
from export.base import files

LEDGER_FILE = "uploads.json"
LEDGER_FORMAT = "mobilenet_v2_kaggle_uploads"
LEDGER_FORMAT_VERSION = 1

PENDING = "pending"
PUBLISHED = "published"


class LedgerError(errors.Failure):
  """The upload record cannot be read; one line naming it."""


class Ledger:
  """The records of one endpoint in `<output_dir>/uploads.json`."""

  def __init__(self, output_dir: str, endpoint: str):
    self.path = os.path.join(output_dir, LEDGER_FILE)
    self.endpoint = endpoint
    self._data = self._read()

  def _read(self) -> dict:
    if not os.path.exists(self.path):
      return {"endpoints": {}, "format": LEDGER_FORMAT, "format_version": LEDGER_FORMAT_VERSION}
    data = files.read_json(self.path)
    if data is None or data.get("format") != LEDGER_FORMAT:
      raise LedgerError(
        f"{self.path}: expected a {LEDGER_FORMAT} file; move it away only if "
        f"nothing it records was published"
      )
    if data.get("format_version") != LEDGER_FORMAT_VERSION:
      raise LedgerError(
        f"{self.path}: format version {data.get('format_version')!r}, this tool "
        f"reads {LEDGER_FORMAT_VERSION}"
      )
    return data

  @property
  def _records(self) -> dict:
    return self._data["endpoints"].setdefault(
      self.endpoint, {"instances": {}, "models": {}, "versions": {}}
    )

  def _save(self) -> None:
    files.write_json(self.path, self._data)

  # Instance versions.
  def version(self, versioned_handle: str) -> Optional[dict]:
    return self._records["versions"].get(versioned_handle)

  def published_handles(self) -> frozenset:
    return frozenset(
      handle for handle, record in self._records["versions"].items() if record["state"] == PUBLISHED
    )

  def record_version(
    self,
    versioned_handle: str,
    record_state: str,
    digests: dict,
    notes: str,
    license_name: str,
    source: str,
    how: str,
  ) -> None:
    """`digests`: name -> sha256 of what is (being) uploaded; `how` says what decided it."""
    self._records["versions"][versioned_handle] = {
      "files": dict(sorted(digests.items())),
      "how": how,
      "license": license_name,
      "source": source,
      "state": record_state,
      "version_notes": notes,
    }
    self._save()

  # Instances and models.
  def instance_metadata_sha256(self, handle: str) -> Optional[str]:
    return self._records["instances"].get(handle, {}).get("metadata_sha256")

  def record_instance_metadata(self, handle: str, sha256: str) -> None:
    self._records["instances"][handle] = {"metadata_sha256": sha256}
    self._save()

  def model(self, model_handle: str) -> Optional[dict]:
    return self._records["models"].get(model_handle)

  def record_model(self, model_handle: str, created: bool) -> None:
    self._records["models"][model_handle] = {"created_by_this_tool": created}
    self._save()
