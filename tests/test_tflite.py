"""The --tflite option: a float TFLite model beside the SavedModel, checked against it."""

import os

import numpy as np
import pytest
import tensorflow as tf

from export.core import exporter as export_lib
from export.core import tflite

SAVED_MODEL_FILES = ["assets", "fingerprint.pb", "saved_model.pb", "variables"]


def _export(checkpoint_path, parent, **kwargs):
  export_dir = str(parent / "module")
  export_lib.export_saved_model(
    export_lib.ExportOptions(checkpoint_path=checkpoint_path, export_dir=export_dir, **kwargs)
  )
  return export_dir


@pytest.fixture(scope="module")
def with_tflite(synthetic_checkpoint_075_96, tmp_path_factory):
  return _export(synthetic_checkpoint_075_96, tmp_path_factory.mktemp("tflite"), tflite=True)


def test_tflite_model_is_written_beside_the_saved_model(with_tflite):
  parent = os.path.dirname(with_tflite)
  assert sorted(os.listdir(parent)) == ["module", "module.tflite"]
  assert sorted(os.listdir(with_tflite)) == SAVED_MODEL_FILES
  assert tflite.path_beside(with_tflite + os.sep) == os.path.join(parent, "module.tflite")


def test_tflite_model_matches_the_saved_model(with_tflite):
  images = np.random.default_rng(7).uniform(size=(3, 96, 96, 3)).astype(np.float32)
  want = tf.saved_model.load(with_tflite)(tf.constant(images)).numpy()
  with open(tflite.path_beside(with_tflite), "rb") as model:
    got = tflite.run(model.read(), images, num_threads=2)
  assert got.shape == (3, 1001)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * (1 + np.abs(want).max()))


def test_a_parity_failure_fails_the_export_in_one_line_and_writes_no_tflite(
  synthetic_checkpoint_075_96, tmp_path, monkeypatch
):
  # A converter whose model outputs zeros: the check must catch it (no real conversion needed).
  monkeypatch.setattr(tflite, "convert", lambda function, trackable: b"zeros")
  monkeypatch.setattr(tflite, "run", lambda model, images: np.zeros((len(images), 1001)))
  with pytest.raises(tflite.ParityError, match="differs from the SavedModel") as raised:
    _export(synthetic_checkpoint_075_96, tmp_path, tflite=True)
  assert "\n" not in str(raised.value)
  assert sorted(os.listdir(tmp_path)) == ["module"]  # the finished SavedModel stays


def test_without_the_option_nothing_extra_is_written(synthetic_checkpoint_075_96, tmp_path):
  export_dir = _export(synthetic_checkpoint_075_96, tmp_path)
  assert sorted(os.listdir(tmp_path)) == ["module"]
  assert sorted(os.listdir(export_dir)) == SAVED_MODEL_FILES
