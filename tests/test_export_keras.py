"""The .keras exporter: reproducible bytes, atomic writes, one-line errors and exit codes."""

import dataclasses
import json
import os
import pathlib
import zipfile

import binaries
import keras
import pytest

from export.base import files
from export.core import checkpoint
from export.core import keras_exporter as export_lib
from export.core import options as options_lib
from nets import variants


@pytest.fixture(scope="module")
def exported_keras(synthetic_checkpoint_075_96, tmp_path_factory):
  output = tmp_path_factory.mktemp("export") / "classifier.keras"
  return export_lib.export_keras(
    options_lib.KerasExportOptions(checkpoint_path=synthetic_checkpoint_075_96, output=str(output))
  )


def _tiny_model():
  inputs = keras.Input((2,), name="inputs")
  return keras.Model(inputs, keras.layers.Dense(1, name="dense")(inputs))


def test_export_writes_the_classifier(exported_keras):
  assert (
    exported_keras.weights,
    exported_keras.trainable_weights,
    exported_keras.regularization_losses,
  ) == (262, 158, 36)
  assert (exported_keras.restored.from_ema, exported_keras.restored.from_raw) == (158, 104)
  assert os.listdir(os.path.dirname(exported_keras.output)) == ["classifier.keras"]


@pytest.mark.slow
def test_binary_writes_the_same_bytes_in_a_fresh_process_on_one_thread_without_onednn(
  exported_keras, synthetic_checkpoint_075_96, tmp_path
):
  output = tmp_path / "again.keras"
  run = _run_binary(
    f"--checkpoint_path={synthetic_checkpoint_075_96}",
    "--variant=mobilenet_v2_075_96",
    f"--output={output}",
    environment=dict(TF_NUM_INTRAOP_THREADS="1", TF_ENABLE_ONEDNN_OPTS="0"),
  )
  assert run.returncode == 0, run.stderr[-2000:]
  assert "EMA weights: restored 262 variables (158 from EMA shadows" in run.stdout
  assert f"wrote classification Keras model (262 weights, 158 trainable) to {output}" in run.stdout
  # The test process has built other models before; the fresh one has not.
  assert output.read_bytes() == pathlib.Path(exported_keras.output).read_bytes()


def test_archive_has_fixed_order_times_modes_and_save_date(exported_keras):
  with zipfile.ZipFile(exported_keras.output) as archive:
    members = archive.infolist()
    metadata = json.loads(archive.read("metadata.json"))
    config = archive.read("config.json").decode()
  assert [m.filename for m in members] == ["config.json", "metadata.json", "model.weights.h5"]
  assert {(m.date_time, m.external_attr >> 16, m.compress_type) for m in members} == {
    ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_STORED)
  }
  assert metadata == {"keras_version": keras.__version__, "date_saved": "1980-01-01@00:00:00"}
  # Keras writes the id() of objects shared by several layers; the file numbers them instead.
  assert '"shared_object_id": 1}' in config and '"shared_object_id": 2' not in config


def test_the_file_honours_the_umask(synthetic_checkpoint_075_96, tmp_path):
  old = os.umask(0o027)
  try:
    export_lib.export_keras(
      options_lib.KerasExportOptions(
        checkpoint_path=synthetic_checkpoint_075_96, output=str(tmp_path / "private.keras")
      )
    )
  finally:
    os.umask(old)
  assert oct((tmp_path / "private.keras").stat().st_mode & 0o777) == oct(0o640)


def test_an_interrupted_export_leaves_the_old_file_and_no_staging(
  synthetic_checkpoint_075_96, tmp_path, monkeypatch
):
  target = tmp_path / "model.keras"
  target.write_bytes(b"old")

  def interrupted(*unused_args, **unused_kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(keras.saving, "save_model", interrupted)
  with pytest.raises(KeyboardInterrupt):
    export_lib.export_keras(
      options_lib.KerasExportOptions(
        checkpoint_path=synthetic_checkpoint_075_96, output=str(target), overwrite=True
      )
    )
  assert os.listdir(tmp_path) == ["model.keras"] and target.read_bytes() == b"old"


def test_overwrite_replaces_an_existing_file(synthetic_checkpoint_075_96, tmp_path):
  target = tmp_path / "features.keras"
  target.write_bytes(b"stale")
  options = options_lib.KerasExportOptions(
    checkpoint_path=synthetic_checkpoint_075_96,
    output=str(target),
    spec=variants.ModelSpec(0.75, 96, "feature_vector"),
  )
  with pytest.raises(ValueError, match=r"file exists .*--overwrite"):
    export_lib.export_keras(options)
  assert target.read_bytes() == b"stale"
  export_lib.export_keras(dataclasses.replace(options, overwrite=True))
  model = keras.saving.load_model(target)
  assert model.output_shape == (None, 1280)
  assert os.listdir(tmp_path) == ["features.keras"]


@pytest.mark.parametrize(
  "changes,error,match",
  [
    (dict(batch_norm_momentum=1.5), ValueError, "momentum must lie in"),
    (dict(output="model.h5"), ValueError, "model.h5: a Keras model file must end"),
    (
      dict(checkpoint_path="missing.ckpt"),
      checkpoint.CheckpointError,
      "missing.ckpt: no checkpoint there",
    ),
    (
      dict(output="{tmp}/a_file/sub/model.keras"),
      files.UnwritableError,
      "sub/model.keras: cannot create it, .*a_file is not a directory",
    ),
  ],
)
def test_failures_are_one_line_and_leave_nothing(
  synthetic_checkpoint_075_96, tmp_path, changes, error, match
):
  (tmp_path / "a_file").write_text("not a directory")
  fields = dict(checkpoint_path=synthetic_checkpoint_075_96, output=str(tmp_path / "m.keras"))
  fields.update({k: v.format(tmp=tmp_path) for k, v in changes.items() if isinstance(v, str)})
  fields.update({k: v for k, v in changes.items() if not isinstance(v, str)})
  with pytest.raises(error, match=match) as raised:
    export_lib.export_keras(options_lib.KerasExportOptions(**fields))
  assert "\n" not in str(raised.value)
  assert sorted(os.listdir(tmp_path)) == ["a_file"]


# --- the binary ------------------------------------------------------------------------------
@pytest.mark.slow
def test_binary_is_quiet(synthetic_checkpoint_075_96, tmp_path):
  output = tmp_path / "model.keras"
  run = _run_binary(f"--checkpoint_path={synthetic_checkpoint_075_96}", f"--output={output}")
  assert run.returncode == 0, run.stderr
  assert run.stderr == ""
  assert run.stdout.splitlines()[-1] == (
    f"wrote classification Keras model (262 weights, 158 trainable) to {output}"
  )


def _run_binary(*flags, **options):
  return binaries.run("export.export_keras", *flags, **options)


@pytest.mark.parametrize(
  "flags,exit_code,message",
  [
    (("--module_type=detection",), 2, "error: flag --module_type=detection"),
    (("--output={tmp}/model.h5",), 2, "model.h5: a Keras model file must end in .keras"),
    (("--output={tmp}/existing.keras",), 2, "existing.keras: file exists (pass --overwrite"),
    (("--checkpoint_path={tmp}/missing.ckpt",), 1, "missing.ckpt: no checkpoint there"),
    (
      ("--output={tmp}/existing.keras/model.keras",),
      1,
      "error: {tmp}/existing.keras/model.keras: cannot create it, {tmp}/existing.keras is not a "
      "directory",
    ),
  ],
)
def test_binary_fails_with_one_line_and_an_exit_code(
  synthetic_checkpoint_075_96, tmp_path, flags, exit_code, message
):
  (tmp_path / "existing.keras").write_bytes(b"keep")
  flags = [flag.format(tmp=tmp_path) for flag in flags]
  if not any(flag.startswith("--checkpoint_path") for flag in flags):
    flags.append(f"--checkpoint_path={synthetic_checkpoint_075_96}")
  if not any(flag.startswith("--output") for flag in flags):
    flags.append(f"--output={tmp_path / 'model.keras'}")
  # All reported at once: before TensorFlow and Keras are imported (seconds of start-up).
  run = _run_binary(*flags, blocked=["tensorflow", "keras"])
  assert run.returncode == exit_code, run.stderr[-2000:]
  errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and message.format(tmp=tmp_path) in errors[0]
  assert "Traceback" not in run.stderr
  assert sorted(os.listdir(tmp_path)) == ["existing.keras"]
  assert (tmp_path / "existing.keras").read_bytes() == b"keep"
