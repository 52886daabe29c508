"""The reference: the checkpoint run through the TF-Slim graph (nets/), as TF-Slim evaluates.

Trainable variables are restored from their `/ExponentialMovingAverage` shadows (when
`use_ema` and present), batch-norm statistics from their plain names, with
`tf.compat.v1.train.Saver` in a graph and session; images in [0, 1] are fed as `2x - 1`.
"""

import numpy as np
import tensorflow as tf

from export.base import errors
from export.core import checkpoint
from nets import architecture
from nets import mobilenet_v2
from nets import variants

v1 = tf.compat.v1


class SlimReference:
  """A TF-Slim graph restored from one checkpoint; call it on batches of [0, 1] images."""

  def __init__(
    self,
    prefix: str,
    spec: variants.ModelSpec,
    use_ema: bool = True,
  ):
    self.graph = tf.Graph()
    shapes = checkpoint.read_shapes(prefix)
    with self.graph.as_default():
      self.images = v1.placeholder(tf.float32, [None, spec.image_size, spec.image_size, 3])
      self.output, end_points = mobilenet_v2.mobilenet_v2(
        architecture.network_input(self.images),
        spec.depth_multiplier,
        num_classes=spec.num_classes,
        is_training=False,
      )
      # The feature vector: a classifier's head only follows it, so it is the same tensor.
      self.features = tf.squeeze(end_points["global_pool"], axis=[1, 2])
      trainable = {variable.op.name for variable in v1.trainable_variables()}
      var_list = {}
      for variable in v1.global_variables():
        name = variable.op.name
        shadow = architecture.ema_name(name)
        use_shadow = use_ema and name in trainable and shadow in shapes
        var_list[shadow if use_shadow else name] = variable
      saver = v1.train.Saver(var_list=var_list)
    self.session = v1.Session(graph=self.graph)
    try:
      with self.graph.as_default():
        saver.restore(self.session, prefix)
    except (tf.errors.OpError, ValueError) as error:
      self.session.close()
      raise checkpoint.CheckpointError(
        f"{prefix}: cannot restore into the TF-Slim graph ({errors.first_line(error)})"
      ) from None

  def __call__(self, images01: np.ndarray) -> np.ndarray:
    return self.session.run(self.output, {self.images: images01})

  def output_and_features(self, images01: np.ndarray) -> tuple:
    """(output, feature vector) of a batch, from one run of the graph."""
    return tuple(self.session.run([self.output, self.features], {self.images: images01}))

  def close(self):
    self.session.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()
