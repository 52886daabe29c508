"""Keras' own MobileNetV2 (tf_keras) carrying the checkpoint's weights: the yardstick the
benchmark measures our SavedModel and TFLite model against."""

from benchmarking.processes import IMAGE_SIZE
from benchmarking.processes import MULTIPLIER
from nets import architecture


def keras_layer_names(scope: str) -> tuple:
  """(conv, batch norm) layer names in Keras' MobileNetV2 of a TF-Slim conv unit scope.

  TF-Slim's Conv, expanded_conv, expanded_conv_<k>, Conv_1 are Keras' Conv1, expanded_conv,
  block_<k>, Conv_1; the expand / depthwise / project units keep their names.
  """
  if scope == "Conv":
    return "Conv1", "bn_Conv1"
  if scope == "Conv_1":
    return "Conv_1", "Conv_1_bn"
  block, unit = scope.split("/")
  prefix = "expanded_conv" if block == "expanded_conv" else "block_" + block.rsplit("_", 1)[1]
  return f"{prefix}_{unit}", f"{prefix}_{unit}_BN"


def keras_twin(values: dict):
  """Keras' MobileNetV2(alpha=0.75, 96x96) with 1001 logits, carrying our checkpoint values.

  classes=1001 without softmax makes Keras' head compute what ours does: 1001 logits from the
  pooled features. Every Keras weight is set, so nothing of its random init survives.
  """
  import tf_keras  # pylint: disable=g-import-not-at-top

  model = tf_keras.applications.MobileNetV2(
    alpha=MULTIPLIER,
    input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    weights=None,
    classes=1001,
    classifier_activation=None,
  )
  assigned = set()
  for layer in architecture.resolve(MULTIPLIER):
    for unit in architecture.conv_units(layer):
      prefix = f"{architecture.SCOPE}/{unit.scope}"
      kernel = "depthwise_weights" if unit.kind == "depthwise" else "weights"
      conv, batch_norm = keras_layer_names(unit.scope)
      model.get_layer(conv).set_weights([values[f"{prefix}/{kernel}"]])
      model.get_layer(batch_norm).set_weights(  # Keras' order: gamma, beta, mean, variance
        [
          values[f"{prefix}/BatchNorm/{name}"]
          for name in architecture.BATCH_NORM_PARAMS + architecture.BATCH_NORM_STATS
        ]
      )
      assigned.update([conv, batch_norm])
  logits = f"{architecture.SCOPE}/{architecture.LOGITS_SCOPE}"
  weights = values[f"{logits}/weights"]
  model.get_layer("predictions").set_weights(
    [weights.reshape(weights.shape[2:]), values[f"{logits}/biases"]]
  )
  assigned.add("predictions")
  unassigned = [
    layer.name for layer in model.layers if layer.weights and layer.name not in assigned
  ]
  if unassigned:
    raise RuntimeError(f"Keras layers without our weights: {unassigned}")
  return model


def check_same_outputs(ours, keras_model, images) -> dict:
  """Max |diff| of the logits of our SavedModel and Keras' model, and the tolerance."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  want = ours(tf.constant(images)).numpy()
  got = keras_model(architecture.network_input(images), training=False).numpy()
  difference = float(abs(got - want).max())
  tolerance = 1e-4 * (1.0 + float(abs(want).max()))
  if not difference <= tolerance:
    raise RuntimeError(
      f"Keras' model with copied weights differs from ours by {difference} "
      f"(tolerance {tolerance}): the weight copy is wrong"
    )
  return {"max_diff": difference, "tolerance": tolerance}
