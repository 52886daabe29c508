"""Uploading through the real kagglehub client to a loopback stand-in for Kaggle's API
(kaggle_fake_api.py), from hand-made regeneration outputs: credentials, failures mid-upload,
reruns without duplicates. (A real regeneration's upload: test_kaggle_publish.py.)"""

import json
import os
import pathlib
import subprocess
import sys

import kaggle_fake_api
import kaggle_test_hub
import pytest

from export.kaggle import publish
from export.kaggle import upload

HANDLE = "team/mobilenet-v2/tensorFlow2/075-96-classification"
KEY4 = "google/imagenet/mobilenet_v2_075_96/classification/4"
KEY5 = "google/imagenet/mobilenet_v2_075_96/classification/5"


@pytest.fixture
def kaggle(monkeypatch, tmp_path):
  yield from kaggle_fake_api.serve(monkeypatch, tmp_path / "home")


@pytest.fixture
def hub(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path / "hub"))
  return tmp_path / "hub"


def _upload(hub, **options):
  return publish.publish(
    publish.Options(hub_dir=str(hub), owner="team", upload=True, **options),
    out=open(os.devnull, "w"),
  )


def _statuses(result) -> list:
  return [(o.planned.instance.version, o.status) for o in result.outcomes]


def _expected_files(key: str, salt: str = "") -> dict:
  return {
    name: kaggle_test_hub.file_bytes(key, name, salt) for name in kaggle_test_hub.SAVED_MODEL_FILES
  }


def test_rejected_credentials_stop_the_upload_with_one_line(monkeypatch, hub, kaggle):
  monkeypatch.setenv("KAGGLE_KEY", "wrong-key")
  with pytest.raises(upload.UploadError) as error:
    _upload(hub)
  assert str(error.value) == (
    "model team/mobilenet-v2: Kaggle rejected the credentials from "
    "KAGGLE_USERNAME=publisher and KAGGLE_KEY (HTTP 401)"
  )
  assert kaggle.models == {} and kaggle.instances == {}


@pytest.mark.slow
def test_credentials_come_from_kaggle_json_too(monkeypatch, tmp_path, hub, kaggle):
  for name in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
    monkeypatch.delenv(name)
  config = tmp_path / "config"
  config.mkdir()
  (config / "kaggle.json").write_text(json.dumps({"username": "publisher", "key": "old-key"}))
  monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
  with pytest.raises(
    upload.UploadError,
    match=rf"credentials from {config}/kaggle\.json "
    r"\(user publisher\) \(HTTP 401\)$",
  ):
    _upload(hub)
  (config / "kaggle.json").write_text(json.dumps({"username": "publisher", "key": "secret-key"}))
  assert _statuses(_upload(hub)) == [(1, upload.UPLOADED), (2, upload.UPLOADED)]


def test_missing_credentials_are_one_line_before_anything_is_sent(monkeypatch, hub, kaggle):
  monkeypatch.delenv("KAGGLE_KEY")  # half of a pair: the missing half is named
  with pytest.raises(
    upload.MissingCredentials,
    match=r"^KAGGLE_KEY is not set \(the other of KAGGLE_USERNAME and KAGGLE_KEY is\): set both$",
  ):
    _upload(hub)
  monkeypatch.delenv("KAGGLE_USERNAME")
  with pytest.raises(
    upload.MissingCredentials,
    match=r"^no Kaggle credentials: set "
    r"KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle\.json",
  ):
    _upload(hub)
  assert kaggle.requests == []
  assert not (hub / "kaggle").exists()


@pytest.mark.slow
def test_a_5xx_mid_upload_then_a_rerun_completes_without_duplicates(hub, kaggle):
  kaggle.put_failures[("saved_model.pb", 2)] = 503  # during the upload of hub version 5
  first = _upload(hub)
  assert _statuses(first) == [(1, upload.UPLOADED), (2, upload.FAILED)]
  assert "503" in first.outcomes[1].detail
  assert len(kaggle.instances[HANDLE]["versions"]) == 1
  second = _upload(hub)
  assert _statuses(second) == [(1, upload.ALREADY_PUBLISHED), (2, upload.UPLOADED)]
  assert [v["files"] for v in kaggle.instances[HANDLE]["versions"]] == [
    _expected_files(KEY4),
    _expected_files(KEY5),
  ]


@pytest.mark.slow
def test_an_upload_that_reached_kaggle_before_failing_is_not_repeated(hub, kaggle):
  kaggle.fail_after_effect["CreateModelInstanceVersion"] = 500
  assert _statuses(_upload(hub)) == [(1, upload.UPLOADED), (2, upload.FAILED)]
  assert len(kaggle.instances[HANDLE]["versions"]) == 2
  blobs = len(kaggle.calls("StartBlobUpload"))
  assert _statuses(_upload(hub)) == [(1, upload.ALREADY_PUBLISHED), (2, upload.CONFIRMED)]
  assert len(kaggle.instances[HANDLE]["versions"]) == 2
  assert len(kaggle.calls("StartBlobUpload")) == blobs


@pytest.mark.slow
def test_versions_on_kaggle_that_the_record_lacks_are_never_duplicated(hub, kaggle):
  _upload(hub)
  os.remove(hub / "kaggle" / "uploads.json")
  result = _upload(hub)
  assert _statuses(result) == [(1, upload.FAILED), (2, upload.NOT_ATTEMPTED)]
  assert result.outcomes[0].detail.startswith(f"Kaggle already has version 2 of {HANDLE}")
  assert len(kaggle.instances[HANDLE]["versions"]) == 2


@pytest.mark.slow
def test_a_published_version_with_other_files_is_refused(tmp_path, hub, kaggle):
  _upload(hub)
  kaggle_test_hub.write_hub(str(hub), salt=" rebuilt")
  result = _upload(hub)
  assert _statuses(result) == [(1, upload.FAILED), (2, upload.NOT_ATTEMPTED)]
  assert "published before with other files" in result.outcomes[0].detail
  assert kaggle.version_files(HANDLE, 1) == _expected_files(KEY4)


@pytest.mark.slow
def test_the_endpoint_redirect_ends_with_the_upload(hub, kaggle):
  from kagglesdk import kaggle_env  # pylint: disable=g-import-not-at-top

  _upload(hub)
  assert kaggle_env.get_endpoint(kaggle_env.KaggleEnv.LOCAL) == "http://localhost"
  assert "KAGGLE_API_ENVIRONMENT" not in os.environ
  assert len(kaggle.calls("CreateModel")) == 1


def test_the_binary_uploads_and_prints_only_json_on_stdout(hub, kaggle):
  script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "publish_kaggle.py"
  run = subprocess.run(
    [sys.executable, str(script), f"--hub_dir={hub}", "--owner=team", "--json", "--upload"],
    capture_output=True,
    text=True,
    timeout=300,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )
  assert run.returncode == 0, run.stderr
  plan = json.loads(run.stdout)
  assert [(v["version"], v["upload"]["status"]) for v in plan["versions"]] == [
    (1, upload.UPLOADED),
    (2, upload.UPLOADED),
  ]
  assert "Uploading Model" in run.stderr  # kagglehub's own log, kept off stdout
  assert len(kaggle.instances[HANDLE]["versions"]) == 2
