"""The Kaggle dry run on an install without the upload client (the `kaggle` extra), and its
warning when the outputs were made from a synthetic checkpoint, from hand-made outputs."""

import json
import pathlib
import re
import sys

import binaries
import kaggle_test_hub
import pytest

from export.kaggle import kaggle_api
from export.kaggle import sources
from export.verification import expectation
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIENT = ("kagglehub", "kagglesdk")
KEY4 = "google/imagenet/mobilenet_v2_075_96/classification/4"
KEY5 = "google/imagenet/mobilenet_v2_075_96/classification/5"
CREDENTIALS = {"KAGGLE_USERNAME": "publisher", "KAGGLE_KEY": "key"}


def _publish_kaggle(*flags, blocked=(), environment=None):
  """scripts/publish_kaggle.py as a user runs it, with the `blocked` modules not importable; in
  a fresh interpreter (it never imports TensorFlow, which the warm python would start with)."""
  return binaries.run(
    "scripts.publish_kaggle",
    *flags,
    blocked=blocked,
    fresh=True,
    environment={"PYTHONPATH": str(ROOT), **(environment or {})},
  )


def test_the_dry_run_needs_neither_kagglehub_nor_kagglesdk(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path / "hub"))
  output = tmp_path / "kaggle"
  run = _publish_kaggle(
    f"--hub_dir={tmp_path / 'hub'}", "--owner=team", f"--output_dir={output}", blocked=CLIENT
  )
  assert run.returncode == 0, run.stderr
  assert run.stderr == ""
  assert run.stdout.splitlines()[-1] == f"staged in {output}; nothing uploaded (add --upload)"
  assert [v["source"] for v in json.loads((output / "plan.json").read_text())["versions"]] == [
    KEY4,
    KEY5,
  ]


@pytest.mark.parametrize("blocked", [CLIENT, ("kagglesdk",)])
def test_upload_without_the_client_is_one_line_naming_the_extra(tmp_path, blocked):
  kaggle_test_hub.write_hub(str(tmp_path / "hub"))
  output = tmp_path / "kaggle"
  run = _publish_kaggle(
    f"--hub_dir={tmp_path / 'hub'}",
    "--owner=team",
    f"--output_dir={output}",
    "--upload",
    blocked=blocked,
    environment=CREDENTIALS,
  )
  assert run.returncode == 1, run.stderr
  assert run.stderr.splitlines() == [
    f"error: --upload needs kagglehub and kagglesdk, but {blocked[0]} is not installed: "
    "install the kaggle extra (pip install -e '.[kaggle]'); the dry run (without --upload) "
    "needs neither"
  ]
  assert not output.exists()  # refused before anything was staged


def test_the_endpoint_named_without_kagglesdk_is_the_one_kagglesdk_uses(monkeypatch):
  from kagglesdk import kaggle_env  # pylint: disable=g-import-not-at-top

  for name in (kaggle_api.ENDPOINT_VARIABLE, "KAGGLE_API_ENVIRONMENT"):
    monkeypatch.delenv(name, raising=False)
  assert kaggle_api.endpoint_name() == kaggle_env.get_endpoint(kaggle_env.get_env())
  monkeypatch.setitem(sys.modules, "kagglesdk", None)  # as if it were not installed
  assert kaggle_api.endpoint_name() == kaggle_env.get_endpoint(kaggle_env.KaggleEnv.PROD)
  monkeypatch.setenv(kaggle_api.ENDPOINT_VARIABLE, "http://127.0.0.1:9/")
  assert kaggle_api.endpoint_name() == "http://127.0.0.1:9"
  for bad in ("not-a-url", "ftp://127.0.0.1:9", "http://[::1"):  # one line, no traceback
    monkeypatch.setenv(kaggle_api.ENDPOINT_VARIABLE, bad)
    with pytest.raises(
      kaggle_api.UploadError, match=rf"^KAGGLE_API_ENDPOINT={re.escape(bad)}: not an http://"
    ):
      kaggle_api.endpoint_name()


# --- synthetic checkpoints ----------------------------------------------------------------
def test_the_outputs_of_a_synthetic_checkpoint_are_flagged(tmp_path):
  seed_0 = sources.synthetic_digests()["mobilenet_v2_0.75_96"]
  kaggle_test_hub.write_hub(str(tmp_path / "hub"), keras=True, checkpoint_sha256=seed_0)
  output = tmp_path / "kaggle"
  run = _publish_kaggle(f"--hub_dir={tmp_path / 'hub'}", "--owner=team", f"--output_dir={output}")
  assert run.returncode == 0, run.stderr
  keras_key = KEY4.replace("/4", "/keras")
  assert run.stderr.splitlines() == [
    "warning: made from a SYNTHETIC checkpoint (random weights, not the released ones): "
    f"{KEY4} and 2 more; never publish them (docs/publishing.md)"
  ]
  plan = json.loads((output / "plan.json").read_text())
  assert plan["synthetic_sources"] == [KEY4, KEY5, keras_key]


def test_outputs_of_another_checkpoint_are_not_flagged(tmp_path):
  # The seed-0 digest of another variant: the variant's own digest is what counts.
  other = sources.synthetic_digests()["mobilenet_v2_1.0_224"]
  kaggle_test_hub.write_hub(str(tmp_path / "hub"), checkpoint_sha256=other)
  run = _publish_kaggle(
    f"--hub_dir={tmp_path / 'hub'}", "--owner=team", f"--output_dir={tmp_path / 'kaggle'}"
  )
  assert run.returncode == 0, run.stderr
  assert run.stderr == ""
  assert json.loads((tmp_path / "kaggle" / "plan.json").read_text())["synthetic_sources"] == []


def test_the_recorded_synthetic_digests_are_those_of_the_seed_0_checkpoints(
  synthetic_checkpoint_075_96,
):
  recorded = sources.synthetic_digests()
  assert sorted(recorded) == sorted(v.name for v in variants.VARIANTS)
  assert len(set(recorded.values())) == len(recorded)
  digest, _ = expectation.checkpoint_digest(synthetic_checkpoint_075_96)
  assert recorded["mobilenet_v2_0.75_96"] == digest
  # The committed lock was regenerated from seed-0 checkpoints too.
  lock = json.loads((ROOT / "tests" / "regeneration.lock.json").read_text())
  locked = {
    key.split("/")[2]: entry["checkpoint_sha256"] for key, entry in lock["artifacts"].items()
  }
  assert locked and all(
    recorded[variants.by_name(name).name] == sha256 for name, sha256 in locked.items()
  )
