"""The Keras 3 model: TF-Slim's outputs and weights, the hub modules' fine-tuning, a portable file.

Parity is measured against the TF-Slim graph (export.verification.reference) and the SavedModel,
within 1e-5 * (1 + max |reference|), on the TensorFlow backend here and on JAX in a subprocess.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from export.core import checkpoint
from export.formats.keras import model as keras_model
from export.verification import reference
from export.verification import verifier
from nets import architecture
from nets import variants

TOLERANCE = 1e-5
CLASSIFIER = variants.ModelSpec(0.75, 96, "classification")
FEATURES = CLASSIFIER.with_module_type("feature_vector")


def _images(image_size, seed=0, batch=3):
  return (
    np.random.default_rng(seed).uniform(size=(batch, image_size, image_size, 3)).astype(np.float32)
  )


def _assert_close(got, want):
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE * (1.0 + np.abs(want).max()))


@pytest.fixture(scope="module")
def values(synthetic_checkpoint_075_96):
  return checkpoint.model_values(synthetic_checkpoint_075_96, 0.75).values


@pytest.fixture(scope="module")
def keras_file(values, tmp_path_factory):
  model = keras_model.build_keras_model(values, CLASSIFIER)
  path = tmp_path_factory.mktemp("keras") / "classifier.keras"
  path.write_bytes(keras_model.keras_file_bytes(model))
  return path


@pytest.fixture(scope="module")
def classifier(keras_file):
  """The model as a user gets it: loaded from the file (do not train it; load another)."""
  return keras.saving.load_model(keras_file)


@pytest.fixture(scope="module")
def saved_model_dir(exported):
  return exported().export_dir


@pytest.fixture(scope="module")
def saved_model(saved_model_dir):
  """The SavedModel loaded once (seconds); a test that trains it puts its values back."""
  return tf.saved_model.load(saved_model_dir)


@pytest.fixture(scope="module")
def outputs(classifier, saved_model, synthetic_checkpoint_075_96):
  """Inputs and the outputs of the three implementations on them, for 0.75/96."""
  images = _images(96)
  with reference.SlimReference(synthetic_checkpoint_075_96, CLASSIFIER) as slim_graph:
    slim = slim_graph(images)
  return dict(
    images=images,
    slim=slim,
    saved_model=saved_model(tf.constant(images)).numpy(),
    keras=classifier.predict(images, verbose=0),
  )


# --- outputs and weights -------------------------------------------------------------------
def test_logits_equal_the_tf_slim_graph_and_the_saved_model(outputs):
  assert outputs["keras"].shape == (3, 1001)
  _assert_close(outputs["keras"], outputs["slim"])
  _assert_close(outputs["keras"], outputs["saved_model"])
  assert np.array_equal(outputs["keras"].argmax(-1), outputs["slim"].argmax(-1))


@pytest.mark.parametrize(
  "multiplier,size,module_type,calibration_size,width",
  [
    (0.35, 128, "classification", 128, 1001),
    # The variable layout does not depend on the image size: calibrating the synthetic
    # statistics on 64-pixel images takes 2 s instead of 45 s at 224; the network runs at 224.
    (1.4, 224, "feature_vector", 64, 1792),
  ],
)
@pytest.mark.slow
def test_other_variants_equal_the_tf_slim_graph(
  other_variant, multiplier, size, module_type, calibration_size, width
):
  prefix, images, want = other_variant(multiplier, size, module_type, calibration_size)
  spec = variants.ModelSpec(multiplier, size, module_type)
  model = keras_model.build_keras_model(checkpoint.model_values(prefix, multiplier).values, spec)
  got = model.predict(images, verbose=0)
  assert got.shape == (2, width)
  _assert_close(got, want)


def test_weights_are_the_checkpoints_ema_values_bit_for_bit(
  classifier, synthetic_checkpoint_075_96
):
  stored = tf.train.load_checkpoint(synthetic_checkpoint_075_96)
  assert (len(classifier.weights), len(classifier.trainable_weights)) == (262, 158)
  for weight in classifier.weights:
    name = keras_model.slim_variable_name(weight.path)
    source = architecture.ema_name(name) if weight.trainable else name
    np.testing.assert_array_equal(
      keras.ops.convert_to_numpy(weight), stored.get_tensor(source), err_msg=weight.path
    )
  # In TF-Slim's (and the SavedModel's) order.
  assert [keras_model.slim_variable_name(w.path) for w in classifier.weights] == [
    spec.name for spec in architecture.variable_specs(0.75)
  ]


def test_feature_vector_model_has_no_head(values):
  model = keras_model.build_keras_model(values, FEATURES)
  assert model.output_shape == (None, 1280) and model.output_names == ["feature_vector"]
  assert (len(model.weights), len(model.trainable_weights), len(model.losses)) == (260, 156, 35)
  assert not any("Logits" in layer.name for layer in model.layers)


def test_layer_names_are_tf_slim_scopes_with_dots(classifier):
  depthwise = classifier.get_layer("MobilenetV2.expanded_conv_3.depthwise")
  assert isinstance(depthwise, keras.layers.DepthwiseConv2D)
  assert depthwise.kernel.shape == (3, 3, 144, 1) and depthwise.strides == (2, 2)
  batch_norm = classifier.get_layer("MobilenetV2.expanded_conv_3.depthwise.BatchNorm")
  assert isinstance(batch_norm, keras.layers.BatchNormalization)
  assert classifier.get_layer("MobilenetV2.Logits.Conv2d_1c_1x1").kernel.shape == (1, 1, 1280, 1001)
  assert classifier.input.name == "inputs" and classifier.output_names == ["logits"]
  assert keras_model.keras_weight_path("MobilenetV2/expanded_conv/depthwise/depthwise_weights") == (
    "MobilenetV2.expanded_conv.depthwise/kernel"
  )
  assert keras_model.slim_variable_name("MobilenetV2.Logits.Conv2d_1c_1x1/bias") == (
    "MobilenetV2/Logits/Conv2d_1c_1x1/biases"
  )


@pytest.mark.parametrize("multiplier", [0.35, 1.0, 1.4])
def test_weight_path_mapping_is_one_to_one(multiplier):
  names = [spec.name for spec in architecture.variable_specs(multiplier)]
  paths = [keras_model.keras_weight_path(name) for name in names]
  assert len(set(paths)) == len(names)
  assert [keras_model.slim_variable_name(path) for path in paths] == names


# --- fine-tuning semantics -------------------------------------------------------------------
def test_fine_tuning_defaults_are_the_hub_modules(classifier):
  batch_norms = [
    layer for layer in classifier.layers if isinstance(layer, keras.layers.BatchNormalization)
  ]
  assert len(batch_norms) == 52
  assert {(layer.momentum, layer.epsilon) for layer in batch_norms} == {(0.99, 1e-3)}
  regularized = {
    layer.name: layer.kernel_regularizer
    for layer in classifier.layers
    if getattr(layer, "kernel_regularizer", None)
  }
  assert len(regularized) == 36 and all(
    type(r) is keras.regularizers.L2 and r.l2 == 2e-5 for r in regularized.values()
  )
  assert not any(
    isinstance(classifier.get_layer(name), keras.layers.DepthwiseConv2D) for name in regularized
  )
  layers = {layer["name"]: layer for layer in classifier.get_config()["layers"]}
  logits_input = layers["MobilenetV2.Logits.Conv2d_1c_1x1"]["inbound_nodes"][0]["args"][0]
  dropout = layers[logits_input["config"]["keras_history"][0]]
  assert (dropout["class_name"], dropout["config"]["rate"]) == ("Dropout", 0.2)


def test_dropout_acts_in_training_only(classifier, values, outputs):
  images = outputs["images"]
  inference = keras.ops.convert_to_numpy(classifier(images, training=False))
  np.testing.assert_array_equal(classifier(images, training=False), inference)
  # Eager calls and predict's compiled function round differently (about 1e-5 here).
  _assert_close(inference, outputs["keras"])
  # Batch statistics make training outputs differ from inference, but not from each other:
  # only dropout can tell two training calls apart.
  model = keras_model.build_keras_model(values, CLASSIFIER)
  first, second = (keras.ops.convert_to_numpy(model(images, training=True)) for _ in range(2))
  assert np.abs(first - second).max() > 1e-3
  features = keras_model.build_keras_model(values, FEATURES)
  np.testing.assert_array_equal(features(images, training=True), features(images, training=True))


def test_weight_decay_is_the_saved_models_loss_for_loss(classifier, saved_model):
  """TF-Slim's scale * sum(w**2) / 2 is Keras' L2(scale / 2): the same float32 values."""
  ours = sorted(float(loss) for loss in classifier.losses)
  assert len(ours) == 36 and math.fsum(ours) > 0
  assert ours == sorted(float(loss()) for loss in saved_model.regularization_losses)
  assert math.fsum(ours) == math.fsum(float(loss()) for loss in saved_model.regularization_losses)


def test_fit_updates_the_moving_statistics_by_the_momentum_rule(keras_file, saved_model):
  momentum, images, labels = 0.9, _images(96, seed=5, batch=4), np.array([1, 2, 3, 4])
  model, batch_copy = (keras.saving.load_model(keras_file) for _ in range(2))
  for copy, value in ((model, momentum), (batch_copy, 0.0)):
    for layer in copy.layers:  # the documented way to change the momentum of a loaded model
      if isinstance(layer, keras.layers.BatchNormalization):
        layer.momentum = value
  model.compile(
    keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  )
  old = _statistics(model.weights)
  model.fit(images, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
  # At momentum 0 a training call leaves the batch statistics themselves in the copy.
  batch_copy(images, training=True)
  new, batch = _statistics(model.weights), _statistics(batch_copy.weights)
  assert len(new) == 104
  for name in new:  # m * old + (1 - m) * batch
    want = momentum * old[name] + (1 - momentum) * batch[name]
    np.testing.assert_allclose(
      new[name], want, rtol=0, atol=1e-6 * np.abs(want).max(), err_msg=name
    )

  # The SavedModel averages the Bessel-corrected batch variance (fused batch norm), Keras the
  # biased one: the same batch statistics but for the factor (n - 1) / n, n = 4 * H * W.
  loaded = [v.numpy() for v in saved_model.variables]
  try:
    saved_model(tf.constant(images), training=True, batch_norm_momentum=0.0)
    saved_batch = {
      v.name[: -len(":0")]: v.numpy() for v in saved_model.variables if "moving_" in v.name
    }
  finally:
    for variable, value in zip(saved_model.variables, loaded):
      variable.assign(value)
  sizes = _output_sizes(0.75, 96)
  for name, value in batch.items():
    slim_name = keras_model.slim_variable_name(name)
    n = 4 * sizes[slim_name.rsplit("/BatchNorm/", 1)[0]] ** 2
    want = saved_batch[slim_name] * ((n - 1) / n if "variance" in name else 1.0)
    np.testing.assert_allclose(value, want, rtol=0, atol=1e-4 * np.abs(want).max(), err_msg=name)
  last = "MobilenetV2/Conv_1/BatchNorm/moving_variance"  # 3 x 3: n = 36, a 2.8 % difference
  ratio = batch[keras_model.keras_weight_path(last)] / saved_batch[last]
  np.testing.assert_allclose(ratio, 35 / 36, rtol=1e-3)


def _statistics(weights):
  return {w.path: keras.ops.convert_to_numpy(w).copy() for w in weights if "moving_" in w.path}


def _output_sizes(multiplier, image_size):
  """Conv scope (MobilenetV2/...) -> spatial size of its output, from the layer table."""
  sizes, size = {}, image_size
  for layer in architecture.resolve(multiplier):
    for unit in architecture.conv_units(layer):
      size = math.ceil(size / unit.stride)
      sizes[f"{architecture.SCOPE}/{unit.scope}"] = size
  return sizes


def test_momentum_is_set_at_build(values):
  model = keras_model.build_keras_model(values, FEATURES, batch_norm_momentum=0.997)
  assert {
    layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
  } == {0.997}


@pytest.mark.parametrize(
  "kwargs,match",
  [
    (dict(module_type="detection"), "module type must be one of"),
    (dict(batch_norm_momentum=1.5), "momentum must lie in"),
    (dict(image_size=0), "image size must be a positive"),
    (
      dict(depth_multiplier=1.0),
      r"variable MobilenetV2/Conv/weights has shape \[3, 3, 3, 24\], expected \[3, 3, 3, 32\]",
    ),
  ],
)
def test_bad_arguments_are_named(values, kwargs, match):
  arguments = dict(depth_multiplier=0.75, image_size=96, module_type="classification")
  arguments.update(kwargs)
  momentum = arguments.pop("batch_norm_momentum", 0.99)
  with pytest.raises(ValueError, match=match):
    keras_model.build_keras_model(values, variants.ModelSpec(**arguments), momentum)


def test_missing_value_is_named(values):
  partial = {k: v for k, v in values.items() if k != "MobilenetV2/Conv_1/BatchNorm/gamma"}
  with pytest.raises(ValueError, match="variable MobilenetV2/Conv_1/BatchNorm/gamma is missing"):
    keras_model.build_keras_model(partial, CLASSIFIER)


# --- the file, anywhere: no project, other backends, the SavedModel in Keras 3 -------------
LOAD_SCRIPT = """
import json, sys
sys.modules["export"] = sys.modules["nets"] = None  # importing the project would now fail
import keras, numpy as np
model = keras.saving.load_model(sys.argv[1])  # safe mode is the default
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
layer = model.get_layer("MobilenetV2.expanded_conv_3.depthwise")
print(json.dumps(dict(backend=keras.backend.backend(), weights=len(model.weights),
                      layer=type(layer).__name__)))
"""


def test_file_loads_on_jax_without_the_project(keras_file, outputs, tmp_path):
  """Keras picks its backend at import, so JAX gets a fresh process; it runs outside the
  project (cwd elsewhere, no PYTHONPATH, the project's packages blocked). The TensorFlow
  backend loads the same file in this process (the `classifier` fixture)."""
  backend = "jax" if importlib.util.find_spec("jax") else "tensorflow"
  script, images, result = tmp_path / "load.py", tmp_path / "images.npy", tmp_path / "out.npy"
  script.write_text(LOAD_SCRIPT)
  np.save(images, outputs["images"])
  environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  environment.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
  run = subprocess.run(
    [sys.executable, str(script), str(keras_file), str(images), str(result)],
    cwd=tmp_path,
    env=environment,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert run.returncode == 0, run.stderr[-2000:]
  report = json.loads(run.stdout.strip().splitlines()[-1])
  assert report == dict(backend=backend, weights=262, layer="DepthwiseConv2D")
  got = np.load(result)
  _assert_close(got, outputs["saved_model"])
  _assert_close(got, outputs["slim"])
  if backend != "jax":
    pytest.skip("jax is not installed: checked on the TensorFlow backend only")


@pytest.fixture(scope="module")
def saved_model_v4_dir(exported):
  return exported(version=4).export_dir


def test_tfsm_layer_serves_version_5_inside_a_keras_3_model(saved_model_dir, outputs, tmp_path):
  layer = keras.layers.TFSMLayer(saved_model_dir, call_endpoint="serving_default")
  inputs = keras.Input((96, 96, 3))
  model = keras.Model(inputs, layer(inputs)["logits"])
  np.testing.assert_array_equal(model.predict(outputs["images"], verbose=0), outputs["saved_model"])
  # fit changes its trainable weights, but through the inference function: the moving
  # statistics stay frozen, no dropout applies, and no weight decay is added.
  model.compile(
    keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  )
  before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in layer.weights}
  model.fit(outputs["images"], np.array([1, 2, 3]), verbose=0)
  after = {w.path: keras.ops.convert_to_numpy(w) for w in layer.weights}
  trainable = {w.path for w in layer.trainable_weights}
  assert (len(after), len(trainable)) == (262, 158)
  assert all(np.array_equal(before[n], after[n]) for n in after if n not in trainable)
  assert sum(not np.array_equal(before[n], after[n]) for n in trainable) > 100
  assert model.losses == []
  # Nor does a model holding it travel as a .keras file: safe mode refuses to load it.
  model.save(tmp_path / "with_tfsm_layer.keras")
  with pytest.raises(ValueError, match="deserialization of a `TFSMLayer`"):
    keras.saving.load_model(tmp_path / "with_tfsm_layer.keras")


def test_tfsm_layer_cannot_find_serving_default_in_version_4(saved_model_v4_dir, outputs):
  with pytest.raises(
    ValueError,
    match=r"The endpoint 'serving_default' is neither an attribute "
    r".*Available endpoints for this SavedModel: \[\]",
  ):
    keras.layers.TFSMLayer(saved_model_v4_dir, call_endpoint="serving_default")
  # Version 4's __call__ serves inference instead (training=False, its default).
  layer = keras.layers.TFSMLayer(saved_model_v4_dir, call_endpoint="__call__")
  np.testing.assert_array_equal(layer(outputs["images"]), outputs["saved_model"])


# --- verification of the file against the checkpoint ----------------------------------------
@pytest.mark.slow
def test_verify_passes_a_keras_file_and_names_a_changed_weight(
  keras_file, values, synthetic_checkpoint_075_96, tmp_path
):
  # One reference for both files: verifier.verify is check_export_dir, then compare with the
  # checkpoint's expectation (the seconds of the TF-Slim graph).
  name = "MobilenetV2/expanded_conv_5/project/weights"
  changed = dict(values, **{name: values[name] * np.float32(1.001)})
  path = tmp_path / "changed.keras"
  path.write_bytes(keras_model.keras_file_bytes(keras_model.build_keras_model(changed, CLASSIFIER)))
  expectation = verifier.expectation(synthetic_checkpoint_075_96, None, CLASSIFIER)
  for export in (keras_file, path):
    verifier.check_export_dir(str(export))

  report = verifier.compare(str(keras_file), expectation)
  assert report.passed, report.text()
  checks = {check.name: check for check in report.checks}
  assert checks["variables"].summary == "262 of 262 exactly equal"
  assert checks["top1"].status == checks["top5"].status == "pass"

  report = verifier.compare(str(path), expectation)
  assert not report.passed
  assert report.first_failure.startswith(f"variables: 1 of 262 differ, first {name}")
