"""MobileNet V2 in TF2, interpreting the same layer table as the TF-Slim graph.

`MobileNetV2` holds one tf.Variable per TF-Slim variable (same names) and runs eagerly or
inside a tf.function: inference normalizes with the moving statistics (fused batch norm after
plain convolutions, which Grappler fuses into them on CPU; folded into the kernel and a bias
for depthwise convolutions, which it does not); training normalizes with batch statistics and
updates the moving ones with the momentum it is given, as TF-Slim's UPDATE_OPS did.
"""

from typing import Mapping
from typing import Optional

import numpy as np
import tensorflow as tf

from nets import architecture


class MobileNetV2(tf.Module):
  def __init__(
    self,
    depth_multiplier: float,
    initial_values: Mapping[str, np.ndarray],
    num_classes: Optional[int] = architecture.NUM_CLASSES,
  ):
    super().__init__(name=None)
    self.depth_multiplier = depth_multiplier
    self.num_classes = num_classes
    self._layers = architecture.resolve(depth_multiplier)
    self.specs = architecture.variable_specs(depth_multiplier, num_classes)
    # A list keeps the checkpoint order and gives tracking keys without "/" in them.
    self.model_variables = [
      tf.Variable(
        initial_values[spec.name], name=spec.name, trainable=spec.trainable, dtype=tf.float32
      )
      for spec in self.specs
    ]
    self._by_name = {spec.name: var for spec, var in zip(self.specs, self.model_variables)}

  def variable(self, name: str) -> tf.Variable:
    return self._by_name[f"{architecture.SCOPE}/{name}"]

  def __call__(self, images: tf.Tensor, training: bool, momentum) -> tf.Tensor:
    """Logits [N, num_classes] or features [N, C] of images in [-1, 1]."""
    net = images
    for layer in self._layers:
      block_input = net
      for unit in architecture.conv_units(layer):
        net = self._conv_unit(net, unit, training, momentum)
      if layer.residual:
        net = net + block_input
    features = tf.reduce_mean(net, axis=[1, 2])
    if not self.num_classes:
      return features
    if training:
      features = tf.nn.dropout(features, rate=1.0 - architecture.DROPOUT_KEEP_PROB)
    kernel = self.variable(f"{architecture.LOGITS_SCOPE}/weights")
    bias = self.variable(f"{architecture.LOGITS_SCOPE}/biases")
    return tf.matmul(features, tf.reshape(kernel, kernel.shape[2:])) + bias

  def _conv_unit(self, net, unit: architecture.ConvUnit, training: bool, momentum):
    strides = [1, unit.stride, unit.stride, 1]
    if unit.kind == "depthwise" and not training:
      net = self._depthwise_conv_with_folded_batch_norm(net, unit.scope, strides)
    elif unit.kind == "depthwise":
      kernel = self.variable(f"{unit.scope}/depthwise_weights")
      net = tf.nn.depthwise_conv2d(net, kernel, strides, "SAME")
      net = self._batch_norm(net, f"{unit.scope}/BatchNorm", training, momentum)
    else:
      kernel = self.variable(f"{unit.scope}/weights")
      net = tf.nn.conv2d(net, kernel, strides, "SAME")
      net = self._batch_norm(net, f"{unit.scope}/BatchNorm", training, momentum)
    return tf.nn.relu6(net) if unit.activation else net

  def _depthwise_conv_with_folded_batch_norm(self, net, scope: str, strides):
    """Inference batch norm as a per-channel scale of the kernel and a bias.

    Grappler fuses Conv2D + FusedBatchNorm (+ Relu6), but leaves DepthwiseConv2dNative +
    FusedBatchNorm + Relu6 as three passes over the activations; it does fuse a depthwise
    conv with BiasAdd + Relu6. The scaling costs a few ops on kernels of 9 values per channel.
    """
    # Read in the order the unfolded conv and fused batch norm read them: the saved function
    # then binds its captures in the same order as before the folding.
    batch_norm = architecture.BATCH_NORM_PARAMS + architecture.BATCH_NORM_STATS
    names = ["depthwise_weights"] + [f"BatchNorm/{name}" for name in batch_norm]
    kernel, gamma, beta, mean, variance = (
      self.variable(f"{scope}/{name}").value() for name in names
    )
    scale = gamma * tf.math.rsqrt(variance + architecture.BATCH_NORM_EPSILON)
    net = tf.nn.depthwise_conv2d(net, kernel * tf.expand_dims(scale, -1), strides, "SAME")
    return tf.nn.bias_add(net, beta - mean * scale)

  def _batch_norm(self, net, scope: str, training: bool, momentum):
    gamma, beta = self.variable(f"{scope}/gamma"), self.variable(f"{scope}/beta")
    mean, variance = (
      self.variable(f"{scope}/moving_mean"),
      self.variable(f"{scope}/moving_variance"),
    )
    if not training:
      net, _, _ = tf.compat.v1.nn.fused_batch_norm(
        net, gamma, beta, mean, variance, epsilon=architecture.BATCH_NORM_EPSILON, is_training=False
      )
      return net
    # The fused op returns the Bessel-corrected batch variance, which TF-Slim averaged too.
    net, batch_mean, batch_variance = tf.compat.v1.nn.fused_batch_norm(
      net, gamma, beta, epsilon=architecture.BATCH_NORM_EPSILON, is_training=True
    )
    momentum = tf.cast(momentum, tf.float32)
    mean.assign(momentum * mean + (1.0 - momentum) * batch_mean)
    variance.assign(momentum * variance + (1.0 - momentum) * batch_variance)
    return net

  def regularization_losses(self) -> list:
    """One zero-argument tf.function per decayed kernel: weight_decay * sum(w**2) / 2."""
    return [_l2_loss_function(self._by_name[spec.name]) for spec in self.specs if spec.regularized]


def _l2_loss_function(variable: tf.Variable):
  # A closure, not a default argument: a default would be recorded and break saving.
  @tf.function(input_signature=[], autograph=False)
  def l2_loss():
    return architecture.WEIGHT_DECAY * tf.nn.l2_loss(variable)

  return l2_loss
