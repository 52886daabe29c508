"""export/kaggle/ledger.py: uploads.json, the record a rerun of the Kaggle upload resumes from.

Each change is on disk as soon as it is made, a later process reads back what an earlier one
recorded, records are kept apart per API endpoint, the same records give the same bytes, and
a file the tool cannot read is refused in one line and left alone. (test_kaggle_upload.py
runs uploads that rely on it.)
"""

import json

import pytest

from export.kaggle import ledger as ledger_lib

KAGGLE = "https://www.kaggle.com"
LOCAL = "http://127.0.0.1:8000"
HANDLE = "team/mobilenet-v2/tensorFlow2/075-96-classification"


def _record(ledger, version, record_state, digests=None):
  ledger.record_version(
    f"{HANDLE}/{version}",
    record_state,
    digests or {"saved_model.pb": "a" * 64},
    notes=f"hub version {version + 3}",
    license_name="Apache 2.0",
    source=f"google/imagenet/mobilenet_v2_075_96/classification/{version + 3}",
    how="uploaded",
  )


def test_a_new_ledger_knows_nothing_and_writes_nothing(tmp_path):
  ledger = ledger_lib.Ledger(str(tmp_path), KAGGLE)

  assert ledger.version(f"{HANDLE}/1") is None
  assert ledger.published_handles() == frozenset()
  assert ledger.instance_metadata_sha256(HANDLE) is None
  assert ledger.model("team/mobilenet-v2") is None
  assert list(tmp_path.iterdir()) == []


def test_each_record_is_on_disk_at_once_and_read_back_by_a_later_run(tmp_path):
  ledger = ledger_lib.Ledger(str(tmp_path), KAGGLE)
  _record(ledger, 1, ledger_lib.PENDING)
  on_disk = json.loads((tmp_path / "uploads.json").read_text())
  assert on_disk["endpoints"][KAGGLE]["versions"][f"{HANDLE}/1"]["state"] == "pending"

  ledger.record_instance_metadata(HANDLE, "b" * 64)
  ledger.record_model("team/mobilenet-v2", created=True)
  rerun = ledger_lib.Ledger(str(tmp_path), KAGGLE)

  assert rerun.version(f"{HANDLE}/1") == {
    "files": {"saved_model.pb": "a" * 64},
    "how": "uploaded",
    "license": "Apache 2.0",
    "source": "google/imagenet/mobilenet_v2_075_96/classification/4",
    "state": "pending",
    "version_notes": "hub version 4",
  }
  assert rerun.instance_metadata_sha256(HANDLE) == "b" * 64
  assert rerun.model("team/mobilenet-v2") == {"created_by_this_tool": True}


def test_only_published_versions_count_as_published(tmp_path):
  ledger = ledger_lib.Ledger(str(tmp_path), KAGGLE)
  _record(ledger, 1, ledger_lib.PENDING)
  _record(ledger, 2, ledger_lib.PENDING)
  _record(ledger, 1, ledger_lib.PUBLISHED)  # kagglehub returned: the record moves on

  assert ledger_lib.Ledger(str(tmp_path), KAGGLE).published_handles() == {f"{HANDLE}/1"}


def test_records_are_kept_apart_per_endpoint(tmp_path):
  _record(ledger_lib.Ledger(str(tmp_path), LOCAL), 1, ledger_lib.PUBLISHED)
  kaggle = ledger_lib.Ledger(str(tmp_path), KAGGLE)

  assert kaggle.published_handles() == frozenset()  # a rehearsal never counts as publishing
  _record(kaggle, 1, ledger_lib.PENDING)
  assert ledger_lib.Ledger(str(tmp_path), LOCAL).published_handles() == {f"{HANDLE}/1"}


def test_the_same_records_give_the_same_bytes_in_any_order(tmp_path):
  digests = {"saved_model.pb": "a" * 64, "variables/variables.index": "c" * 64}
  first, second = tmp_path / "first", tmp_path / "second"
  one = ledger_lib.Ledger(str(first), KAGGLE)
  _record(one, 1, ledger_lib.PUBLISHED, digests)
  one.record_model("team/mobilenet-v2", created=False)
  other = ledger_lib.Ledger(str(second), KAGGLE)
  other.record_model("team/mobilenet-v2", created=False)
  _record(other, 1, ledger_lib.PUBLISHED, dict(reversed(digests.items())))
  _record(other, 1, ledger_lib.PUBLISHED, digests)  # recorded again: no change

  assert (first / "uploads.json").read_bytes() == (second / "uploads.json").read_bytes()


@pytest.mark.parametrize(
  "text,problem",
  [
    ("not json", "expected a mobilenet_v2_kaggle_uploads file; move it away only if nothing it"),
    ('{"format": "other"}', "expected a mobilenet_v2_kaggle_uploads file"),
    (
      '{"endpoints": {}, "format": "mobilenet_v2_kaggle_uploads", "format_version": 2}',
      "format version 2, this tool reads 1",
    ),
  ],
)
def test_an_unreadable_record_is_refused_in_one_line_and_left_alone(tmp_path, text, problem):
  path = tmp_path / "uploads.json"
  path.write_text(text)

  with pytest.raises(ledger_lib.LedgerError) as info:
    ledger_lib.Ledger(str(tmp_path), KAGGLE)

  assert str(info.value).startswith(f"{path}: {problem}")
  assert "\n" not in str(info.value)
  assert path.read_text() == text
