"""TF-Slim's `mobilenet_v2`, rebuilt from `nets.architecture` in a tf.compat.v1 graph.

This is the reference execution path: the network exactly as the released checkpoints were
trained and evaluated, with TF-Slim's variable names, endpoints and training scope.
Inputs are NHWC float32 in [-1, 1].
"""

from typing import Optional
from typing import Union

import tensorflow as tf
import tf_slim as slim

from nets import architecture
from nets import compat  # noqa: F401  (must precede tf_slim's first batch norm)

v1 = tf.compat.v1


def training_scope(
  is_training: bool = True,
  batch_norm_decay: Union[float, tf.Tensor] = architecture.SLIM_BATCH_NORM_DECAY,
  weight_decay: float = architecture.WEIGHT_DECAY,
):
  """TF-Slim's arg scope: BN after every conv, L2 decay on ordinary conv kernels only."""
  batch_norm_params = dict(
    center=True,
    scale=True,
    epsilon=architecture.BATCH_NORM_EPSILON,
    decay=batch_norm_decay,
    is_training=is_training,
    fused=True,
  )
  with (
    slim.arg_scope(
      [slim.conv2d, slim.separable_conv2d],
      normalizer_fn=slim.batch_norm,
      activation_fn=tf.nn.relu6,
      padding="SAME",
      weights_initializer=v1.truncated_normal_initializer(stddev=0.09),
    ),
    slim.arg_scope([slim.batch_norm], **batch_norm_params),
    slim.arg_scope([slim.dropout], is_training=is_training),
    slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)),
    slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as scope,
  ):
    return scope


def _layer(net, layer: architecture.Layer):
  block_input = net
  for unit in architecture.conv_units(layer):
    activation_fn = tf.nn.relu6 if unit.activation else None
    if unit.kind == "depthwise":
      net = slim.separable_conv2d(
        net,
        None,
        unit.kernel,
        depth_multiplier=1,
        stride=unit.stride,
        activation_fn=activation_fn,
        scope=unit.scope,
      )
    else:
      net = slim.conv2d(
        net,
        unit.out_channels,
        unit.kernel,
        stride=unit.stride,
        activation_fn=activation_fn,
        scope=unit.scope,
      )
  return net + block_input if layer.residual else net


def mobilenet_v2(
  images: tf.Tensor,
  depth_multiplier: float,
  num_classes: Optional[int] = architecture.NUM_CLASSES,
  is_training: bool = False,
  batch_norm_decay: Union[float, tf.Tensor] = architecture.SLIM_BATCH_NORM_DECAY,
  weight_decay: float = architecture.WEIGHT_DECAY,
):
  """Builds the network into the current graph; returns (output, end_points).

  The output is the logits [N, num_classes], or the global pool [N, C] when `num_classes`
  is None or 0 (feature extraction, no head variables). End points: `layer_1` … `layer_19`,
  `global_pool` ([N, 1, 1, C]) and, with a head, `Logits` and `Predictions`.
  """
  if tf.executing_eagerly():
    raise RuntimeError(
      "nets.mobilenet_v2 builds a tf.compat.v1 graph; call it inside "
      "`with tf.Graph().as_default():`"
    )
  end_points = {}
  with (
    slim.arg_scope(training_scope(is_training, batch_norm_decay, weight_decay)),
    v1.variable_scope(architecture.SCOPE, values=[images]),
  ):
    net = images
    for index, layer in enumerate(architecture.resolve(depth_multiplier), start=1):
      net = _layer(net, layer)
      end_points[f"layer_{index}"] = net
    net = tf.reduce_mean(net, axis=[1, 2], keepdims=True, name="global_pool")
    end_points["global_pool"] = net
    if not num_classes:
      return tf.squeeze(net, axis=[1, 2]), end_points
    with v1.variable_scope("Logits"):
      net = slim.dropout(net, keep_prob=architecture.DROPOUT_KEEP_PROB, scope="Dropout")
      net = slim.conv2d(
        net,
        num_classes,
        1,
        activation_fn=None,
        normalizer_fn=None,
        biases_initializer=v1.zeros_initializer(),
        scope="Conv2d_1c_1x1",
      )
    logits = tf.squeeze(net, axis=[1, 2], name="Logits")
    end_points["Logits"] = logits
    end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
  return logits, end_points
