"""ONNX models beside the SavedModel: checked, in agreement, with test vectors, same bytes.

The session's 0.75/96 classifier export with both types beside it (`--onnx
--onnx_types=float32,int8`) is made once; the tests read that (and its feature-vector twin, and
the run's one export by the binary in a fresh process, `fresh_process_export`, for the same
bytes). Checks of the files use stock tooling only (onnx, onnxruntime).
"""

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime
import pytest
import tensorflow as tf

from export.base import probe_images
from export.core import options as options_lib
from export.formats import agreement as litert_agreement
from export.formats import beside
from export.formats import registry
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import network as litert_network
from export.formats.onnx import exporter as onnx_export
from export.formats.onnx import model as onnx_model
from export.formats.onnx import quantize as onnx_quantize
from export.formats.saved_model import exporter as saved_model_exporter
from export.publish import model_card
from nets import variants


def _models(result) -> list:
  """The ONNX models an export wrote (format.Written), float32 first; not their test vectors."""
  return [written for written in result.written["onnx"] if written.path.endswith(".onnx")]


def _write(prefix, directory, module_type, model_types=onnx_export.TYPES):
  """(export_dir, [Written]) of an export into `directory`/module with the ONNX types."""
  result = saved_model_exporter.export_saved_model(
    options_lib.ExportOptions(
      checkpoint_path=prefix,
      export_dir=str(directory / "module"),
      spec=variants.ModelSpec(0.75, 96, module_type),
      onnx=True,
      onnx_types=model_types,
    )
  )
  return result.export_dir, _models(result)


@pytest.fixture(scope="module")
def onnx_models(exported_with_every_format):
  """(export_dir, [Written]) of the session's classifier export with both types (and the other
  formats) beside it."""
  result = exported_with_every_format()
  return result.export_dir, _models(result)


@pytest.fixture(scope="module")
def network(exported):
  """The folded network of the session's classifier."""
  return litert_network.fold(exported().restored.values, 0.75, "classification")


@pytest.fixture(scope="module")
def converted(network) -> bytes:
  """The float32 ModelProto of `network` (serialized), converted once for the module."""
  return onnx_model.serialize(onnx_model.convert(network, 96))


@pytest.fixture
def float_model(converted):
  """A fresh copy of the converted float32 model: a test may change it."""
  return onnx.ModelProto.FromString(converted)


def _read(path) -> bytes:
  with open(path, "rb") as stream:
    return stream.read()


def _stock_run(path, images) -> np.ndarray:
  runner = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
  return runner.run(None, {runner.get_inputs()[0].name: images})[0]


# --- what is written ---------------------------------------------------------------------
def test_each_type_and_its_test_vectors_are_written_beside_the_saved_model(onnx_models):
  export_dir, written = onnx_models
  # The SavedModel and the ONNX files (the other formats' files are their tests' to check).
  listed = [n for n in os.listdir(os.path.dirname(export_dir)) if n == "module" or ".onnx" in n]
  assert sorted(listed) == [
    "module",
    "module.int8.onnx",
    "module.int8.onnx.test_data",
    "module.onnx",
    "module.onnx.test_data",
  ]
  for model in written:
    content = _read(model.path)
    assert (model.size_bytes, model.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    test_data = onnx_export.test_data_dir(model.path)
    assert sorted(os.listdir(os.path.join(test_data, "test_data_set_0"))) == [
      "input_0.pb",
      "output_0.pb",
    ]
  assert [model.model_type for model in written] == ["float32", "int8"]


@pytest.mark.parametrize("model_type", onnx_export.TYPES)
def test_models_pass_the_full_checker_with_a_dynamic_batch(onnx_models, model_type):
  model = onnx.load(onnx_export.path_beside(onnx_models[0], model_type))
  onnx.checker.check_model(model, full_check=True)
  (given,), (wanted,) = model.graph.input, model.graph.output
  dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
  assert (given.name, dims(given), given.type.tensor_type.elem_type) == (
    "inputs",
    ["batch", 96, 96, 3],
    onnx.TensorProto.FLOAT,
  )
  assert (wanted.name, dims(wanted), wanted.type.tensor_type.elem_type) == (
    "logits",
    ["batch", 1001],
    onnx.TensorProto.FLOAT,
  )
  assert [(o.domain, o.version) for o in model.opset_import] == [("", onnx_model.OPSET)]


def test_int8_model_is_qdq_with_per_channel_uint8_weights_and_uint8_activations(onnx_models):
  # uint8 x uint8: ONNX Runtime's x86 kernels without VNNI saturate uint8 x int8 products
  # (on an AVX2 machine the int8-weight model agreed with the SavedModel at cosine 0.44).
  model = onnx.load(onnx_export.path_beside(onnx_models[0], "int8"))
  initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
  producers = {output: node for node in model.graph.node for output in node.output}
  quantized = [node for node in model.graph.node if node.op_type in ("Conv", "Gemm")]
  for node in quantized:
    activation, weight = (producers[name] for name in node.input[:2])
    assert activation.op_type == weight.op_type == "DequantizeLinear"
    assert initializers[activation.input[2]].dtype == np.uint8
    assert initializers[weight.input[0]].dtype == np.uint8  # stored quantized
    assert initializers[weight.input[2]].dtype == np.uint8
    if node.op_type == "Conv":  # one scale per output channel
      assert initializers[weight.input[1]].shape == (initializers[weight.input[0]].shape[0],)
  assert [node.op_type for node in quantized].count("Conv") == 52
  assert os.path.getsize(onnx_export.path_beside(onnx_models[0], "int8")) < 0.35 * os.path.getsize(
    onnx_export.path_beside(onnx_models[0])
  )


def test_float32_weights_are_the_exactly_folded_ones_bit_for_bit(network, float_model):
  # No TensorFlow float kernel reached the file: every Conv and Gemm weight is a folded one.
  model = float_model
  values = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
  units = [unit for layer in network.layers for unit in layer.units]
  convs = [node for node in model.graph.node if node.op_type == "Conv"]
  assert len(convs) == len(units)
  for node, unit in zip(convs, units):
    kernel = unit.kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    if unit.kind == "depthwise":
      kernel = unit.kernel.transpose(2, 3, 0, 1)  # [h, w, C, 1] -> [C, 1, h, w]
    np.testing.assert_array_equal(values[node.input[1]], kernel)
    np.testing.assert_array_equal(values[node.input[2]], unit.bias)
  (gemm,) = [node for node in model.graph.node if node.op_type == "Gemm"]
  np.testing.assert_array_equal(values[gemm.input[1]], network.logits_kernel)
  np.testing.assert_array_equal(values[gemm.input[2]], network.logits_bias)


# --- agreement ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_model_outputs(onnx_models):
  """The export's SavedModel's outputs of the probe images, computed once for the module."""
  _, probes = probe_images.probe_batch(96)
  return tf.saved_model.load(onnx_models[0])(tf.constant(probes)).numpy()


@pytest.mark.parametrize("batch_size", [1, 5])
def test_float32_model_agrees_with_the_saved_model_at_two_batch_sizes(
  onnx_models, saved_model_outputs, batch_size
):
  export_dir, _ = onnx_models
  _, probes = probe_images.probe_batch(96)
  want = saved_model_outputs
  path = onnx_export.path_beside(export_dir)
  got = np.concatenate(
    [_stock_run(path, probes[start : start + batch_size]) for start in range(0, 16, batch_size)]
  )
  assert np.abs(got - want).max() <= 1e-5 * (1 + np.abs(want).max())


def test_every_written_model_met_its_threshold(onnx_models):
  for model in onnx_models[1]:
    agreement = model.agreement
    assert agreement.passed and agreement.threshold == onnx_export.THRESHOLDS[model.model_type]
    assert agreement.top1_agreement is not None and agreement.images == 16


def test_a_shortfall_at_either_batch_size_is_the_one_recorded_and_checked():
  reference = np.eye(4, 1001, dtype=np.float32)
  threshold = onnx_export.THRESHOLDS["float32"]
  close, off = (
    litert_agreement.measure("float32", reference + delta, reference, "classification", threshold)
    for delta in (1e-6, 1e-3)
  )
  assert close.passed and not off.passed
  assert onnx_export.worst({1: close, 8: off}) is off
  assert onnx_export.worst({1: off, 8: close}) is off


def test_feature_vector_models_are_checked_and_named(exported_with_every_format):
  written = _models(exported_with_every_format("feature_vector"))
  assert [model.model_type for model in written] == ["float32", "int8"]
  for model in written:
    (output,) = onnx.load(model.path).graph.output
    assert output.name == "feature_vector"
    assert _stock_run(model.path, np.zeros((3, 96, 96, 3), np.float32)).shape == (3, 1280)
    assert model.agreement.top1_agreement is None
  assert written[0].agreement.max_relative_difference <= 1e-5


@pytest.mark.slow
def test_a_model_short_of_its_threshold_is_refused_and_nothing_is_written(
  synthetic_checkpoint_075_96, tmp_path, monkeypatch
):
  monkeypatch.setitem(onnx_export.THRESHOLDS, "int8", litert_agreement.Threshold(min_cosine=0.9999))
  with pytest.raises(
    litert_agreement.AgreementError,
    match=r"module\.int8\.onnx: the int8 model does not agree with the SavedModel on the 16 "
    r"probe images: min cosine similarity 0\.\d+ < 0\.9999; not written$",
  ):
    _write(synthetic_checkpoint_075_96, tmp_path, "classification")
  # Neither the SavedModel nor the float32 model, which passed, is placed.
  assert os.listdir(tmp_path) == []


# --- test vectors, read as a downloader would --------------------------------------------
@pytest.mark.parametrize("model_type", onnx_export.TYPES)
def test_test_vectors_check_the_model_with_stock_tooling(onnx_models, model_type):
  path = onnx_export.path_beside(onnx_models[0], model_type)
  data_set = os.path.join(path + ".test_data", "test_data_set_0")
  given, wanted = (
    onnx.load_tensor(os.path.join(data_set, name)) for name in ("input_0.pb", "output_0.pb")
  )
  session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
  assert (given.name, wanted.name) == (session.get_inputs()[0].name, "logits")
  expected = numpy_helper.to_array(wanted)
  (got,) = session.run(None, {given.name: numpy_helper.to_array(given)})
  assert got.shape == expected.shape == (2, 1001)
  if model_type == "float32":
    assert np.abs(got - expected).max() <= 1e-5 * (1 + np.abs(expected).max())
  else:
    cosines = litert_agreement.cosine_similarities(got, expected)
    assert cosines.min() >= 0.9


def test_test_vectors_are_the_exact_networks_outputs_of_named_probes(onnx_models, network):
  names, probes = probe_images.probe_batch(96)
  images = probes[[names.index("landscape"), names.index("gradient_colour")]]
  data_set = os.path.join(onnx_export.test_data_dir(onnx_models[1][0].path), "test_data_set_0")
  np.testing.assert_array_equal(
    numpy_helper.to_array(onnx.load_tensor(os.path.join(data_set, "input_0.pb"))), images
  )
  np.testing.assert_array_equal(
    numpy_helper.to_array(onnx.load_tensor(os.path.join(data_set, "output_0.pb"))),
    litert_network.exact_outputs(network, images).astype(np.float32),
  )


# --- int8 calibration --------------------------------------------------------------------
def test_every_activation_gets_its_exact_range_and_a_misaligned_graph_is_refused(
  network, float_model
):
  model = float_model
  ranges = litert_network.activation_ranges(network, litert_calibration.default_images(96, [1]))
  by_tensor = onnx_quantize.tensor_ranges(model, network.op_kinds, ranges)
  assert by_tensor["inputs"] == (0.0, 1.0) and by_tensor["Transpose_0"] == (-1.0, 1.0)
  assert by_tensor["logits"] == tuple(ranges[-1])
  assert by_tensor["Clip_0"] == by_tensor["Conv_0"] == tuple(ranges[3])
  with pytest.raises(ValueError, match="do not line up"):
    onnx_quantize.tensor_ranges(model, network.op_kinds[:3] + network.op_kinds[4:], ranges[1:])


def test_assigned_ranges_are_the_ranges_the_float_model_computes(network, float_model):
  # Ranges are assigned to tensors by walking the graph: each must be the range that tensor
  # takes when ONNX Runtime runs the float32 model, up to float32 rounding.
  model = float_model
  images = litert_calibration.default_images(96, seeds=[1])
  by_tensor = onnx_quantize.tensor_ranges(
    model, network.op_kinds, litert_network.activation_ranges(network, images)
  )
  # The input's range and so the first two ops' are [0, 1], [0, 2], [-1, 1] by definition.
  defined = {"inputs": (0, 1), "Mul_0": (0, 2), "Sub_0": (-1, 1), "Transpose_0": (-1, 1)}
  assert {name: by_tensor[name] for name in defined} == defined
  clipped = {node.input[0] for node in model.graph.node if node.op_type == "Clip"}
  names = sorted(set(by_tensor) - clipped - set(defined) - {"logits"})  # a conv's own is wider
  model.graph.output.extend(
    onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names
  )
  session = onnxruntime.InferenceSession(
    model.SerializeToString(), providers=["CPUExecutionProvider"]
  )
  outputs = dict(zip(["logits", *names], session.run(["logits", *names], {"inputs": images})))
  assert len(names) == 52 + 10 + 1 + 1  # convs (or their clips), adds, pool, squeeze
  for name, values in outputs.items():
    low, high = by_tensor[name]
    tolerance = 1e-4 * (1 + max(abs(low), abs(high)))
    assert abs(values.min() - low) <= tolerance and abs(values.max() - high) <= tolerance, name


def test_the_int8_models_input_scale_is_exactly_1_over_255(onnx_models):
  model = onnx.load(onnx_export.path_beside(onnx_models[0], "int8"))
  values = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
  (quantize,) = [node for node in model.graph.node if node.input[0] == "inputs"]
  assert quantize.op_type == "QuantizeLinear"
  assert values[quantize.input[1]] == np.float32(1 / 255)
  assert values[quantize.input[2]] == np.uint8(0)


# --- reproducible bytes ------------------------------------------------------------------
def test_normalized_bytes_do_not_depend_on_the_converters_names_or_order(exported):
  network = litert_network.fold(exported().restored.values, 0.75, "feature_vector")
  model = onnx_model.convert(network, 96)
  shuffled = onnx.ModelProto.FromString(onnx_model.serialize(model))
  # As tf2onnx's duplicate merge does between runs: other names, another order.
  renamed = {
    tensor.name: f"const_fold_opt__{i}" for i, tensor in enumerate(shuffled.graph.initializer)
  }
  for node in shuffled.graph.node:
    node.input[:] = [renamed.get(name, name) for name in node.input]
  tensors = list(shuffled.graph.initializer)[::-1]
  for tensor in tensors:
    tensor.name = renamed[tensor.name]
  shuffled.graph.ClearField("initializer")
  shuffled.graph.initializer.extend(tensors)
  assert onnx_model.serialize(shuffled) != onnx_model.serialize(model)
  normalized = onnx_model.normalize(shuffled, "feature_vector")
  assert onnx_model.serialize(normalized) == onnx_model.serialize(model)


def test_bytes_are_the_same_in_a_fresh_process_with_one_thread_and_without_onednn(
  onnx_models, fresh_process_export
):
  fresh_dir, _ = fresh_process_export  # the export binary, every type of every format
  export_dir, models = onnx_models
  for model in models:
    relative = model.path[len(export_dir) :]
    assert _read(fresh_dir + relative) == _read(model.path), relative
    vectors = os.path.join(relative + ".test_data", "test_data_set_0")
    assert sorted(os.listdir(fresh_dir + vectors)) == sorted(os.listdir(export_dir + vectors))
    for name in ("input_0.pb", "output_0.pb"):
      path = os.path.join(vectors, name)
      assert _read(fresh_dir + path) == _read(export_dir + path), path


# --- the model card's snippet --------------------------------------------------------------
def test_the_model_cards_onnx_runtime_snippet_runs_on_the_file_it_names(onnx_models, tmp_path):
  variant = variants.by_name("mobilenet_v2_0.75_96")
  handle = variant.hub_handle("classification")
  entries = {
    model.model_type: {
      "path": f"{handle}/5{'' if model.model_type == 'float32' else '.int8'}.onnx",
      "bytes": model.size_bytes,
      "agreement": model.agreement.as_dict(),
    }
    for model in onnx_models[1]
  }
  card = model_card.render(variant, "classification", 5, onnx=entries)
  section = card[card.index("## ONNX models") :]
  start = section.index("```python\n") + len("```python\n")
  snippet = section[start : section.index("\n```", start)]
  assert "| int8 | `5.int8.onnx` |" in section and "test_data_set_0" in section
  shutil.copy(onnx_models[1][0].path, tmp_path / "5.onnx")
  run = subprocess.run(
    [sys.executable, "-c", snippet + "\nprint(logits.shape, logits.dtype)"],
    cwd=tmp_path,
    capture_output=True,
    text=True,
  )
  assert run.returncode == 0, run.stderr
  assert run.stdout == "(2, 1001) float32\n"


def test_the_kaggle_usage_lines_run_the_file_in_onnx_runtime(onnx_models, tmp_path):
  # kagglehub's download stands in for a directory holding the instance's file; the rest of
  # the lines run as a Kaggle user runs them.
  instance = tmp_path / "instance"
  instance.mkdir()
  name = "mobilenet_v2_075_96_classification_int8.onnx"
  shutil.copy(onnx_models[1][1].path, instance / name)
  (tmp_path / "kagglehub.py").write_text(
    f"def model_download(handle):\n  return {str(instance)!r}\n"
  )
  lines = registry.by_name("onnx").kaggle_usage("team/mobilenet-v2/onnx/075-96-int8", name, 96)
  run = subprocess.run(
    [sys.executable, "-c", "\n".join(lines) + "\nprint(result.shape, result.dtype)"],
    cwd=tmp_path,
    env=dict(os.environ, PYTHONPATH=str(tmp_path)),
    capture_output=True,
    text=True,
  )
  assert run.returncode == 0, run.stderr
  assert run.stdout == "(1, 1001) float32\n"


# --- what the export binary accepts --------------------------------------------------------
@pytest.mark.parametrize(
  "options,message",
  [
    (dict(onnx_types=("int8",)), r"^onnx_types needs onnx$"),
    (dict(onnx=True, onnx_types=("float16",)), r"^unknown onnx type float16; expected"),
    (dict(onnx=True, calibration_images="photos"), r"^calibration_images needs int8/uint8 in "),
  ],
)
def test_onnx_requests_are_checked_before_any_work(tmp_path, options, message):
  with pytest.raises(ValueError, match=message):
    beside.check_request(
      options_lib.ExportOptions(checkpoint_path="x", export_dir=str(tmp_path / "m"), **options)
    )


def test_calibration_images_calibrate_the_onnx_int8_model_too(tmp_path):
  beside.check_request(
    options_lib.ExportOptions(
      checkpoint_path="x",
      export_dir=str(tmp_path / "m"),
      onnx=True,
      onnx_types=("float32", "int8"),
      calibration_images="photos",
    )
  )
