"""The .keras exporter: reproducible bytes, its own one-line errors and exit codes.

What every format promises (atomic and interrupted writes, --overwrite, the umask, agreement,
verify and classify) is tested once for all in test_formats.py."""

import json
import os
import pathlib
import zipfile

import binaries
import keras
import pytest

from export.base import files
from export.core import options as options_lib
from export.formats.keras import exporter as export_lib


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
def test_binary_is_quiet_and_writes_the_same_bytes_afresh_on_one_thread_without_onednn(
  exported_keras, synthetic_checkpoint_075_96, tmp_path
):
  # One run for both (each costs seconds of start-up). What the binaries filter out of
  # TensorFlow's start-up with oneDNN on is shared code (export/cli.py), proven quiet with the
  # default kernels by tests/test_export.py's binary test.
  output = tmp_path / "again.keras"
  run = _run_binary(
    f"--checkpoint_path={synthetic_checkpoint_075_96}",
    "--variant=mobilenet_v2_075_96",
    f"--output={output}",
    environment=dict(TF_NUM_INTRAOP_THREADS="1", TF_ENABLE_ONEDNN_OPTS="0"),
    fresh=True,
  )
  assert run.returncode == 0, run.stderr[-2000:]
  assert run.stderr == ""
  assert "EMA weights: restored 262 variables (158 from EMA shadows" in run.stdout
  assert run.stdout.splitlines()[-1] == (
    f"wrote classification Keras model (262 weights, 158 trainable) to {output}"
  )
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


@pytest.mark.parametrize(
  "changes,error,match",
  [
    (dict(batch_norm_momentum=1.5), ValueError, "momentum must lie in"),
    (dict(output="model.h5"), ValueError, "model.h5: a Keras model file must end"),
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
