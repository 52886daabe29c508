"""The regeneration's manifest (export/pipeline/manifest.py): the JSON it writes and reads back,
the files and the lock part of each kind of entry, and one-line refusals of a malformed one."""

import dataclasses
import json
import os

import manifest_samples
import pytest

from export.base import files
from export.pipeline import manifest
from export.pipeline import state
from nets import variants

KEY = "google/imagenet/mobilenet_v2_075_96/classification/5"
KERAS_KEY = "google/imagenet/mobilenet_v2_075_96/classification/keras"
COMMON_JSON = {
  "checkpoint": {"files": ["x.ckpt.index", "x.ckpt.data-00000-of-00001"], "sha256": "k"},
  "handle": "google/imagenet/mobilenet_v2_075_96/classification",
  "module_type": "classification",
  "parameters": {"with_batch_norm": 2, "without_batch_norm": 1},
  "parity": {
    "checks": {"outputs": "passed", "variables": "passed"},
    "evaluations": 17,
    "max_abs_error": 2.5e-05,
    "max_rel_error": 0.001,
    "top1_agree": 17,
    "top5_agree": 17,
    "variables_exactly_equal": 262,
  },
  "variant": "mobilenet_v2_0.75_96",
}
AGREEMENT = {"max_abs_error": 1e-06, "passed": True, "threshold": 1e-05}
# As the regeneration writes them (export/pipeline/makers.py), written out by hand.
MODULE_VERSION_JSON = dict(
  COMMON_JSON,
  archive={"bytes": 7, "path": f"{KEY}.tar.gz", "sha256": "a", "tar_sha256": "t"},
  card={"bytes": 5, "path": f"{KEY}.md", "sha256": "c", "static_sha256": "cs"},
  litert={
    "float32": {"agreement": AGREEMENT, "bytes": 11, "path": f"{KEY}.tflite", "sha256": "l"},
    "int8": {"agreement": AGREEMENT, "bytes": 11, "path": f"{KEY}.int8.tflite", "sha256": "l8"},
  },
  saved_model={
    "files": {
      "saved_model.pb": {"bytes": 3, "sha256": "s"},
      "variables/variables.index": {"bytes": 2, "sha256": "v"},
    },
    "fingerprint": {"checkpoint_hash": 1, "singleprint": "1/2/3/4"},
    "path": KEY,
  },
  version=5,
)
KERAS_PATH = f"{KERAS_KEY}/mobilenet_v2_075_96_classification.keras"
KERAS_JSON = dict(
  COMMON_JSON, format="keras", keras={"bytes": 13, "path": KERAS_PATH, "sha256": "k3"}
)


def _manifest_json(**artifacts) -> dict:
  return {
    "artifacts": artifacts or {KEY: MODULE_VERSION_JSON, KERAS_KEY: KERAS_JSON},
    "environment": {"python": "3.11.2", "tensorflow": "2.21.0", "zlib": "1.2.13"},
    "format": "mobilenet_v2_hub_regeneration_manifest",
    "format_version": 1,
    "tensorflow_version": "2.21.0",
    "tool": {"name": "slim-mobilenet-hub", "version": "0.1.0"},
  }


def _written(tmp_path, value) -> str:
  path = tmp_path / "manifest.json"
  path.write_text(json.dumps(value))
  return str(path)


@pytest.mark.parametrize("key, entry_json", [(KEY, MODULE_VERSION_JSON), (KERAS_KEY, KERAS_JSON)])
def test_each_kind_of_entry_reads_and_writes_back_the_same_json(key, entry_json):
  entry = manifest.entry_from_json(entry_json, "manifest.json", key)
  assert entry.to_json() == entry_json
  assert manifest.entry_from_json(entry.to_json(), "manifest.json", key) == entry


def test_a_manifest_file_reads_and_writes_back_the_same_bytes(tmp_path):
  path = tmp_path / "manifest.json"
  files.write_json(path, _manifest_json())
  written = path.read_bytes()
  read = manifest.read(str(path))
  assert isinstance(read.artifacts[KEY], manifest.ModuleVersionEntry)
  assert isinstance(read.artifacts[KERAS_KEY], manifest.FileEntry)
  assert read.artifacts[KEY].derived["litert"]["int8"].path == f"{KEY}.int8.tflite"
  manifest.write(str(path), read)
  assert path.read_bytes() == written


def test_a_module_versions_files_are_its_card_archive_saved_model_and_derived_files():
  entry = manifest.entry_from_json(MODULE_VERSION_JSON, "manifest.json", KEY)
  assert entry.files() == {
    f"{KEY}.md": "c",
    f"{KEY}.tar.gz": "a",
    f"{KEY}/saved_model.pb": "s",
    f"{KEY}/variables/variables.index": "v",
    f"{KEY}.tflite": "l",
    f"{KEY}.int8.tflite": "l8",
  }
  assert entry.directories() == {KEY: ["saved_model.pb", "variables/variables.index"]}


def test_a_module_version_locks_its_digests_and_no_measured_figure():
  entry = manifest.entry_from_json(MODULE_VERSION_JSON, "manifest.json", KEY)
  assert entry.locked() == {
    "archive_tar_sha256": "t",
    "card_sha256": "cs",
    "checkpoint_sha256": "k",
    "fingerprint": {"checkpoint_hash": 1, "singleprint": "1/2/3/4"},
    "litert_sha256": {"float32": "l", "int8": "l8"},
    "parameters": {"with_batch_norm": 2, "without_batch_norm": 1},
    "saved_model_files": {"saved_model.pb": "s", "variables/variables.index": "v"},
  }
  without_litert = dict(MODULE_VERSION_JSON)
  del without_litert["litert"]
  assert "litert_sha256" not in (
    manifest.entry_from_json(without_litert, "manifest.json", KEY).locked()
  )


def test_a_keras_file_entry_records_and_locks_its_one_file():
  entry = manifest.entry_from_json(KERAS_JSON, "manifest.json", KERAS_KEY)
  assert entry.files() == {KERAS_PATH: "k3"}
  assert entry.directories() == {}
  assert entry.locked() == {
    "checkpoint_sha256": "k",
    "keras_sha256": "k3",
    "parameters": {"with_batch_norm": 2, "without_batch_norm": 1},
  }


def test_a_new_format_made_from_the_saved_model_needs_no_code_here():
  onnx = {"float32": {"agreement": {}, "bytes": 9, "path": f"{KEY}.onnx", "sha256": "o"}}
  entry = manifest.entry_from_json(dict(MODULE_VERSION_JSON, onnx=onnx), "manifest.json", KEY)
  assert entry.derived["onnx"]["float32"].path == f"{KEY}.onnx"
  assert entry.to_json()["onnx"] == onnx
  assert entry.files()[f"{KEY}.onnx"] == "o"
  assert entry.locked()["onnx_sha256"] == {"float32": "o"}


def test_a_derived_directory_records_its_files_and_locks_its_tree_digest():
  tfjs = {
    "float32": {
      "agreement": AGREEMENT,
      "bytes": 7,
      "files": {
        "group1-shard1of1.bin": {"bytes": 4, "sha256": "b"},
        "model.json": {"bytes": 3, "sha256": "j"},
      },
      "path": f"{KEY}.tfjs",
      "sha256": "tree",
    }
  }
  entry_json = dict(MODULE_VERSION_JSON, tfjs=tfjs)
  entry = manifest.entry_from_json(entry_json, "manifest.json", KEY)
  assert isinstance(entry.derived["tfjs"]["float32"], manifest.DerivedDirectory)
  assert isinstance(entry.derived["litert"]["int8"], manifest.DerivedFile)
  assert entry.to_json() == entry_json
  recorded = entry.files()
  assert f"{KEY}.tfjs" not in recorded  # a directory has no digest of its own on disk
  assert {path: recorded[path] for path in recorded if ".tfjs/" in path} == {
    f"{KEY}.tfjs/group1-shard1of1.bin": "b",
    f"{KEY}.tfjs/model.json": "j",
  }
  assert entry.directories()[f"{KEY}.tfjs"] == ["group1-shard1of1.bin", "model.json"]
  assert entry.locked()["tfjs_sha256"] == {"float32": "tree"}


def test_a_derived_files_companions_are_recorded_checked_and_locked():
  vectors = f"{KEY}.onnx.test_data/test_data_set_0"
  companions = {f"{vectors}/input_0.pb": {"bytes": 3, "sha256": "i"}}
  onnx = {
    "float32": {
      "agreement": {},
      "bytes": 9,
      "companions": companions,
      "path": f"{KEY}.onnx",
      "sha256": "o",
    }
  }
  entry = manifest.entry_from_json(dict(MODULE_VERSION_JSON, onnx=onnx), "manifest.json", KEY)
  assert entry.to_json()["onnx"] == onnx
  assert entry.files()[f"{vectors}/input_0.pb"] == "i"
  assert entry.locked()["onnx_sha256"] == {
    "float32": "o",
    "5.onnx.test_data/test_data_set_0/input_0.pb": "i",
  }
  elsewhere = {
    "float32": dict(onnx["float32"], companions={"other/input_0.pb": companions.popitem()[1]})
  }
  with pytest.raises(manifest.ManifestError, match=r"onnx\.float32\.companions: expected a path"):
    manifest.entry_from_json(dict(MODULE_VERSION_JSON, onnx=elsewhere), "manifest.json", KEY)


_DELETE = object()


def _edited(value: dict, *path, new=_DELETE) -> dict:
  """A copy of `value` with the field at `path` set to `new`, or deleted."""
  value = json.loads(json.dumps(value))
  inner = value
  for name in path[:-1]:
    inner = inner[name]
  if new is _DELETE:
    del inner[path[-1]]
  else:
    inner[path[-1]] = new
  return value


def _without(value: dict, *path) -> dict:
  return _edited(value, *path)


def _with(value: dict, *path_and_new) -> dict:
  return _edited(value, *path_and_new[:-1], new=path_and_new[-1])


MANIFEST = _manifest_json()
ENTRY = ("artifacts", KEY)


@pytest.mark.parametrize(
  "value, problem",
  [
    (None, "expected a mobilenet_v2_hub_regeneration_manifest file, found unreadable JSON"),
    (_with(MANIFEST, "format", "other"), "expected a mobilenet_v2_hub_regeneration_manifest file, found 'other'"),
    (_with(MANIFEST, "format_version", 2), "format version 2, this tool reads 1"),
    (_without(MANIFEST, "tool"), "expected a field 'tool', found none"),
    (_with(MANIFEST, "extra", 1), "unexpected field 'extra'"),
    (_without(MANIFEST, *ENTRY, "card", "path"), f"{KEY}: card: expected a field 'path', found none"),
    (_with(MANIFEST, *ENTRY, "card", "bytes", "5"), f"{KEY}: card.bytes: expected an integer, found '5'"),
    (_with(MANIFEST, *ENTRY, "version", True), f"{KEY}: version: expected an integer, found True"),
    (_with(MANIFEST, *ENTRY, "parity", "max_abs_error", "0"), f"{KEY}: parity.max_abs_error: expected a number or null, found '0'"),
    (_with(MANIFEST, *ENTRY, "archive", "path", "../../etc/passwd"), f"{KEY}: archive.path: expected a relative path inside the output directory, found '../../etc/passwd'"),
    (_with(MANIFEST, *ENTRY, "saved_model", "files", "../x", {"bytes": 1, "sha256": "x"}), f"{KEY}: saved_model.files[../x]: expected a relative path inside the output directory, found '../x'"),
    (_without(MANIFEST, *ENTRY, "litert", "int8", "agreement"), f"{KEY}: litert.int8: expected a field 'agreement', found none"),
    (_with(MANIFEST, *ENTRY, "litert", "int8", 3), f"{KEY}: litert.int8: expected an object, found 3"),
    (_with(MANIFEST, "artifacts", KERAS_KEY, "checkpoint", "files", "x"), f"{KERAS_KEY}: checkpoint.files: expected a list of names, found 'x'"),
    (_with(MANIFEST, "artifacts", KERAS_KEY, "keras_extra", {}), f"{KERAS_KEY}: unexpected field 'keras_extra'"),
    (_with(MANIFEST, "artifacts", KERAS_KEY, "format", "handle"), f"{KERAS_KEY}: format: format 'handle' is the name of another field"),
    (_without(MANIFEST, *ENTRY, "saved_model"), f"{KEY}: expected a field 'saved_model' (a module version) or 'format', found neither"),
  ],
)  # fmt: skip
def test_a_malformed_manifest_is_refused_in_one_line_naming_the_file_and_field(
  tmp_path, value, problem
):
  path = _written(tmp_path, value)
  with pytest.raises(manifest.ManifestError) as error:
    manifest.read(path)
  assert str(error.value) == f"{path}: {problem}"


def test_a_missing_manifest_is_named(tmp_path):
  with pytest.raises(manifest.ManifestError, match=f"^{tmp_path}/manifest.json: no manifest$"):
    manifest.read(str(tmp_path / "manifest.json"))


def test_a_derived_format_cannot_take_another_fields_name():
  with pytest.raises(ValueError, match="a derived format cannot be named 'card'"):
    manifest_samples.module_version(derived={"card": {}})


# --- stamps hold entries: state reads them -------------------------------------------------
def _stamped(output_dir, entry_json) -> tuple:
  """An artifact whose files and stamp are in place: (artifact, its stamp inputs)."""
  variant = variants.by_name("mobilenet_v2_0.75_96")
  artifact = state.Artifact(variant, "classification", None)
  written = manifest_samples.keras_file(KERAS_KEY)
  path = os.path.join(output_dir, *written.file.path.split("/"))
  os.makedirs(os.path.dirname(path))
  files.write_file(path, b"keras bytes")
  entry = dataclasses.replace(
    written, file=dataclasses.replace(written.file, sha256=files.sha256(path))
  )
  inputs = {"tool_version": "0.1.0"}
  stamp = {"code": {}, "entry": entry_json(entry.to_json()), "inputs": inputs}
  files.write_json(artifact.stamp_path(output_dir), stamp)
  return artifact, inputs


def test_a_stamps_entry_is_read_and_a_malformed_one_makes_the_artifact_stale(tmp_path):
  artifact, inputs = _stamped(str(tmp_path / "good"), lambda entry: entry)
  assert state.staleness(artifact, str(tmp_path / "good"), inputs, state.CodeDigests()) is None
  artifact, inputs = _stamped(str(tmp_path / "bad"), lambda entry: dict(entry, parity=None))
  assert state.staleness(artifact, str(tmp_path / "bad"), inputs, state.CodeDigests()) == (
    "stale: unreadable stamp"
  )
  # Not JSON at all (cut short by a full disk): unreadable too, not "no stamp".
  with open(artifact.stamp_path(str(tmp_path / "bad")), "w") as stamp:
    stamp.write('{"code": {')
  assert state.staleness(artifact, str(tmp_path / "bad"), inputs, state.CodeDigests()) == (
    "stale: unreadable stamp"
  )
