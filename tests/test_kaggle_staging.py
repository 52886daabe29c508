"""Staging for Kaggle from hand-made regeneration outputs: LiteRT and Keras files, refusals,
version order, metadata, reproducibility. (SavedModels from a real regeneration:
test_kaggle_publish.py.)"""

import hashlib
import json
import os
import pathlib

import kaggle_test_hub
import pytest

from export.kaggle import metadata
from export.kaggle import publish
from export.kaggle import sources
from export.kaggle import staging

KEY5 = "google/imagenet/mobilenet_v2_075_96/classification/5"
TFLITE = "team/mobilenet-v2/tfLite/075-96-classification"


def _prepare(hub, output=None, **options):
  options = dict(dict(owner="team", output_dir=str(output or hub / "kaggle")), **options)
  return publish.prepare(publish.Options(hub_dir=str(hub), **options))


def _tree(root) -> dict:
  root = pathlib.Path(root)
  return {
    p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
  }


def test_litert_types_become_tflite_instances_of_the_latest_hub_version(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), litert_versions=(4, 5))
  plan = _prepare(tmp_path, formats=("litert_float32", "litert_int8"))
  assert [p.instance.versioned_handle for p in plan.versions] == [f"{TFLITE}/1", f"{TFLITE}-int8/1"]
  assert [(key, reason) for key, _, reason in plan.skipped] == [
    (KEY5.replace("/5", "/4"), "litert_float32 is published from hub version 5 only"),
    (KEY5.replace("/5", "/4"), "litert_int8 is published from hub version 5 only"),
  ]
  staged = _tree(tmp_path / "kaggle" / "team/mobilenet-v2/tfLite/075-96-classification-int8/1")
  assert sorted(staged) == [
    "mobilenet_v2_075_96_classification_int8.tflite",
    "model-instance-metadata.json",
  ]
  assert staged["mobilenet_v2_075_96_classification_int8.tflite"] == kaggle_test_hub.file_bytes(
    KEY5, "int8"
  )


def test_onnx_types_become_onnx_instances_with_their_test_vectors(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), onnx_versions=(4, 5))
  plan = _prepare(tmp_path, formats=("onnx_float32", "onnx_int8"))
  onnx = "team/mobilenet-v2/onnx/075-96-classification"
  assert [p.instance.versioned_handle for p in plan.versions] == [f"{onnx}/1", f"{onnx}-int8/1"]
  assert [reason for _, _, reason in plan.skipped] == [
    "onnx_float32 is published from hub version 5 only",
    "onnx_int8 is published from hub version 5 only",
  ]
  staged = _tree(tmp_path / "kaggle" / f"{onnx}-int8/1")
  name = "mobilenet_v2_075_96_classification_int8.onnx"
  assert sorted(staged) == [
    name,
    f"{name}.test_data/test_data_set_0/input_0.pb",
    f"{name}.test_data/test_data_set_0/output_0.pb",
    "model-instance-metadata.json",
  ]
  assert staged[name] == kaggle_test_hub.file_bytes(KEY5, "onnx int8")
  assert staged[f"{name}.test_data/test_data_set_0/output_0.pb"] == kaggle_test_hub.file_bytes(
    f"{KEY5}.int8.onnx", "output_0.pb"
  )
  instance = json.loads(staged["model-instance-metadata.json"])
  assert (instance["framework"], instance["fineTunable"]) == ("onnx", False)
  assert f'kagglehub.model_download("{onnx}-int8")' in instance["usage"]
  assert f'os.path.join(path, "{name}")' in instance["usage"]
  assert "onnxruntime.InferenceSession(" in instance["usage"]


def test_tfjs_models_become_tfjs_instances_holding_the_model_directorys_files(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), tfjs_versions=(5,))
  plan = _prepare(tmp_path, formats=("tfjs_float32", "tfjs_uint8"))
  tfjs = "team/mobilenet-v2/tfJs/075-96-classification"
  assert [p.instance.versioned_handle for p in plan.versions] == [f"{tfjs}/1", f"{tfjs}-uint8/1"]
  staged = _tree(tmp_path / "kaggle" / f"{tfjs}-uint8/1")
  assert sorted(staged) == ["group1-shard1of1.bin", "model-instance-metadata.json", "model.json"]
  for name in kaggle_test_hub.TFJS_FILES:
    assert staged[name] == kaggle_test_hub.file_bytes(KEY5, f"uint8 {name}")
  instance = json.loads(staged["model-instance-metadata.json"])
  assert instance["framework"] == "tfJs"
  assert (
    'path = kagglehub.model_download("team/mobilenet-v2/tfJs/075-96-classification-uint8")'
    in (instance["usage"])
  )
  assert (
    "# const model = await tf.loadGraphModel('https://<your host>/model.json');"
    in (instance["usage"])
  )


def test_a_tfjs_directory_holding_another_file_is_refused(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), tfjs_versions=(5,))
  (tmp_path / f"{KEY5}.float16.tfjs" / "extra.bin").write_bytes(b"x")
  with pytest.raises(sources.SourceError, match=r"5\.float16\.tfjs/"):
    _prepare(tmp_path, formats=("tfjs_float16",))


def test_keras_files_become_keras_instances(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), module_types=("feature_vector",), keras=True)
  plan = _prepare(tmp_path, formats=("litert_int8", "keras"))
  [planned] = plan.versions
  assert plan.absent_formats == ("litert_int8",)
  assert staging.table(plan).splitlines()[-1] == "no files in the manifest for: litert_int8"
  assert planned.instance.versioned_handle == "team/mobilenet-v2/keras/075-96-feature-vector/1"
  staged = _tree(tmp_path / "kaggle" / planned.directory)
  key = "google/imagenet/mobilenet_v2_075_96/feature_vector/keras"
  assert staged["mobilenet_v2_075_96_feature_vector.keras"] == kaggle_test_hub.file_bytes(
    key, "keras"
  )
  assert staging.staged_files(str(tmp_path / "kaggle"), planned) == [
    "mobilenet_v2_075_96_feature_vector.keras"
  ]


def _remove_manifest(hub):
  os.remove(hub / "manifest.json")


def _fail_run(hub):
  report = json.loads((hub / "run_report.json").read_text())
  report["artifacts"][KEY5] = {"reason": "verification failed", "status": "FAILED"}
  (hub / "run_report.json").write_text(json.dumps(report))


def _modify_file(hub):
  (hub / KEY5 / "saved_model.pb").write_bytes(b"changed")


def _edit_card(hub):  # Kaggle would show the edited text as the instance's description
  with open(hub / f"{KEY5}.md", "a") as card:
    card.write("Top-1 accuracy: 99.9 %\n")


def _remove_card(hub):
  os.remove(hub / f"{KEY5}.md")


def _add_file(hub):
  (hub / KEY5 / "stray.txt").write_text("left behind")


def _unknown_litert_type(hub):
  manifest = json.loads((hub / "manifest.json").read_text())
  int4 = {"agreement": {}, "bytes": 1, "path": "x", "sha256": "0"}
  manifest["artifacts"][KEY5]["litert"] = {"int4": int4}
  (hub / "manifest.json").write_text(json.dumps(manifest))


def _drop_a_field(hub):
  manifest = json.loads((hub / "manifest.json").read_text())
  del manifest["artifacts"][KEY5]["card"]["path"]
  (hub / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
  "damage, message",
  [
    (_remove_manifest, "manifest.json: no manifest"),
    (
      _fail_run,
      "run_report.json: the last regeneration failed for 1 artifacts, first "
      f"{KEY5}: FAILED (verification failed)",
    ),
    (_modify_file, "saved_model.pb: differs from the manifest's digest"),
    (_add_file, "stray.txt: not in the manifest"),
    (_edit_card, "5.md: differs from the manifest's digest"),
    (_remove_card, "5.md: missing (the manifest records it)"),
    (_unknown_litert_type, f"{KEY5}: LiteRT type 'int4' has no Kaggle mapping"),
    (_drop_a_field, f"manifest.json: {KEY5}: card: expected a field 'path', found none"),
  ],
)
def test_a_damaged_hub_directory_is_refused_in_one_line_and_nothing_is_staged(
  tmp_path, damage, message
):
  kaggle_test_hub.write_hub(str(tmp_path))
  damage(tmp_path)
  with pytest.raises(
    sources.SourceError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")
  ) as error:
    _prepare(tmp_path)
  assert "\n" not in str(error.value)
  assert not (tmp_path / "kaggle").exists()


@pytest.mark.parametrize("inside", [f"{KEY5}/kaggle", ".regenerate/kaggle", "."])
def test_an_output_directory_among_the_regenerations_files_is_refused(tmp_path, inside):
  # Staged inside a SavedModel's directory, the files would make it differ from the manifest.
  kaggle_test_hub.write_hub(str(tmp_path))
  before = _tree(tmp_path)
  with pytest.raises(ValueError, match="among the regeneration's own files in"):
    _prepare(tmp_path, output=tmp_path / inside)
  assert _tree(tmp_path) == before
  _prepare(tmp_path, output=tmp_path / "elsewhere")  # beside them is fine, as the default is


def test_staging_replaces_the_models_tree_whole_or_leaves_it_as_it_was(tmp_path, monkeypatch):
  kaggle_test_hub.write_hub(str(tmp_path), litert_versions=(4, 5))
  _prepare(tmp_path, formats=("litert_float32", "litert_int8"))
  model = tmp_path / "kaggle" / "team" / "mobilenet-v2"
  _prepare(tmp_path, formats=("litert_float32",))  # narrower: the int8 instance goes
  assert sorted(os.listdir(model / "tfLite")) == ["075-96-classification"]
  before = _tree(tmp_path / "kaggle")

  def fail(*unused_args):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(staging, "_link_or_copy", fail)
  with pytest.raises(OSError):
    _prepare(tmp_path, formats=("litert_int8",))
  assert _tree(tmp_path / "kaggle") == before  # nothing half-written, and no scratch left
  assert sorted(os.listdir(tmp_path / "kaggle" / "team")) == ["mobilenet-v2"]


def test_a_hub_dir_that_is_a_file_is_said_to_be_one(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path))
  with pytest.raises(sources.SourceError, match=r"manifest\.json: not a directory \(expected a"):
    _prepare(tmp_path / "manifest.json", output=tmp_path / "kaggle")


def test_a_later_version_without_the_earlier_one_is_refused(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), versions=(5,))
  with pytest.raises(
    staging.PlanError,
    match=r"075-96-classification/2 \(from "
    rf"{KEY5}\) needs Kaggle version 1 published first",
  ):
    _prepare(tmp_path)
  items = sources.load(str(tmp_path))[1]
  handle = "team/mobilenet-v2/tensorFlow2/075-96-classification"
  plan = staging.make_plan(items, "team", published=frozenset({f"{handle}/1"}))
  assert [p.instance.versioned_handle for p in plan.versions] == [f"{handle}/2"]


def test_the_model_is_private_unless_asked_otherwise(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path))
  for private in (True, False):
    plan = _prepare(tmp_path, private=private)
    model = json.loads((tmp_path / "kaggle" / plan.model_metadata_path).read_text())
    assert model["isPrivate"] is private
    assert ("(private)" if private else "(public)") in staging.table(plan)


def test_metadata_carries_what_kaggle_reads(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path), litert_versions=(5,))
  _prepare(tmp_path, formats=("saved_model", "litert_uint8"))
  root = tmp_path / "kaggle" / "team" / "mobilenet-v2"
  model = json.loads((root / "model-metadata.json").read_text())
  assert {k: model[k] for k in ("ownerSlug", "slug", "title", "isPrivate", "licenseName")} == {
    "ownerSlug": "team",
    "slug": "mobilenet-v2",
    "title": "MobileNet V2",
    "isPrivate": True,
    "licenseName": "Apache 2.0",
  }
  assert "Inverted Residuals and Linear Bottlenecks" in model["description"]
  assert "#### Version 5" in model["description"]
  saved_model = json.loads(
    (root / "tensorFlow2/075-96-classification/1" / metadata.INSTANCE_METADATA_FILE).read_text()
  )
  tflite = json.loads(
    (root / "tfLite/075-96-classification-uint8/1" / metadata.INSTANCE_METADATA_FILE).read_text()
  )
  expected = {
    "ownerSlug": "team",
    "modelSlug": "mobilenet-v2",
    "licenseName": "Apache 2.0",
    "trainingData": ["imagenet-ilsvrc-2012-cls"],
  }
  assert {k: saved_model[k] for k in expected} == expected == {k: tflite[k] for k in expected}
  assert (saved_model["framework"], saved_model["instanceSlug"], saved_model["fineTunable"]) == (
    "tensorFlow2",
    "075-96-classification",
    True,
  )
  assert (tflite["framework"], tflite["instanceSlug"], tflite["fineTunable"]) == (
    "tfLite",
    "075-96-classification-uint8",
    False,
  )
  assert (
    'kagglehub.model_download("team/mobilenet-v2/tensorFlow2/075-96-classification")'
    in saved_model["usage"]
  )
  assert "hub.KerasLayer(path)" in saved_model["usage"]
  assert "tfhub.dev" not in saved_model["usage"]
  assert "mobilenet_v2_075_96_classification_uint8.tflite" in tflite["usage"]
  # Both versions of an instance carry the same metadata: the newest card's.
  assert (
    root / "tensorFlow2/075-96-classification/2" / metadata.INSTANCE_METADATA_FILE
  ).read_text() == json.dumps(saved_model, indent=2, sort_keys=True) + "\n"


def test_staging_depends_only_on_the_hub_directory_and_the_flags(tmp_path):
  hub = tmp_path / "hub"
  kaggle_test_hub.write_hub(str(hub), litert_versions=(5,), keras=True)
  first, second = tmp_path / "first", tmp_path / "second"
  _prepare(hub, first)
  os.utime(hub / KEY5 / "saved_model.pb", (0, 0))  # file times are not part of it
  _prepare(hub, second)
  assert _tree(first) == _tree(second)
  assert len(_tree(first)) == 2 * 4 + 4 * 2 + 2 + 1 + 1  # SavedModels, LiteRT, Keras, meta
  assert str(tmp_path).encode() not in (first / "plan.json").read_bytes()
  digest = hashlib.sha256((first / "plan.json").read_bytes()).hexdigest()
  assert digest == hashlib.sha256((second / "plan.json").read_bytes()).hexdigest()


def test_staging_again_replaces_a_version_directory_whole(tmp_path):
  kaggle_test_hub.write_hub(str(tmp_path))
  plan = _prepare(tmp_path)
  directory = tmp_path / "kaggle" / plan.versions[0].directory
  (directory / "stray.bin").write_bytes(b"not from the hub")
  _prepare(tmp_path)
  assert not (directory / "stray.bin").exists()
  leftovers = [p for p in (tmp_path / "kaggle").rglob(".*") if p.name.endswith(".staging")]
  assert leftovers == []
