"""Publishing a real regeneration output (mobilenet_v2_0.75_96 classification, hub versions 4
and 5, from the seed-0 synthetic checkpoint): the binary's dry run, the lock check, and the
upload through the real kagglehub client to a loopback Kaggle API (kaggle_fake_api.py).

One module type keeps the session's regeneration (shared with test_regenerate.py) small; the
feature-vector layout (no assets) is the same code path, and test_kaggle_staging.py stages
feature vectors from hand-made outputs."""

import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys

import kaggle_fake_api
import pytest

from export.base import versions
from export.kaggle import publish
from export.kaggle import sources
from export.pipeline import lock as regeneration_lock
from export.pipeline import manifest as manifest_lib
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "publish_kaggle.py"
INSTANCE = "team/mobilenet-v2/tensorFlow2/075-96-{}"
HUB_KEY = "google/imagenet/mobilenet_v2_075_96/{}/{}"


@pytest.fixture(scope="session")
def hub_dir(regenerated_075_96) -> pathlib.Path:
  """The session's regeneration of the 0.75/96 classifier in every format (conftest.py)."""
  output_dir, process = regenerated_075_96
  assert process.returncode == 0, process.stdout + process.stderr
  return output_dir


@pytest.fixture
def kaggle(monkeypatch, tmp_path):
  yield from kaggle_fake_api.serve(monkeypatch, tmp_path / "home")


def _manifest_files(hub_dir, key) -> dict:
  """name -> sha256 of a SavedModel artifact's files, as the regeneration recorded them."""
  manifest = json.loads((hub_dir / "manifest.json").read_text())
  return {
    name: f["sha256"] for name, f in manifest["artifacts"][key]["saved_model"]["files"].items()
  }


def _sha256s(files: dict) -> dict:
  return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def _run(*flags):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run(
    [sys.executable, str(SCRIPT), *flags], env=env, capture_output=True, text=True, timeout=300
  )


def test_dry_run_stages_the_manifests_files_and_sends_nothing(hub_dir, tmp_path, kaggle):
  output = tmp_path / "kaggle"
  run = _run(f"--hub_dir={hub_dir}", "--owner=team", f"--output_dir={output}")
  assert run.returncode == 0, run.stderr
  lines = run.stdout.splitlines()
  saved_models = [line for line in lines if line.startswith(INSTANCE.format("classification"))]
  assert [line.split()[:2] for line in saved_models] == [
    [INSTANCE.format("classification"), "1"],
    [INSTANCE.format("classification"), "2"],
  ]
  assert all(line.endswith("to upload") for line in lines[1:-2])
  # Two SavedModel versions, four LiteRT models, two ONNX models, three TF.js models and a Keras
  # file: 12 versions of 11 instances.
  assert lines[-2].startswith("12 versions of 11 instances of team/mobilenet-v2 (private)")
  assert kaggle.requests == []
  # The session's regeneration is of the seed-0 synthetic checkpoint: recognized by its digest.
  assert (
    "warning: made from a SYNTHETIC checkpoint (random weights, not the released ones): "
    f"{HUB_KEY.format('classification', 4)} and 2 more; never publish them (docs/publishing.md)"
  ) in run.stderr.splitlines()
  for hub_version, kaggle_version in ((4, 1), (5, 2)):
    staged = output / INSTANCE.format("classification") / str(kaggle_version)
    found = {
      p.relative_to(staged).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
      for p in staged.rglob("*")
      if p.is_file()
    }
    found.pop("model-instance-metadata.json")
    assert found == _manifest_files(hub_dir, HUB_KEY.format("classification", hub_version))


def test_json_plan_lists_versions_with_their_notes_and_licence(hub_dir, tmp_path):
  run = _run(
    f"--hub_dir={hub_dir}",
    "--owner=team",
    f"--output_dir={tmp_path}",
    "--formats=saved_model",
    "--variants=mobilenet_v2_075_96",
    "--json",
  )
  assert run.returncode == 0, run.stderr
  plan = json.loads(run.stdout)
  assert plan == json.loads((tmp_path / "plan.json").read_text())
  first, second = plan["versions"][:2]
  assert (first["handle"], first["version"], first["source"]) == (
    INSTANCE.format("classification"),
    1,
    HUB_KEY.format("classification", 4),
  )
  assert (second["version"], second["hub_version"], second["license"]) == (2, 5, "Apache 2.0")
  assert all(change in second["version_notes"] for change in versions.get(5).changes)


def test_a_manifest_that_differs_from_the_lock_is_refused(hub_dir, tmp_path):
  committed = ROOT / "tests" / "regeneration.lock.json"  # also has mobilenet_v2_0.35_128
  with pytest.raises(
    sources.SourceError,
    match="differs from the lock in 15 places, first "
    "google/imagenet/mobilenet_v2_035_128/classification/4: in the lock",
  ):
    publish.prepare(
      publish.Options(
        hub_dir=str(hub_dir), owner="team", lock=str(committed), output_dir=str(tmp_path / "out")
      )
    )
  own = tmp_path / "own.lock.json"
  regeneration_lock.write_lock(str(own), manifest_lib.read(str(hub_dir / "manifest.json")))
  plan = publish.prepare(
    publish.Options(
      hub_dir=str(hub_dir), owner="team", lock=str(own), output_dir=str(tmp_path / "out")
    )
  )
  assert len(plan.versions) == 12  # 2 SavedModel versions, 4 LiteRT, 2 ONNX, 3 TF.js, 1 Keras


def test_upload_publishes_hub_versions_4_then_5_as_kaggle_versions_1_and_2(
  hub_dir, tmp_path, kaggle
):
  options = publish.Options(
    hub_dir=str(hub_dir),
    owner="team",
    output_dir=str(tmp_path),
    variants=(variants.by_name("mobilenet_v2_0.75_96"),),
    formats=("saved_model",),
    upload=True,
  )
  result = publish.publish(options, out=io.StringIO())
  assert result.ok
  handle = INSTANCE.format("classification")
  assert [_sha256s(kaggle.version_files(handle, n)) for n in (1, 2)] == [
    _manifest_files(hub_dir, HUB_KEY.format("classification", 4)),
    _manifest_files(hub_dir, HUB_KEY.format("classification", 5)),
  ]
  # Version 1 comes with the instance; version 2 meets "exists" (409) and becomes a version.
  creates = [
    c
    for c in kaggle.calls("CreateModelInstance")
    if c["body"]["instanceSlug"] == "075-96-classification"
  ]
  assert [c["body"]["licenseName"] for c in creates] == ["Apache 2.0", "Apache 2.0"]
  [new_version] = [
    c
    for c in kaggle.calls("CreateModelInstanceVersion")
    if c["instanceSlug"] == "075-96-classification"
  ]
  assert new_version["body"]["versionNotes"] == (
    "TF Hub module google/imagenet/mobilenet_v2_075_96/classification/5. "
    + " ".join(versions.get(5).changes)
  )
  [model] = kaggle.calls("CreateModel")
  assert (model["title"], model["isPrivate"]) == ("MobileNet V2", True)
  assert "fineTunable" in kaggle.instances[handle]["metadata"]["updateMask"]
  assert "hub.KerasLayer(path)" in kaggle.instances[handle]["metadata"]["usage"]
  before = len(kaggle.requests)
  again = publish.publish(options, out=io.StringIO())
  assert [o.status for o in again.outcomes] == ["already published"] * 2
  sent = [r["path"].rsplit("/", 1)[-1] for r in kaggle.requests[before:]]
  assert sent == ["GetModel"]


def test_the_docs_show_the_plan_the_command_prints(hub_dir, tmp_path):
  run = _run(
    f"--hub_dir={hub_dir}",
    "--owner=my-team",
    "--variants=mobilenet_v2_0.75_96",
    f"--output_dir={tmp_path}",
  )
  assert run.returncode == 0, run.stderr
  docs = (ROOT / "docs" / "publishing.md").read_text()
  rows = [line for line in run.stdout.splitlines() if line.startswith(("instance", "my-team"))]
  assert len(rows) == 1 + 12  # the header and the classifier's versions of every format
  assert all(f"\n{row}\n" in docs for row in rows)


def test_litert_and_keras_files_upload_as_their_own_instances(hub_dir, tmp_path, kaggle):
  options = publish.Options(
    hub_dir=str(hub_dir),
    owner="team",
    output_dir=str(tmp_path),
    formats=("litert_int8", "keras"),
    upload=True,
  )
  result = publish.publish(options, out=io.StringIO())
  assert result.ok
  manifest = json.loads((hub_dir / "manifest.json").read_text())
  int8 = manifest["artifacts"][HUB_KEY.format("classification", 5)]["litert"]["int8"]
  keras_file = manifest["artifacts"][HUB_KEY.format("classification", "keras")]["keras"]
  uploaded = {
    handle: _sha256s(kaggle.version_files(handle, 1))
    for handle in (
      "team/mobilenet-v2/tfLite/075-96-classification-int8",
      "team/mobilenet-v2/keras/075-96-classification",
    )
  }
  assert [list(files.values()) for files in uploaded.values()] == [
    [int8["sha256"]],
    [keras_file["sha256"]],
  ]


def test_onnx_models_upload_with_their_test_vectors(hub_dir, tmp_path, kaggle):
  options = publish.Options(
    hub_dir=str(hub_dir),
    owner="team",
    output_dir=str(tmp_path),
    formats=("onnx_int8",),
    upload=True,
  )
  assert publish.publish(options, out=io.StringIO()).ok
  manifest = json.loads((hub_dir / "manifest.json").read_text())
  int8 = manifest["artifacts"][HUB_KEY.format("classification", 5)]["onnx"]["int8"]
  name = "mobilenet_v2_075_96_classification_int8.onnx"
  uploaded = kaggle.version_files("team/mobilenet-v2/onnx/075-96-classification-int8", 1)
  assert _sha256s(uploaded) == {
    name: int8["sha256"],
    f"{name}.test_data/test_data_set_0/input_0.pb": int8["companions"][
      f"{int8['path']}.test_data/test_data_set_0/input_0.pb"
    ]["sha256"],
    f"{name}.test_data/test_data_set_0/output_0.pb": int8["companions"][
      f"{int8['path']}.test_data/test_data_set_0/output_0.pb"
    ]["sha256"],
  }


def test_a_tfjs_model_uploads_its_directorys_files_as_its_own_instance(hub_dir, tmp_path, kaggle):
  options = publish.Options(
    hub_dir=str(hub_dir),
    owner="team",
    output_dir=str(tmp_path),
    formats=("tfjs_float16",),
    upload=True,
  )
  assert publish.publish(options, out=io.StringIO()).ok
  manifest = json.loads((hub_dir / "manifest.json").read_text())
  model = manifest["artifacts"][HUB_KEY.format("classification", 5)]["tfjs"]["float16"]
  handle = "team/mobilenet-v2/tfJs/075-96-classification-fp16"
  uploaded = _sha256s(kaggle.version_files(handle, 1))
  assert uploaded == {name: f["sha256"] for name, f in model["files"].items()}
  assert sorted(uploaded) == ["group1-shard1of1.bin", "model.json"]
  assert "tf.loadGraphModel" in kaggle.instances[handle]["metadata"]["usage"]
