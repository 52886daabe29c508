"""scripts/quickstart.sh, the README's first command, runs end to end (about a minute)."""

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP_LINE = re.compile(r"^  [1-5]  [01]\.\d{4}  .+ \(class \d+\)$")


def _digests(directory: pathlib.Path) -> dict:
  return {
    str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted(directory.rglob("*"))
    if path.is_file()
  }


@pytest.mark.slow
def test_quickstart_exports_verifies_and_classifies(quickstart, fresh_process_export):
  # Run once per session as a reader runs it: a fresh checkout, a fresh login's PATH (conftest).
  checkout, run = quickstart
  out = checkout / "quickstart_out"
  assert run.returncode == 0, run.stdout + run.stderr
  stdout = run.stdout

  assert "RANDOM weights, not ImageNet's" in stdout
  for module_type in ("classification", "feature_vector"):
    export_dir = out / module_type
    assert (export_dir / "saved_model.pb").is_file()
    assert f"PASS: {export_dir} matches the checkpoint" in stdout
    assert json.loads((out / f"verify_{module_type}.json").read_text())["passed"]
  assert (out / "classification" / "assets" / "ImageNetLabels.txt").is_file()

  assert f"{out / 'example.png'} (256x256 -> 96x96):" in stdout
  # The Keras 3 file: exported, verified, and classifying the picture as the SavedModel does.
  assert f"PASS: {out / 'classification.keras'} matches the checkpoint" in stdout
  saved_model_part, keras_part = stdout.split("The same picture through the Keras 3 file:\n", 1)
  top5 = [line for line in saved_model_part.splitlines() if TOP_LINE.match(line)]
  assert [line.split()[0] for line in top5] == ["1", "2", "3", "4", "5"]
  assert keras_part.splitlines()[1] == top5[0]
  assert f"example picture  {out / 'example.png'}" in stdout
  assert stdout.rstrip().endswith(f"source {checkout}/.venv/bin/activate")
  # Quiet: what it did in a few lines each step, and nothing on stderr from TensorFlow.
  assert len(stdout.splitlines()) < 80, stdout
  assert run.stderr == "", run.stderr

  # Another fresh process, the run's export binary with one thread and without oneDNN (with
  # every format beside it), exporting the session's seed-0 checkpoint from another path to
  # another directory, wrote the same bytes (docs/reproducibility.md).
  fresh_dir, fresh = fresh_process_export
  assert fresh.returncode == 0, fresh.stderr
  assert _digests(pathlib.Path(fresh_dir)) == _digests(out / "classification")


def test_quickstart_rejects_unknown_arguments(tmp_path):
  run = subprocess.run(
    ["bash", str(ROOT / "scripts" / "quickstart.sh"), "--checkpoint=x"],
    cwd=tmp_path,
    env=dict(os.environ, OUT=str(tmp_path / "out")),
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert run.returncode == 2
  assert run.stderr.strip() == "quickstart.sh: unknown argument --checkpoint=x (see --help)"
  assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_quickstart_uses_the_checkpoint_it_is_given(tmp_path):
  missing = tmp_path / "mobilenet_v2_0.75_96.ckpt"
  env = dict(os.environ, OUT=str(tmp_path / "out"), VENV=sys.prefix, TF_CPP_MIN_LOG_LEVEL="2")
  run = subprocess.run(
    ["bash", str(ROOT / "scripts" / "quickstart.sh"), f"--checkpoint_path={missing}"],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  # The exporter gets the path and fails on it (exit 1) before anything synthetic is made.
  assert run.returncode == 1
  assert f"error: {missing}: no checkpoint there" in run.stderr
  assert "RANDOM" not in run.stdout
  assert not (tmp_path / "out" / "checkpoint").exists()


def test_quickstart_help_is_its_whole_header_comment(tmp_path):
  script = ROOT / "scripts" / "quickstart.sh"
  header = []
  for line in script.read_text().splitlines()[1:]:  # after the #! line
    if not line.startswith("#"):
      break
    header.append(re.sub(r"^# ?", "", line))
  assert header[-1].endswith("VENV=DIR the virtualenv.")  # the header was read whole
  run = subprocess.run(
    ["bash", str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
  )
  assert run.returncode == 0, run.stderr
  assert run.stdout.splitlines() == header
  assert "OUT=DIR chooses\nwhere everything goes" in run.stdout
  assert not (tmp_path / "quickstart_out").exists()
