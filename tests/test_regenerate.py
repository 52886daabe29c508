"""The regeneration binary: layout, manifest, reproducibility, resuming, faults, lock check.

The slow tests share two real regenerations of one small artifact (mobilenet_v2_0.75_96,
classification, version 5), each in fresh worker processes, and the session's regeneration
of that classifier in every format (conftest.py's `regenerated_075_96`, which
test_regenerate_formats.py and the Kaggle tests read); the rest reuse copies of their output,
so that only what changes is made again. What a regeneration decides without running one is
in test_regeneration_plan.py.
"""

import gzip
import hashlib
import json
import os
import pathlib
import shutil
import signal
import tarfile

import pytest
import regeneration_runs

from export.base import files
from export.pipeline import lock as regeneration_lock
from export.pipeline import manifest as manifest_lib
from export.pipeline import state as regeneration_state
from export.publish import hub_layout
from export.publish import model_card
from nets import architecture
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")
KEY, KERAS_KEY = regeneration_runs.KEY, regeneration_runs.KERAS_KEY
ONE_ARTIFACT = regeneration_runs.ONE_ARTIFACT
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
  entry = regeneration_runs.manifest(output_dir)["artifacts"][KEY]
  assert members == sorted(entry["saved_model"]["files"])
  assert "variables/variables.data-00000-of-00001" in members


@pytest.mark.slow
def test_the_manifest_records_digests_fingerprint_parameters_and_parity(first_run):
  output_dir, _ = first_run
  manifest = regeneration_runs.manifest(output_dir)
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
  assert list(regeneration_runs.manifest(output_dir)["artifacts"]) == [KEY]


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
  output_dir = regeneration_runs.copy(first_run, tmp_path)
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
  output_dir = str(regeneration_runs.copy(first_run, tmp_path))
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
  output_dir = regeneration_runs.copy(first_run, tmp_path)
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
  output_dir = regeneration_runs.copy(regenerated_075_96, tmp_path)
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
  output_dir = regeneration_runs.copy(first_run, tmp_path)
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
    (
      ["--update_lock={tmp}/bad.json"],
      1,
      "{tmp}/bad.json: not a readable regeneration lock file (expected a JSON object with "
      '"format": "mobilenet_v2_hub_regeneration_lock")',
    ),
    # A lock's body is checked too: found after the run, it was a traceback.
    (
      ["--check={tmp}/list.json"],
      1,
      "{tmp}/list.json: artifacts: expected an object, found a list",
    ),
    (
      ["--update_lock={tmp}/string.json"],
      1,
      f"{{tmp}}/string.json: artifacts: {KEY}: expected an object, found 'oops'",
    ),
    (
      ["--update_lock={tmp}/bad.json/lock.json"],
      1,
      "{tmp}/bad.json/lock.json: cannot create it, {tmp}/bad.json is not a directory",
    ),
  ],
)
def test_bad_formats_and_lock_flags_are_one_line_before_any_work(tmp_path, flags, status, line):
  (tmp_path / "bad.json").write_text("{}")
  header = {"format": regeneration_lock.LOCK_FORMAT, "format_version": manifest_lib.FORMAT_VERSION}
  (tmp_path / "list.json").write_text(json.dumps(dict(header, artifacts=[])))
  (tmp_path / "string.json").write_text(json.dumps(dict(header, artifacts={KEY: "oops"})))
  flags = [flag.format(tmp=tmp_path) for flag in flags]
  # Fresh: the warm python would start a server to import TensorFlow, which these never reach.
  process = regeneration_runs.run(tmp_path, tmp_path / "hub", *flags, fresh=True)
  assert process.returncode == status
  assert process.stderr.strip().splitlines() == [f"error: {line.format(tmp=tmp_path)}"]
  assert not (tmp_path / "hub").exists()
