"""The TF-Slim graph of nets.mobilenet_v2: variables, endpoints, regularization, batch norm."""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from nets import mobilenet_v2

v1 = tf.compat.v1

DATA = pathlib.Path(__file__).resolve().parent / "data"
BATCH = 2
# Output size and channels of layer_1 ... layer_19 of mobilenet_v2_0.75_96 (fact sheet).
SIZES_075_96 = (48, 48, 24, 24, 12, 12, 12, 6, 6, 6, 6, 6, 6, 6, 3, 3, 3, 3, 3)
CHANNELS_075 = (24, 16, 24, 24, 24, 24, 24, 48, 48, 48, 48, 72, 72, 72, 120, 120, 120, 240, 1280)
FIRST_BN = "MobilenetV2/Conv/BatchNorm"
TRAINING_SIZE = 32  # small, so the first conv is cheap to redo in numpy


def _images(size, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (BATCH, size, size, 3)).astype(np.float32)


class _Built:
  """A graph holding one network, with an initialized session."""

  def __init__(self, image_size, tensor_decay=None, **kwargs):
    """`tensor_decay`: pass the batch-norm decay as a scalar tensor with this default."""
    self.graph = tf.Graph()
    self.decay = None
    with self.graph.as_default():
      self.images = v1.placeholder(tf.float32, [BATCH, image_size, image_size, 3])
      if tensor_decay is not None:
        self.decay = v1.placeholder_with_default(tensor_decay, [])
        kwargs["batch_norm_decay"] = self.decay
      self.output, self.end_points = mobilenet_v2.mobilenet_v2(self.images, 0.75, **kwargs)
      self.variables = {v.op.name: v for v in v1.global_variables()}
      self.update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
      self.losses = v1.get_collection(v1.GraphKeys.REGULARIZATION_LOSSES)
      self.session = v1.Session()
      self.session.run(v1.global_variables_initializer())

  def read(self, names):
    return self.session.run({name: self.variables[name] for name in names})

  def write(self, values):
    with self.graph.as_default():
      self.session.run([v1.assign(self.variables[name], value) for name, value in values.items()])


@pytest.fixture(scope="module")
def classifier():
  built = _Built(96)
  yield built
  built.session.close()


@pytest.fixture(scope="module")
def feature_extractor():
  built = _Built(96, num_classes=None)
  yield built
  built.session.close()


@pytest.fixture(scope="module", params=["float", "tensor"])
def training(request):
  """Training mode with decay 0.9, given as a Python float or as a scalar tensor."""
  if request.param == "float":
    built = _Built(TRAINING_SIZE, is_training=True, batch_norm_decay=0.9)
  else:
    built = _Built(TRAINING_SIZE, is_training=True, tensor_decay=0.9)
  yield built
  built.session.close()


def test_variables_equal_the_released_layout(classifier):
  expected = json.loads((DATA / "mobilenet_v2_0.75_96.variables.json").read_text())
  got = {name: list(v.shape.as_list()) for name, v in classifier.variables.items()}
  assert got == expected["variables"]
  assert len(got) == 262


def test_trainable_variables_are_all_but_the_moving_statistics(classifier):
  with classifier.graph.as_default():
    trainable = {v.op.name for v in v1.trainable_variables()}
  assert len(trainable) == 158
  assert trainable == {
    name for name in classifier.variables if not name.endswith(("/moving_mean", "/moving_variance"))
  }


def test_feature_extraction_has_no_head(feature_extractor):
  assert not [name for name in feature_extractor.variables if "Logits" in name]
  assert len(feature_extractor.variables) == 260
  assert feature_extractor.output.shape.as_list() == [BATCH, 1280]
  assert "Logits" not in feature_extractor.end_points
  assert "Predictions" not in feature_extractor.end_points
  features = feature_extractor.session.run(
    feature_extractor.output, {feature_extractor.images: _images(96)}
  )
  assert features.shape == (BATCH, 1280)
  assert (features >= 0).all() and (features <= 6).all()  # the pool of relu6 outputs


def test_end_points_and_their_shapes(classifier):
  end_points = classifier.end_points
  expected = {
    f"layer_{i}": [BATCH, size, size, channels]
    for i, (size, channels) in enumerate(zip(SIZES_075_96, CHANNELS_075), start=1)
  }
  expected.update(global_pool=[BATCH, 1, 1, 1280], Logits=[BATCH, 1001], Predictions=[BATCH, 1001])
  assert {name: t.shape.as_list() for name, t in end_points.items()} == expected
  assert classifier.output is end_points["Logits"]
  predictions = classifier.session.run(end_points["Predictions"], {classifier.images: _images(96)})
  np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_regularization_losses_are_l2_of_ordinary_conv_kernels(classifier):
  assert len(classifier.losses) == 36
  kernels = {}
  for loss in classifier.losses:
    (kernel,) = _variables_behind(loss)
    assert kernel not in kernels, kernel
    kernels[kernel] = loss
  assert set(kernels) == {name for name in classifier.variables if name.endswith("/weights")}
  losses, weights = classifier.session.run(kernels), classifier.read(kernels)
  for name, value in weights.items():
    expected = 4e-5 * np.sum(np.square(value.astype(np.float64))) / 2
    assert losses[name] == pytest.approx(expected, rel=1e-5), name


def _variables_behind(tensor):
  """Names of the variables a tensor is computed from (in the graph, not by name)."""
  found, seen, pending = set(), set(), [tensor.op]
  while pending:
    op = pending.pop()
    if op.type in ("VarHandleOp", "VariableV2"):
      found.add(op.name)
    elif op.name not in seen:
      seen.add(op.name)
      pending.extend(t.op for t in op.inputs)
  return found


def _first_conv_batch_statistics(images, kernel):
  """Mean and (n-1) variance, per channel, of the first conv's output, redone in numpy.

  The conv is 3x3, stride 2, SAME: on an even size that pads 0 before and 1 after.
  TF's fused batch norm hands the moving average the unbiased (n-1) batch variance.
  """
  padded = np.pad(images.astype(np.float64), ((0, 0), (0, 1), (0, 1), (0, 0)))
  size = images.shape[1] // 2
  out = 0
  for dy in range(3):
    for dx in range(3):
      out = out + padded[:, dy : dy + 2 * size : 2, dx : dx + 2 * size : 2, :] @ kernel[dy, dx]
  return out.mean(axis=(0, 1, 2)), out.var(axis=(0, 1, 2), ddof=1)


def test_update_ops_move_the_statistics_by_the_decay(training):
  """new = decay * old + (1 - decay) * batch statistic, for a float and for a tensor decay."""
  decay = 0.9
  names = [f"{FIRST_BN}/moving_mean", f"{FIRST_BN}/moving_variance"]
  rng = np.random.default_rng(1)
  old = {
    names[0]: rng.normal(size=24).astype(np.float32),
    names[1]: rng.uniform(0.5, 2.0, 24).astype(np.float32),
  }
  training.write(old)
  images = _images(TRAINING_SIZE, seed=2)
  assert len(training.update_ops) == 2 * 52  # mean and variance of every batch norm
  training.session.run(training.update_ops, {training.images: images})
  new = training.read(names)
  kernel = training.read(["MobilenetV2/Conv/weights"])["MobilenetV2/Conv/weights"]
  batch_mean, batch_variance = _first_conv_batch_statistics(images, kernel)
  for name, batch in zip(names, (batch_mean, batch_variance)):
    np.testing.assert_allclose(
      new[name], decay * old[name] + (1 - decay) * batch, rtol=1e-4, atol=1e-5, err_msg=name
    )
  if training.decay is not None:  # the tensor decay can also be fed
    training.write(old)
    training.session.run(training.update_ops, {training.images: images, training.decay: 0.0})
    batch = training.read(names)
    np.testing.assert_allclose(batch[names[0]], batch_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batch[names[1]], batch_variance, rtol=1e-4, atol=1e-5)


def test_inference_changes_no_variable(classifier):
  assert classifier.update_ops == []
  before = classifier.read(classifier.variables)
  feed = {classifier.images: _images(96, seed=3)}
  first = classifier.session.run(classifier.output, feed)
  second = classifier.session.run(classifier.output, feed)
  after = classifier.read(classifier.variables)
  np.testing.assert_array_equal(first, second)  # no dropout at inference
  for name, value in before.items():
    np.testing.assert_array_equal(after[name], value, err_msg=name)
