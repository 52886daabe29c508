"""Each published version's change, proven on exported artifacts of versions 4 and 5.

Versions 1-3 are not produced any more, but what they fixed holds in every later artifact;
each test reads the switch it proves from the registry, and
`test_every_version_has_a_behaviour_test` fails when a version is added without one.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from export.base import versions

PROVEN = {}  # version number -> the test proving its change


def proves(number):
  def register(test):
    PROVEN[number] = test.__name__
    return test

  return register


@pytest.fixture(scope="module", params=versions.PRODUCED_VERSIONS, ids=lambda n: f"v{n}")
def artifact(request, exported):
  result = exported(version=request.param)
  return versions.get(request.param), result.export_dir


@pytest.fixture(scope="module")
def loaded_once(artifact):
  """The artifact loaded once (loading takes seconds) and the values the load gave it."""
  module = tf.saved_model.load(artifact[1])
  return module, _values(module)


@pytest.fixture
def module(loaded_once):
  """The loaded artifact as a fresh load has it: each test's training calls are undone."""
  loaded, values = loaded_once
  _reset(loaded, values)
  return loaded


def _images(seed, batch=4):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.uniform(size=(batch, 96, 96, 3)).astype(np.float32))


def _statistics(module):
  return {v.name: v.numpy() for v in module.variables if "moving_" in v.name}


def _values(module) -> list:
  return [v.numpy() for v in module.variables]


def _reset(module, values) -> None:
  """Back to the values a fresh load has: one load serves runs that each start from it."""
  for variable, value in zip(module.variables, values):
    variable.assign(value)


def test_every_version_has_a_behaviour_test():
  assert sorted(PROVEN) == [version.number for version in versions.VERSIONS]


@proves(1)
def test_v1_classifies_images_into_1001_imagenet_classes(artifact, module):
  _, export_dir = artifact
  logits = module(_images(0))
  assert logits.shape == (4, 1001) and np.all(np.isfinite(logits))
  with open(os.path.join(export_dir, "assets", "ImageNetLabels.txt")) as labels:
    assert labels.readline().strip() == "background"


@proves(2)
def test_v2_training_calls_update_the_moving_statistics_by_the_momentum_rule(artifact, module):
  version, _ = artifact
  assert versions.get(2).updates_batch_norm_in_training and version.updates_batch_norm_in_training
  # Momentum 0 turns the statistics into the batch statistics that momentum 0.9 averages in.
  averaged = module
  loaded, old = _values(averaged), _statistics(averaged)
  images = _images(5, batch=8)
  averaged(images, training=True, batch_norm_momentum=0.0)
  batch_statistics = _statistics(averaged)
  _reset(averaged, loaded)
  averaged(images, training=True, batch_norm_momentum=0.9)
  new = _statistics(averaged)
  assert len(new) == 104
  for name in new:
    assert not np.array_equal(new[name], old[name]), name  # every statistic is written
    np.testing.assert_allclose(
      new[name], 0.9 * old[name] + 0.1 * batch_statistics[name], rtol=1e-5, atol=1e-6, err_msg=name
    )
  # Most move measurably. The means fed to a 1x1 conv by a batch-normalized layer hardly do:
  # in training, batch norm fixes each channel's mean to its beta, whatever the images.
  moved = [name for name in new if not np.allclose(new[name], old[name], rtol=1e-4, atol=0)]
  assert len(moved) >= 80, sorted(set(new) - set(moved))
  before = _statistics(averaged)
  averaged(images, training=False)
  assert all(np.array_equal(before[n], v) for n, v in _statistics(averaged).items())


@proves(3)
def test_v3_momentum_defaults_to_the_versions_value_and_is_configurable(artifact, module):
  version, _ = artifact
  assert version.momentum_configurable
  loaded, images = _values(module), _images(6)
  module(images, training=True)
  default = _values(module)
  _reset(module, loaded)
  module(
    images, training=True, batch_norm_momentum=tf.constant(version.batch_norm_momentum_default)
  )
  explicit = _values(module)
  _reset(module, loaded)
  module(images, training=True, batch_norm_momentum=0.5)
  other = _values(module)
  for variable, a, b in zip(module.variables, default, explicit):
    np.testing.assert_array_equal(a, b, err_msg=variable.name)
  assert any(not np.array_equal(a, c) for a, c in zip(default, other))


@proves(4)
def test_v4_is_a_tf2_saved_model_for_load_hub_load_and_keras_layer(artifact, module):
  version, export_dir = artifact
  assert version.tf2_saved_model
  assert not os.path.exists(os.path.join(export_dir, "tfhub_module.pb"))  # no TF1 hub module
  images = _images(7, batch=2)
  expected = module(images).numpy()
  np.testing.assert_allclose(hub.load(export_dir)(images).numpy(), expected, atol=1e-5)
  model = tf_keras.Sequential(
    [tf_keras.layers.InputLayer(input_shape=(96, 96, 3)), hub.KerasLayer(export_dir)]
  )
  np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-5)


@proves(5)
def test_v5_serving_default_and_a_persistent_gradient_tape(artifact, module):
  version, _ = artifact
  loaded = module
  images = _images(8)
  if not version.serving_signature:
    assert not loaded.signatures  # version 4 was published without signatures
    return
  outputs = loaded.signatures["serving_default"](inputs=images)
  assert list(outputs) == ["logits"]
  np.testing.assert_allclose(outputs["logits"].numpy(), loaded(images).numpy(), atol=1e-5)
  # An ordinary tape first: TensorFlow takes 20-30 s to set up a persistent tape's first call
  # when no ordinary one has run (docs/troubleshooting.md); the result is the same.
  for persistent in (False, True):
    with tf.GradientTape(persistent=persistent) as tape:
      loss = tf.reduce_sum(loaded(images, training=True) ** 2)
    gradients = tape.gradient(loss, loaded.trainable_variables)
    assert len(gradients) == 158 and all(g is not None for g in gradients)
    del tape
