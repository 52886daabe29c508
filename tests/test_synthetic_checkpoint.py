"""nets.synthetic and scripts/make_synthetic_checkpoint.py: a random checkpoint in the
released layout that the TF-Slim graph restores, raw or through its moving averages."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from export.pipeline import state as regeneration_state
from export.testing import synthetic_checkpoint
from nets import architecture
from nets import mobilenet_v2
from nets import synthetic

v1 = tf.compat.v1

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = PROJECT_ROOT / "scripts" / "make_synthetic_checkpoint.py"
NAME = "mobilenet_v2_0.75_96"
CHECKPOINT_FILES = {f"{NAME}.ckpt.data-00000-of-00001", f"{NAME}.ckpt.index"}
SPECS = architecture.variable_specs(0.75)
TRAINABLE = [spec.name for spec in SPECS if spec.trainable]


@pytest.fixture(scope="module")
def reader(synthetic_checkpoint_075_96):
  return tf.train.load_checkpoint(synthetic_checkpoint_075_96)


@pytest.fixture(scope="module")
def same_seed_archived(synthetic_archive_075_96):
  """Prefix of the seed-0 checkpoint written again, with --archive (the session's archive)."""
  return str(synthetic_archive_075_96.with_suffix(".ckpt"))


@pytest.fixture(scope="module")
def restored_logits(synthetic_checkpoint_075_96):
  """Logits of four distinct images, restored raw and through the EMA mapping."""
  images = synthetic.smooth_images(np.random.default_rng(7), 4, 96)
  logits = {}
  with tf.Graph().as_default():
    inputs = v1.placeholder(tf.float32, [None, 96, 96, 3])
    output, _ = mobilenet_v2.mobilenet_v2(inputs, 0.75)
    ema = v1.train.ExponentialMovingAverage(0.9999).variables_to_restore()
    savers = {"raw": v1.train.Saver(), "ema": v1.train.Saver(ema)}
    with v1.Session() as session:
      for mode, saver in savers.items():
        saver.restore(session, synthetic_checkpoint_075_96)
        logits[mode] = session.run(output, {inputs: images})
  return logits


def _data(prefix):
  return pathlib.Path(prefix + ".data-00000-of-00001").read_bytes()


def test_file_names(synthetic_checkpoint_075_96):
  prefix = pathlib.Path(synthetic_checkpoint_075_96)
  assert prefix.name == f"{NAME}.ckpt"
  # Nothing else: no staging directory left behind.
  assert set(os.listdir(prefix.parent)) == CHECKPOINT_FILES | {f"{NAME}_info.txt"}
  info = (prefix.parent / f"{NAME}_info.txt").read_text()
  for fact in (
    "SYNTHETIC",
    "RANDOM",
    "not the released ImageNet weights",
    "seed: 0",
    "depth_multiplier: 0.75",
    "image_size: 96",
    "generator:",
  ):
    assert fact in info


def test_keys_are_the_released_layout(reader):
  expected = {spec.name: list(spec.shape) for spec in SPECS}
  for name in TRAINABLE:
    shape = expected[name]
    for suffix in ("ExponentialMovingAverage", "RMSProp", "RMSProp_1"):
      expected[f"{name}/{suffix}"] = shape
  expected["global_step"] = []
  assert reader.get_variable_to_shape_map() == expected
  assert len(expected) == 262 + 3 * 158 + 1
  assert not [key for key in expected if "moving_" in key and key.endswith("Average")]


def test_global_step_is_a_realistic_int64(reader):
  assert reader.get_variable_to_dtype_map()["global_step"] == tf.int64
  assert 100_000 < int(reader.get_tensor("global_step")) < 10_000_000


def test_moving_averages_differ_slightly_from_the_raw_values(reader):
  for name in TRAINABLE:
    raw = reader.get_tensor(name)
    ema = reader.get_tensor(f"{name}/ExponentialMovingAverage")
    assert not np.array_equal(raw, ema), name
    assert np.linalg.norm(raw - ema) < 0.05 * np.linalg.norm(ema), name


def test_statistics_and_slots_are_plausible(reader):
  for spec in SPECS:
    value = reader.get_tensor(spec.name)
    assert np.isfinite(value).all(), spec.name
    if spec.role == "moving_variance":
      assert (value > 0).all(), spec.name
    if spec.trainable:
      assert (reader.get_tensor(f"{spec.name}/RMSProp") > 0).all(), spec.name
  gammas = np.concatenate(
    [reader.get_tensor(f"{s.name}/ExponentialMovingAverage") for s in SPECS if s.role == "gamma"]
  )
  assert 0.8 < gammas.mean() < 1.2


@pytest.mark.slow
def test_same_seed_gives_the_same_bytes(synthetic_checkpoint_075_96, same_seed_archived):
  assert _data(same_seed_archived) == _data(synthetic_checkpoint_075_96)


# Settings that change the bits of TensorFlow's (and BLAS's) float kernels on one machine, as
# another CPU would: none may change the checkpoint. One process runs under all of them (each
# costs seconds of start-up), as tests/test_verify.py runs make_goldens.py.
OTHER_KERNELS = {
  "TF_NUM_INTRAOP_THREADS": "1",
  "TF_ENABLE_ONEDNN_OPTS": "0",
  "OMP_NUM_THREADS": "1",
  "OPENBLAS_NUM_THREADS": "1",
}


@pytest.mark.slow
def test_bytes_do_not_depend_on_threads_or_kernels(synthetic_checkpoint_075_96, tmp_path):
  run = subprocess.run(
    [sys.executable, str(SCRIPT), f"--output_dir={tmp_path}"],
    cwd=PROJECT_ROOT,
    env=dict(os.environ, **OTHER_KERNELS),
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert run.returncode == 0, run.stderr
  prefix = pathlib.Path(synthetic_checkpoint_075_96)
  for suffix in (".data-00000-of-00001", ".index"):
    made = (tmp_path / f"{NAME}.ckpt{suffix}").read_bytes()
    assert made == pathlib.Path(f"{prefix}{suffix}").read_bytes(), suffix


def test_bytes_are_those_the_committed_lock_records(synthetic_checkpoint_075_96):
  # The lock was written on another machine: equal digests mean equal bytes across machines.
  lock = json.loads((PROJECT_ROOT / "tests" / "regeneration.lock.json").read_text())
  locked = {
    entry["checkpoint_sha256"]
    for key, entry in lock["artifacts"].items()
    if "/mobilenet_v2_075_96/" in key
  }
  assert locked == {regeneration_state.source_digest(synthetic_checkpoint_075_96)}


def test_other_seed_gives_other_values(synthetic_checkpoint_075_96, tmp_path):
  other = synthetic_checkpoint.write_checkpoint(str(tmp_path), 0.75, 96, seed=1)
  name = "MobilenetV2/Conv/weights/ExponentialMovingAverage"
  assert not np.array_equal(
    tf.train.load_checkpoint(other).get_tensor(name),
    tf.train.load_checkpoint(synthetic_checkpoint_075_96).get_tensor(name),
  )


def test_archive_holds_the_released_file_layout(same_seed_archived):
  archive = pathlib.Path(same_seed_archived).parent / f"{NAME}.tgz"
  with tarfile.open(archive) as tar:
    members = {m.name: m for m in tar.getmembers()}
    assert set(members) == CHECKPOINT_FILES | {f"{NAME}_info.txt"}
    assert all(m.isfile() for m in members.values())
    data = tar.extractfile(f"{NAME}.ckpt.data-00000-of-00001").read()
  assert data == _data(same_seed_archived)


@pytest.mark.slow
def test_logits_are_finite_varied_and_moderate(restored_logits):
  for logits in restored_logits.values():
    assert np.isfinite(logits).all()
    assert 0.1 < logits.std() < 100
    assert logits.std(axis=0).mean() > 0.1  # distinct inputs, distinct logits
    assert len(set(logits.argmax(axis=1))) > 1


def test_raw_and_moving_average_restores_differ(restored_logits):
  difference = np.abs(restored_logits["raw"] - restored_logits["ema"]).mean()
  assert 0.01 < difference < restored_logits["ema"].std()


@pytest.mark.parametrize(
  "kwargs,message",
  [
    (dict(depth_multiplier=0), "depth multiplier must be a positive number, got 0"),
    (dict(depth_multiplier=-0.75), "depth multiplier must be a positive number, got -0.75"),
    (dict(image_size=0), "image size must be a positive whole number of pixels, got 0"),
    (dict(image_size=96.0), "image size must be a positive whole number of pixels, got 96.0"),
    (dict(seed=-1), "seed must be a non-negative integer, got -1"),
  ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
  arguments = dict(output_dir=str(tmp_path / "out"), depth_multiplier=0.75, image_size=96)
  arguments.update(kwargs)
  with pytest.raises(ValueError, match=message):
    synthetic_checkpoint.write_checkpoint(**arguments)
  assert not (tmp_path / "out").exists()


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
  def fail(*args, **kwargs):
    raise RuntimeError("disk full")

  monkeypatch.setattr(synthetic, "checkpoint_values", fail)
  with pytest.raises(RuntimeError, match="disk full"):
    synthetic_checkpoint.write_checkpoint(str(tmp_path / "new" / "dir"), 0.75, 96)
  assert os.listdir(tmp_path) == []  # the directories it created are gone too


def _run_script(*args):
  return subprocess.run(
    [sys.executable, str(SCRIPT), *args],
    cwd=PROJECT_ROOT,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
  )


def test_script_rejects_a_non_positive_multiplier(tmp_path):
  output_dir = tmp_path / "out"
  result = _run_script("--depth_multiplier=0", "--image_size=96", f"--output_dir={output_dir}")
  assert result.returncode == 2
  assert result.stderr.splitlines() == [
    "error: depth multiplier must be a positive number, got 0.0"
  ]
  assert result.stdout == ""
  assert not output_dir.exists()


def test_script_names_an_unwritable_output_dir(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  output_dir = blocker / "out"  # cannot exist, even for root
  result = _run_script(f"--output_dir={output_dir}")
  assert result.returncode == 1  # a failure of the work, not of the flags
  (line,) = result.stderr.splitlines()
  assert line == f"error: {output_dir}: cannot create it, {blocker} is not a directory"
  assert "Traceback" not in result.stderr
  assert os.listdir(tmp_path) == ["a_file"]
