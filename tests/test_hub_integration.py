"""What TF Hub users do with an export: load it three ways and fine-tune it with hub.KerasLayer."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

MOMENTUM = 0.997


@pytest.fixture(scope="module")
def export_dir(exported):
  return exported().export_dir


def _toy_task(count=16, seed=0):
  """Bright images are class 1, dark ones class 2: learnable in a few steps."""
  rng = np.random.default_rng(seed)
  brightness = rng.uniform(size=(count, 1, 1, 1))
  images = np.clip(brightness + rng.normal(scale=0.1, size=(count, 96, 96, 3)), 0, 1)
  return images.astype(np.float32), np.where(brightness[:, 0, 0, 0] > 0.5, 1, 2)


def test_fine_tuning_with_keras_layer(export_dir):
  layer = hub.KerasLayer(export_dir, trainable=True, arguments=dict(batch_norm_momentum=MOMENTUM))
  model = tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=(96, 96, 3)), layer])
  assert len(model.losses) == 36
  assert len(layer.trainable_weights) == 158 and len(layer.non_trainable_weights) == 104
  model.compile(
    tf_keras.optimizers.SGD(0.01), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  )
  images, labels = _toy_task()

  # The moving statistics of one training step follow m * old + (1 - m) * batch, where a
  # second copy run at momentum 0 yields the batch statistics of the same forward pass.
  batch_copy = tf.saved_model.load(export_dir)

  def statistics(variables):
    return {v.name: v.numpy() for v in variables if "moving_" in v.name}

  old = statistics(layer.weights)
  first_loss = model.train_on_batch(images, labels)
  batch_copy(tf.constant(images), training=True, batch_norm_momentum=0.0)
  new, batch = statistics(layer.weights), statistics(batch_copy.variables)
  assert len(new) == 104
  for name in new:
    np.testing.assert_allclose(
      new[name],
      MOMENTUM * old[name] + (1 - MOMENTUM) * batch[name],
      rtol=1e-5,
      atol=1e-7,
      err_msg=name,
    )

  losses = [model.train_on_batch(images, labels) for _ in range(4)]
  assert losses[-1] < first_loss
  # Keras adds the regularization losses of the layer to the total it minimizes.
  regularization = sum(float(loss) for loss in model.losses)
  assert regularization > 0
  data_loss = model.compiled_loss(tf.constant(labels), model(images, training=False))
  assert model.evaluate(images, labels, verbose=0) == pytest.approx(
    float(data_loss) + regularization, rel=1e-4
  )
