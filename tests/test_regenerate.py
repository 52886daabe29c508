"""The regeneration binary: layout, manifest, reproducibility, resuming, faults, lock check.

The slow tests share two real regenerations of one small artifact (mobilenet_v2_0.75_96,
classification, version 5), each in fresh worker processes, and the session's regeneration
of that classifier in every format (conftest.py's `regenerated_075_96`, which the Kaggle
tests publish); the rest reuse copies of their output, so that only what changes is made
again. One rerun makes version 5 again in every format: with a LiteRT model deleted and the
checkpoint changed, it shows both reruns' behaviours for the price of one.
"""

import dataclasses
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import signal
import tarfile

import manifest_samples
import pytest
import regeneration_runs

from export.base import files
from export.pipeline import lock as regeneration_lock
from export.pipeline import manifest as manifest_lib
from export.pipeline import plan
from export.pipeline import state as regeneration_state
from export.publish import hub_layout
from export.publish import model_card
from export.testing import synthetic_checkpoint
from nets import architecture
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")
KEY = "google/imagenet/mobilenet_v2_075_96/classification/5"
ONE_ARTIFACT = [
  "--variants=mobilenet_v2_0.75_96",
  "--module_types=classification",
  "--versions=5",
  "--formats=saved_model",
  "--jobs=1",
]
KERAS_KEY = "google/imagenet/mobilenet_v2_075_96/classification/keras"
VOLATILE = ("run_report.json", ".regenerate/logs/", ".regenerate/lock")


def _files(root) -> dict:
  """Relative path -> sha256 of every file below `root`, volatile ones left out."""
  root = pathlib.Path(root)
  found = {}
  for path in sorted(p for p in root.rglob("*") if p.is_file()):
    relative = path.relative_to(root).as_posix()
    if not relative.startswith(VOLATILE):
      found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
  return found


def _manifest(output_dir) -> dict:
  return json.loads((pathlib.Path(output_dir) / "manifest.json").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, checkpoint_dir_075_96):
  output_dir = tmp_path_factory.mktemp("first") / "hub"
  return output_dir, regeneration_runs.run(checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT)


@pytest.fixture(scope="module")
def second_run(tmp_path_factory, checkpoint_dir_075_96):
  """A regeneration in fresh interpreters (no hash seed or state shared with the first, made
  with the tests' warm `python`) that also asks for a variant without a checkpoint (listed
  first)."""
  output_dir = tmp_path_factory.mktemp("second") / "hub"
  flags = ["--variants=mobilenet_v2_0.35_128,mobilenet_v2_075_96"] + ONE_ARTIFACT[1:]
  return output_dir, regeneration_runs.run(checkpoint_dir_075_96, output_dir, *flags, fresh=True)


def _copy(run, tmp_path):
  copy = tmp_path / "hub"
  shutil.copytree(run[0], copy)
  return copy


# --- one regeneration --------------------------------------------------------------------
@pytest.mark.slow
def test_a_run_writes_the_hub_layout_card_archive_and_manifest(first_run):
  output_dir, process = first_run
  assert process.returncode == 0, process.stdout + process.stderr
  paths = hub_layout.artifact_paths(str(output_dir), VARIANT, "classification", 5)
  assert os.path.isfile(os.path.join(paths.saved_model_dir, "saved_model.pb"))
  with open(paths.card_path) as card:
    assert card.read() == model_card.render(VARIANT, "classification", 5)
  with tarfile.open(paths.archive_path) as archive:
    members = sorted(m.name for m in archive.getmembers() if m.isfile())
  entry = _manifest(output_dir)["artifacts"][KEY]
  assert members == sorted(entry["saved_model"]["files"])
  assert "variables/variables.data-00000-of-00001" in members


@pytest.mark.slow
def test_the_manifest_records_digests_fingerprint_parameters_and_parity(first_run):
  output_dir, _ = first_run
  manifest = _manifest(output_dir)
  assert list(manifest["artifacts"]) == [KEY]
  assert manifest["tool"] == {
    "name": "slim-mobilenet-hub",
    "version": regeneration_state.tool_version(),
  }
  assert manifest["tensorflow_version"] == regeneration_state.tensorflow_version()
  entry = manifest["artifacts"][KEY]
  assert (entry["handle"], entry["version"]) == (VARIANT.hub_handle("classification"), 5)
  for kind in ("archive", "card"):
    assert entry[kind]["sha256"] == files.sha256(output_dir / entry[kind]["path"])
  with gzip.open(output_dir / entry["archive"]["path"]) as tar:
    assert entry["archive"]["tar_sha256"] == hashlib.sha256(tar.read()).hexdigest()
  saved_model = output_dir / entry["saved_model"]["path"]
  for name, recorded in entry["saved_model"]["files"].items():
    assert recorded["sha256"] == files.sha256(saved_model / name)
  assert set(entry["saved_model"]["fingerprint"]) >= {"saved_model_checksum", "checkpoint_hash"}
  assert entry["parameters"]["without_batch_norm"] == architecture.parameter_count(0.75)
  parity = entry["parity"]
  assert parity["top1_agree"] == parity["top5_agree"] == parity["evaluations"] > 0
  assert 0 <= parity["max_abs_error"] < 1e-3 and set(parity["checks"].values()) == {"pass"}
  text = (output_dir / "manifest.json").read_text()
  assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"  # stable formatting
  assert "seconds" not in text and "timings" not in text


@pytest.mark.slow
def test_the_run_reports_progress_and_a_summary_with_timings_kept_apart(first_run):
  output_dir, process = first_run
  lines = process.stdout.splitlines()
  assert any(line.startswith(f"[1/1] made {KEY} in ") and "left" in line for line in lines)
  header = next(i for i, line in enumerate(lines) if line.startswith("artifact "))
  assert "status" in lines[header] and "max |diff|" in lines[header]
  assert lines[header + 1].split()[:2] == [KEY, "made"]
  report = json.loads((output_dir / "run_report.json").read_text())
  assert report["artifacts"][KEY]["status"] == "made"
  assert report["artifacts"][KEY]["timings"]["export"] > 0


# --- a second regeneration, beside a variant without a checkpoint ------------------------
@pytest.mark.slow
def test_a_missing_checkpoint_fails_its_variant_and_the_others_go_on(second_run):
  output_dir, process = second_run
  assert process.returncode == 1
  out = process.stdout
  assert (
    "FAILED mobilenet_v2_0.35_128: no checkpoint in " in out and "mobilenet_v2_0.35_128.tgz" in out
  )
  summary = {
    line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("google/")
  }
  assert summary == {"google/imagenet/mobilenet_v2_035_128/classification/5": "FAILED", KEY: "made"}
  assert "2 artifacts: 1 made, 1 FAILED" in out
  assert list(_manifest(output_dir)["artifacts"]) == [KEY]


@pytest.mark.slow
def test_a_second_regeneration_in_fresh_processes_is_byte_identical(first_run, second_run):
  first, second = _files(first_run[0]), _files(second_run[0])
  assert "manifest.json" in first and f"{KEY}.tar.gz" in first
  assert second == first


# --- reruns ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_rerun_makes_nothing_when_everything_is_up_to_date(
  first_run, checkpoint_dir_075_96, tmp_path
):
  output_dir = _copy(first_run, tmp_path)
  before = _files(output_dir)
  process = regeneration_runs.run(checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT)
  assert process.returncode == 0, process.stdout + process.stderr
  assert "0 to make, 1 up to date" in process.stdout
  assert "started" not in process.stdout
  assert _files(output_dir) == before


@pytest.mark.slow
def test_a_deleted_or_modified_file_makes_the_artifact_stale(
  first_run, checkpoint_dir_075_96, tmp_path
):
  output_dir = str(_copy(first_run, tmp_path))
  artifact = regeneration_state.Artifact(VARIANT, "classification", 5)
  prefix = str(checkpoint_dir_075_96 / VARIANT.checkpoint_name)
  source = regeneration_state.Source(prefix, regeneration_state.source_digest(prefix))
  inputs = regeneration_state.stamp_inputs(
    artifact, source, regeneration_state.tool_version(), regeneration_state.tensorflow_version()
  )

  def why():
    return regeneration_state.staleness(
      artifact, output_dir, inputs, regeneration_state.CodeDigests()
    )

  assert why() is None
  paths = artifact.paths(output_dir)
  os.remove(paths.archive_path)
  assert why() == f"stale: {KEY}.tar.gz missing"
  with open(paths.card_path, "a") as card:
    card.write("edited\n")
  assert why() == f"stale: {KEY}.md modified"  # the first problem, in path order
  other = dict(inputs, tensorflow_version="0.0.0")
  assert regeneration_state.staleness(
    artifact, output_dir, other, regeneration_state.CodeDigests()
  ) == ("stale: tensorflow version changed")
  os.remove(artifact.stamp_path(output_dir))
  assert why() == "incomplete (no stamp)"


@pytest.mark.slow
def test_an_interrupted_run_leaves_no_partial_artifact(checkpoint_dir_075_96, tmp_path):
  output_dir = tmp_path / "hub"
  process = regeneration_runs.run(checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, wait=False)
  # Interrupt as soon as the orchestrator says the worker started: its imports, the export and
  # the verification still lie ahead (seconds), so the signal cannot land after the placement.
  lines = []
  for line in process.stdout:
    lines.append(line)
    if line.startswith(f"  started {KEY}"):
      break
  else:
    pytest.fail("the worker never started: " + "".join(lines))
  process.send_signal(signal.SIGINT)
  out = "".join(lines) + process.communicate(timeout=120)[0]
  assert process.returncode == regeneration_state.INTERRUPTED_EXIT_CODE, out
  assert "interrupted (SIGINT)" in out and f"not run {KEY}: interrupted" in out
  paths = hub_layout.artifact_paths(str(output_dir), VARIANT, "classification", 5)
  for path in (
    paths.saved_model_dir,
    paths.card_path,
    paths.archive_path,
    output_dir / "manifest.json",
  ):
    assert not os.path.exists(path)
  assert list((output_dir / ".regenerate" / "staging").glob("*")) == []
  report = json.loads((output_dir / "run_report.json").read_text())
  assert report["interrupted"] and report["artifacts"][KEY]["status"] == "not run"


# --- the lock file -----------------------------------------------------------------------
@pytest.mark.slow
def test_check_prints_which_artifact_and_field_differ_from_the_lock(
  first_run, checkpoint_dir_075_96, tmp_path
):
  output_dir = _copy(first_run, tmp_path)
  lock = tmp_path / "regeneration.lock.json"
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, f"--update_lock={lock}"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, f"--check={lock}"
  )
  assert process.returncode == 0 and "lock check: 1 artifact matches" in process.stdout

  locked = json.loads(lock.read_text())
  entry = locked["artifacts"][KEY]
  entry["parameters"]["without_batch_norm"] += 1
  entry["saved_model_files"]["saved_model.pb"] = "0" * 64
  lock.write_text(json.dumps(locked))
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, f"--check={lock}"
  )
  assert process.returncode == 1
  count = architecture.parameter_count(0.75)
  assert f"{KEY}: parameters.without_batch_norm: lock {count + 1}, now {count}" in process.stdout
  assert f"{KEY}: saved_model_files[saved_model.pb]: lock 000000000000…, now " in process.stdout
  assert "lock check: 2 differences" in process.stdout
  assert f"rerun with --update_lock={lock} instead of --check" in process.stdout


COMMITTED_LOCK = regeneration_runs.ROOT / "tests" / "regeneration.lock.json"  # 18 artifacts


@pytest.mark.slow
def test_the_documented_subset_check_checks_its_selection_and_the_update_it_hints_keeps_the_rest(
  regenerated_075_96, checkpoint_dir_075_96, tmp_path
):
  # docs/regeneration.md's subset example, with one variant of its two (the one the session
  # made, from the seed-0 checkpoint of the CI check): the classifier's version 5 and Keras file.
  output_dir = _copy(regenerated_075_96, tmp_path)
  lock = tmp_path / "regeneration.lock.json"
  shutil.copy(COMMITTED_LOCK, lock)
  flags = ["--variants=mobilenet_v2_0.75_96", "--module_types=classification", "--versions=5"]
  process = regeneration_runs.run(checkpoint_dir_075_96, output_dir, *flags, f"--check={lock}")
  assert process.returncode == 0, process.stdout + process.stderr
  lines = process.stdout.splitlines()
  assert f"lock check: 2 artifacts match {lock}" in lines
  assert "lock check: 16 locked artifacts outside this selection were not checked" in lines
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *flags, f"--update_lock={lock}"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"lock {lock} unchanged (2 artifacts of this run, 16 others kept)" in process.stdout
  assert lock.read_bytes() == COMMITTED_LOCK.read_bytes()

  # An intended change to a selected artifact: the check names it, the update fixes it alone.
  committed = json.loads(COMMITTED_LOCK.read_text())
  edited = json.loads(COMMITTED_LOCK.read_text())
  edited["artifacts"][KEY]["parameters"]["without_batch_norm"] += 1
  lock.write_text(json.dumps(edited))
  process = regeneration_runs.run(checkpoint_dir_075_96, output_dir, *flags, f"--check={lock}")
  assert process.returncode == 1
  assert f"lock check: 1 difference from {lock}:" in process.stdout
  assert f"rerun with --update_lock={lock} instead of --check" in process.stdout
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *flags, f"--update_lock={lock}"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"wrote lock {lock} (2 artifacts of this run, 16 others kept)" in process.stdout
  assert lock.read_bytes() == COMMITTED_LOCK.read_bytes()

  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *flags, f"--update_lock={lock}", "--prune_lock"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"wrote lock {lock} (2 artifacts of this run; 16 others removed by --prune_lock)" in (
    process.stdout
  )
  pruned = json.loads(lock.read_text())["artifacts"]
  assert pruned == {key: committed["artifacts"][key] for key in (KEY, KERAS_KEY)}


@pytest.mark.slow
def test_a_module_version_made_without_its_locked_litert_models_is_checked_on_the_rest(
  first_run, checkpoint_dir_075_96, tmp_path
):
  # --formats=saved_model: version 5 without its LiteRT models (and their section of the card).
  output_dir = _copy(first_run, tmp_path)
  lock = tmp_path / "regeneration.lock.json"
  shutil.copy(COMMITTED_LOCK, lock)
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, f"--check={lock}"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"lock check: 1 artifact matches {lock}" in process.stdout
  assert (
    "lock check: 17 locked artifacts outside this selection were not checked; the card and "
    "LiteRT and ONNX and TF.js digests of 1 locked module version were not checked"
  ) in process.stdout

  edited = json.loads(COMMITTED_LOCK.read_text())
  edited["artifacts"][KEY]["parameters"]["without_batch_norm"] += 1
  lock.write_text(json.dumps(edited))
  process = regeneration_runs.run(
    checkpoint_dir_075_96, output_dir, *ONE_ARTIFACT, f"--update_lock={lock}"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert (
    f"wrote lock {lock} (1 artifact of this run, 17 others kept; the lock's card and LiteRT "
    f"and ONNX and TF.js digests kept for 1 of this run's)"
  ) in process.stdout
  assert lock.read_bytes() == COMMITTED_LOCK.read_bytes()


def _static_card(entry, static_sha256: str):
  return dataclasses.replace(
    entry, card=dataclasses.replace(entry.card, static_sha256=static_sha256)
  )


def _parameters(entry, with_batch_norm: int):
  parameters = dataclasses.replace(entry.parameters, with_batch_norm=with_batch_norm)
  return dataclasses.replace(entry, parameters=parameters)


def test_a_lock_is_cut_to_the_selection_and_the_cut_is_named():
  entry, with_litert = (
    manifest_samples.module_version(),
    manifest_samples.module_version(litert=True),
  )
  manifest = manifest_samples.of({"a/5": with_litert, "b/5": with_litert})
  lock = regeneration_lock.lock_from_manifest(manifest)
  assert regeneration_lock.selected_part(
    lock, manifest, {"a/5": ("litert",), "b/5": ("litert",)}
  ) == (
    lock,
    lock,
    "",
  )
  one = manifest_samples.of({"a/5": with_litert})
  part, made, cut = regeneration_lock.selected_part(lock, one, {"a/5": ("litert",)})
  assert part["artifacts"] == made["artifacts"] == {"a/5": lock["artifacts"]["a/5"]}
  assert cut == "1 locked artifact outside this selection was not checked"
  # Made without LiteRT models: everything but the card and LiteRT digests is compared.
  plain = manifest_samples.of(
    {"a/5": _static_card(entry, "a card without LiteRT models"), "b/5": _parameters(entry, 3)}
  )
  part, made, cut = regeneration_lock.selected_part(lock, plain, {"a/5": (), "b/5": ()})
  assert regeneration_lock.differences(part, made) == [
    "b/5: parameters.with_batch_norm: lock 2, now 3"
  ]
  assert cut.startswith(
    "the card and LiteRT and ONNX and TF.js digests of 2 locked module versions were not checked"
  )


def test_a_merge_keeps_what_the_run_did_not_select_and_refuses_to_mix_tensorflow_versions():
  entry, with_litert = (
    manifest_samples.module_version(),
    manifest_samples.module_version(litert=True),
  )
  lock = regeneration_lock.lock_from_manifest(
    manifest_samples.of({"a/5": with_litert, "b/5": with_litert}, tensorflow_version="2")
  )
  changed = _static_card(_parameters(entry, 3), "a card without LiteRT models")
  run = manifest_samples.of({"a/5": changed, "c/5": entry}, tensorflow_version="2")
  merged, kept, kept_in_part = regeneration_lock.merged_lock(lock, run, {"a/5": (), "c/5": ()})
  assert (kept, kept_in_part) == (1, 1) and sorted(merged["artifacts"]) == ["a/5", "b/5", "c/5"]
  # The run's parameters; the lock's card and LiteRT digests, which the run did not make.
  assert merged["artifacts"]["a/5"] == dict(
    lock["artifacts"]["a/5"], parameters={"with_batch_norm": 3, "without_batch_norm": 1}
  )
  assert merged["artifacts"]["b/5"] == lock["artifacts"]["b/5"]
  assert merged["artifacts"]["c/5"] == regeneration_lock.lock_from_manifest(run)["artifacts"]["c/5"]
  assert regeneration_lock.merged_lock(None, run, {}) == (
    regeneration_lock.lock_from_manifest(run),
    0,
    0,
  )
  newer = dataclasses.replace(run, tensorflow_version="3")
  with pytest.raises(regeneration_lock.LockError, match="lock is for TensorFlow 2, this run"):
    regeneration_lock.merged_lock(lock, newer, {"a/5": (), "c/5": ()})
  everything = dataclasses.replace(newer, artifacts={"a/5": with_litert, "b/5": with_litert})
  merged, kept, _ = regeneration_lock.merged_lock(
    lock, everything, {"a/5": ("litert",), "b/5": ("litert",)}
  )
  assert kept == 0 and merged["tensorflow_version"] == "3"  # all replaced: nothing mixed


@pytest.mark.parametrize(
  "flags, status, line",
  [
    (
      ["--formats=tflite"],
      2,
      "--formats: unknown format tflite; expected some of saved_model,litert,onnx,tfjs,keras",
    ),
    (["--prune_lock"], 2, "--prune_lock needs --update_lock=LOCK"),
    (["--check={tmp}/missing.json"], 1, "{tmp}/missing.json: lock file not found"),
    (["--update_lock={tmp}/bad.json"], 1, "{tmp}/bad.json: not a readable regeneration lock file"),
  ],
)
def test_bad_formats_and_lock_flags_are_one_line_before_any_work(tmp_path, flags, status, line):
  (tmp_path / "bad.json").write_text("{}")
  flags = [flag.format(tmp=tmp_path) for flag in flags]
  # Fresh: the warm python would start a server to import TensorFlow, which these never reach.
  process = regeneration_runs.run(tmp_path, tmp_path / "hub", *flags, fresh=True)
  assert process.returncode == status
  assert process.stderr.strip().splitlines() == [f"error: {line.format(tmp=tmp_path)}"]
  assert not (tmp_path / "hub").exists()


def test_lock_differences_name_missing_and_extra_artifacts_and_top_level_fields():
  entry = manifest_samples.module_version("a/4")
  manifest = manifest_samples.of({"a/4": entry, "b/4": entry}, tensorflow_version="2.21.0")
  lock = regeneration_lock.lock_from_manifest(manifest)
  assert regeneration_lock.lock_differences(lock, manifest) == []
  lock["tensorflow_version"] = "2.20.0"
  lock["artifacts"]["c/4"] = lock["artifacts"].pop("b/4")
  assert regeneration_lock.lock_differences(lock, manifest) == [
    "tensorflow_version: lock 2.20.0, now 2.21.0",
    "b/4: produced, not in the lock",
    "c/4: in the lock, not produced by this run",
  ]


# --- selection and checkpoints ----------------------------------------------------------
def test_variants_are_selected_by_either_name_in_table_order():
  chosen = variants.select(["mobilenet_v2_035_96", "mobilenet_v2_1.4_224"])
  assert [v.name for v in chosen] == ["mobilenet_v2_1.4_224", "mobilenet_v2_0.35_96"]
  assert len(variants.select(["all"])) == 22
  with pytest.raises(ValueError, match="unknown variant"):
    variants.select(["mobilenet_v2_0.6_96"])
  with pytest.raises(ValueError, match=r"^no variants selected$"):
    variants.select([])


def test_module_types_versions_and_formats_are_checked_values_in_a_fixed_order():
  with pytest.raises(ValueError, match="cannot be produced"):
    plan.check_versions([3, 5])
  assert plan.check_versions([5, 4, 5]) == (4, 5)
  assert plan.check_module_types(["feature_vector", "classification"]) == (
    "classification",
    "feature_vector",
  )
  with pytest.raises(
    ValueError,
    match=r"^unknown module type detection; expected some of classification,feature_vector$",
  ):
    plan.check_module_types(["detection"])
  assert plan.check_formats(["keras", "saved_model"]) == ("saved_model", "keras")
  with pytest.raises(ValueError, match=r"^litert is made from the saved_model format's module"):
    plan.check_formats(["litert"])
  with pytest.raises(ValueError, match=r"^no format selected; expected some of"):
    plan.check_formats([])


def test_find_checkpoint_prefers_a_prefix_then_the_archive_and_names_what_is_missing(tmp_path):
  with pytest.raises(
    regeneration_state.MissingCheckpoint,
    match=r"expected mobilenet_v2_0\.75_96"
    r"\.ckpt\.index with its data file, or mobilenet_v2_0\.75_96\.tgz",
  ):
    regeneration_state.find_checkpoint(str(tmp_path), VARIANT)
  (tmp_path / "mobilenet_v2_0.75_96.tgz").write_bytes(b"archive")
  assert regeneration_state.find_checkpoint(str(tmp_path), VARIANT).endswith(".tgz")
  (tmp_path / "mobilenet_v2_0.75_96.ckpt.index").write_bytes(b"index")
  with pytest.raises(regeneration_state.MissingCheckpoint, match="has no data file"):
    regeneration_state.find_checkpoint(str(tmp_path), VARIANT)
  (tmp_path / "mobilenet_v2_0.75_96.ckpt.data-00000-of-00001").write_bytes(b"data")
  assert regeneration_state.find_checkpoint(str(tmp_path), VARIANT) == str(
    tmp_path / "mobilenet_v2_0.75_96.ckpt"
  )
  assert regeneration_state.source_digest(str(tmp_path / "mobilenet_v2_0.75_96.ckpt")) == (
    hashlib.sha256(b"indexdata").hexdigest()
  )


# --- every format: LiteRT and ONNX models beside the latest version, a Keras file per module -
@pytest.mark.slow
def test_every_format_is_made_beside_the_module_and_recorded(regenerated_075_96):
  output_dir, process = regenerated_075_96
  assert process.returncode == 0, process.stdout + process.stderr
  manifest = _manifest(output_dir)
  assert sorted(manifest["artifacts"]) == sorted([KEY.replace("/5", "/4"), KEY, KERAS_KEY])
  assert "litert" not in manifest["artifacts"][KEY.replace("/5", "/4")]  # the latest only
  entry = manifest["artifacts"][KEY]
  assert sorted(entry["litert"]) == ["float16", "float32", "int8", "uint8"]
  for kind, model in entry["litert"].items():
    suffix = ".tflite" if kind == "float32" else f".{kind}.tflite"
    assert model["path"] == KEY + suffix
    assert model["sha256"] == files.sha256(output_dir / model["path"])
    assert model["agreement"]["passed"], kind
  keras_entry = manifest["artifacts"][KERAS_KEY]
  assert keras_entry["keras"]["path"] == (
    "google/imagenet/mobilenet_v2_075_96/classification/keras/"
    "mobilenet_v2_075_96_classification.keras"
  )
  assert keras_entry["keras"]["sha256"] == files.sha256(output_dir / keras_entry["keras"]["path"])
  assert keras_entry["parity"]["variables_exactly_equal"] == 262
  assert sorted(entry["onnx"]) == ["float32", "int8"]
  for kind, model in entry["onnx"].items():
    path = KEY + (".onnx" if kind == "float32" else f".{kind}.onnx")
    assert model["path"] == path and model["agreement"]["passed"], kind
    assert model["sha256"] == files.sha256(output_dir / path)
    assert sorted(model["companions"]) == [
      f"{path}.test_data/test_data_set_0/input_0.pb",
      f"{path}.test_data/test_data_set_0/output_0.pb",
    ]
    for companion, digest in model["companions"].items():
      assert digest["sha256"] == files.sha256(output_dir / companion)
  card = (output_dir / entry["card"]["path"]).read_text()
  assert "## LiteRT models" in card and "| uint8 | `5.uint8.tflite` |" in card
  assert "## ONNX models" in card and "| int8 | `5.int8.onnx` |" in card
  assert card.index("### Keras 3") < card.index("### TF Hub (tf_keras)")


@pytest.mark.slow
def test_the_lock_keeps_every_format_but_no_measured_figure(regenerated_075_96):
  output_dir, _ = regenerated_075_96
  manifest = _manifest(output_dir)
  lock = regeneration_lock.lock_from_manifest(manifest_lib.read(str(output_dir / "manifest.json")))
  locked, entry = lock["artifacts"][KEY], manifest["artifacts"][KEY]
  assert locked["litert_sha256"] == {k: m["sha256"] for k, m in entry["litert"].items()}
  # The ONNX models' digests and their test vectors', by their paths beside the version.
  assert locked["onnx_sha256"] == {
    **{k: m["sha256"] for k, m in entry["onnx"].items()},
    **{
      path[len(KEY) - 1 :]: digest["sha256"]  # `5.onnx.test_data/...` after `<handle>/`
      for m in entry["onnx"].values()
      for path, digest in m["companions"].items()
    },
  }
  assert "5.int8.onnx.test_data/test_data_set_0/output_0.pb" in locked["onnx_sha256"]
  assert (
    lock["artifacts"][KERAS_KEY]["keras_sha256"]
    == (manifest["artifacts"][KERAS_KEY]["keras"]["sha256"])
  )
  # The card's measured figures (float kernels) are left out of the digest the lock keeps.
  card = static = (output_dir / entry["card"]["path"]).read_text()
  assert card.count(model_card.MEASURED_BEGIN) == 3  # the LiteRT, ONNX and TF.js figures
  for _ in range(3):
    start, end = static.index(model_card.MEASURED_BEGIN), static.index(model_card.MEASURED_END)
    static = static[:start] + static[end + len(model_card.MEASURED_END) :]
  assert locked["card_sha256"] == hashlib.sha256(static.encode()).hexdigest()
  assert locked["card_sha256"] != entry["card"]["sha256"]
  assert "agreement" not in json.dumps(lock) and "parity" not in json.dumps(lock)


@pytest.mark.slow
def test_a_deleted_litert_model_or_a_changed_checkpoint_remakes_every_format_of_the_version(
  regenerated_075_96, checkpoint_dir_075_96, tmp_path
):
  # One rerun, the expensive part (every format of version 5), shows both: first what the
  # orchestrator plans for a deleted file (the same triage that prints `started KEY (...)`).
  output_dir = _copy(regenerated_075_96, tmp_path)
  os.remove(output_dir / f"{KEY}.int8.tflite")
  test_vector = output_dir / f"{KEY}.onnx.test_data" / "test_data_set_0" / "output_0.pb"
  os.remove(test_vector)
  planned = plan.artifacts([VARIANT], ["classification"], [5])
  outcomes, _ = plan.triage(
    planned, plan.find_sources(str(checkpoint_dir_075_96), [VARIANT]), str(output_dir)
  )
  assert [(o.artifact.key, o.status, o.reason) for o in outcomes] == [
    (KEY, regeneration_state.NOT_RUN, f"stale: {KEY}.int8.tflite missing"),
    (KERAS_KEY, regeneration_state.UP_TO_DATE, ""),  # the Keras file is not touched
  ]

  changed = tmp_path / "checkpoints"
  synthetic_checkpoint.write_checkpoint(
    str(changed), VARIANT.depth_multiplier, VARIANT.image_size, seed=1
  )
  before = _manifest(output_dir)["artifacts"][KEY]
  # The Keras file left out: it would be made again from the changed checkpoint too.
  flags = [f for f in ONE_ARTIFACT if not f.startswith("--formats")]
  process = regeneration_runs.run(
    changed, output_dir, *flags, "--formats=saved_model,litert,onnx,tfjs"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"started {KEY} (stale: checkpoint changed)" in process.stdout
  assert "1 to make, 0 up to date" in process.stdout
  assert (output_dir / f"{KEY}.int8.tflite").is_file() and test_vector.is_file()
  after = _manifest(output_dir)["artifacts"][KEY]
  assert after["checkpoint"]["sha256"] != before["checkpoint"]["sha256"]
  variables = "variables/variables.data-00000-of-00001"
  assert (
    after["saved_model"]["files"][variables]["sha256"]
    != before["saved_model"]["files"][variables]["sha256"]
  )
  for kind, model in before["litert"].items():  # every LiteRT model made again, from it
    assert after["litert"][kind]["sha256"] != model["sha256"], kind
  # The card does not depend on the weights, but for its measured figures (kept out of locks).
  assert _locked_card_digest(output_dir) == _locked_card_digest(regenerated_075_96[0])


def _locked_card_digest(output_dir) -> str:
  manifest = manifest_lib.read(str(pathlib.Path(output_dir) / "manifest.json"))
  return regeneration_lock.lock_from_manifest(manifest)["artifacts"][KEY]["card_sha256"]
