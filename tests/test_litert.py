"""LiteRT models beside the SavedModel (--tflite, --tflite_types): four types, each checked.

One export writes all four types from the seed-0 synthetic checkpoint; the tests read it (and
its feature-vector twin). The same-bytes and quiet-binary tests read the run's one export by
the binary in a fresh process (`fresh_process_export`, shared with test_onnx and test_tfjs).
"""
# The tests look at each model's ops through the LiteRT interpreter's _get_ops_details.
# pylint: disable=protected-access

import hashlib
import os

from ai_edge_litert import interpreter as litert_interpreter
import binaries
import numpy as np
import pytest
import tensorflow as tf

from export.base import probe_images
from export.core import images as images_lib
from export.core import labels as labels_lib
from export.core import options as options_lib
from export.formats import agreement as litert_agreement
from export.formats import beside
from export.formats import litert as litert_format
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import converter as litert
from export.formats.litert import metadata as litert_metadata
from export.formats.litert import network as litert_network
from export.formats.saved_model import exporter as export_lib
from export.runtime import classifier

ALL_FILES = [
  "module",
  "module.float16.tflite",
  "module.int8.tflite",
  "module.tflite",
  "module.uint8.tflite",
]
SAVED_MODEL_FILES = ["assets", "fingerprint.pb", "saved_model.pb", "variables"]


@pytest.fixture(scope="module")
def litert_export(exported_with_every_format):
  """The session's 0.75/96 classifier export with the four LiteRT types (and the other formats)
  beside it."""
  return exported_with_every_format()


@pytest.fixture(scope="module")
def saved_model(litert_export):
  """The export's SavedModel, loaded once for the module."""
  return tf.saved_model.load(litert_export.export_dir)


def _model(result, model_type) -> bytes:
  with open(litert_format.path_beside(result.export_dir, model_type), "rb") as model:
    return model.read()


def _export(checkpoint_path, parent, **kwargs):
  return export_lib.export_saved_model(
    options_lib.ExportOptions(
      checkpoint_path=checkpoint_path, export_dir=str(parent / "module"), **kwargs
    )
  )


# --- what is written ---------------------------------------------------------------------
def test_each_type_is_written_beside_the_saved_model(litert_export):
  parent = os.path.dirname(litert_export.export_dir)
  # The SavedModel and the LiteRT models (the other formats' files are their tests' to check).
  listed = [name for name in os.listdir(parent) if name == "module" or name.endswith(".tflite")]
  assert sorted(listed) == ALL_FILES
  assert sorted(os.listdir(litert_export.export_dir)) == SAVED_MODEL_FILES
  assert litert_format.path_beside(litert_export.export_dir + os.sep) == os.path.join(
    parent, "module.tflite"
  )
  umask = os.umask(0)
  os.umask(umask)
  for written in litert_export.litert_models:
    assert written.path == litert_format.path_beside(litert_export.export_dir, written.model_type)
    content = _model(litert_export, written.model_type)
    assert (written.size_bytes, written.sha256) == (
      len(content),
      hashlib.sha256(content).hexdigest(),
    )
    assert os.stat(written.path).st_mode & 0o777 == 0o666 & ~umask
  assert [written.model_type for written in litert_export.litert_models] == list(litert.TYPES)


def test_without_the_option_nothing_extra_is_written(exported):
  result = exported()  # the session's plain export, alone in its directory
  assert os.listdir(os.path.dirname(result.export_dir)) == ["module"]
  assert result.litert_models == []


def test_full_integer_models_are_at_most_35_percent_of_float32(litert_export):
  sizes = {written.model_type: written.size_bytes for written in litert_export.litert_models}
  assert sizes["int8"] <= 0.35 * sizes["float32"]
  assert sizes["uint8"] <= 0.35 * sizes["float32"]
  assert sizes["float16"] <= 0.51 * sizes["float32"]


# --- inputs, outputs and ops -------------------------------------------------------------
def _io(model: bytes):
  interpreter = litert.make_interpreter(model)
  return interpreter.get_input_details()[0], interpreter.get_output_details()[0]


def _ops_and_activation_types(model: bytes):
  """(op names, {tensor dtype of every op output}) of the model's single subgraph."""
  interpreter = litert.make_interpreter(model)
  ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
  details = interpreter.get_tensor_details()
  return ops, details


@pytest.mark.parametrize("model_type", ["float32", "float16", "int8"])
def test_float_io_models_take_images_in_0_1_and_give_float_logits(litert_export, model_type):
  given, wanted = _io(_model(litert_export, model_type))
  assert (given["dtype"], list(given["shape"])) == (np.float32, [1, 96, 96, 3])
  assert (wanted["dtype"], list(wanted["shape"])) == (np.float32, [1, 1001])


def test_uint8_model_takes_raw_pixels_with_scale_1_over_255(litert_export):
  given, wanted = _io(_model(litert_export, "uint8"))
  assert given["dtype"] == np.uint8
  assert given["quantization"] == (np.float32(1 / 255), 0)
  assert wanted["dtype"] == np.uint8
  scale, zero_point = wanted["quantization"]
  assert scale > 0 and 0 <= zero_point <= 255


def test_uint8_on_raw_pixels_gives_the_int8_models_logits(litert_export):
  _, pixels = probe_images.probe_uint8(96)
  interpreter = litert.make_interpreter(_model(litert_export, "uint8"))
  given, wanted = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
  scale, zero_point = wanted["quantization"]
  dequantized = []
  for image in pixels:
    interpreter.set_tensor(given["index"], image[np.newaxis])
    interpreter.invoke()
    levels = interpreter.get_tensor(wanted["index"])[0].astype(np.float32)
    dequantized.append((levels - zero_point) * np.float32(scale))
  int8 = litert.run(_model(litert_export, "int8"), probe_images.to_float(pixels))
  np.testing.assert_array_equal(np.stack(dequantized), int8)


def test_float16_model_stores_float16_weights(litert_export):
  ops, details = _ops_and_activation_types(_model(litert_export, "float16"))
  weights = [details[op["inputs"][0]] for op in ops if op["op_name"] == "DEQUANTIZE"]
  assert weights and all(tensor["dtype"] == np.float16 for tensor in weights)
  assert all(details[op["outputs"][0]]["dtype"] == np.float32 for op in ops)


@pytest.mark.parametrize("model_type", ["int8", "uint8"])
def test_full_integer_models_compute_in_int8_between_their_io_conversions(
  litert_export, model_type
):
  ops, details = _ops_and_activation_types(_model(litert_export, model_type))
  names = [op["op_name"] for op in ops]
  assert names[0] == "QUANTIZE" and names[-1] == (
    "DEQUANTIZE" if model_type == "int8" else "QUANTIZE"
  )
  inner = ops[1:-1]
  assert "DEQUANTIZE" not in [op["op_name"] for op in inner]
  assert {details[op["outputs"][0]]["dtype"] for op in inner} == {np.int8}
  assert {op["op_name"] for op in inner} == {
    "MUL",
    "SUB",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "ADD",
    "MEAN",
    "FULLY_CONNECTED",
  }


# --- agreement ---------------------------------------------------------------------------
def test_every_written_model_met_its_threshold(litert_export):
  for written in litert_export.litert_models:
    agreement = written.agreement
    assert agreement.passed and agreement.images == 16, written.model_type
    assert agreement.threshold == litert_format.THRESHOLDS[written.model_type]


@pytest.mark.parametrize("model_type", ["float32", "float16"])
def test_float_models_agree_elementwise_on_unseen_photos(litert_export, saved_model, model_type):
  relative = litert_format.THRESHOLDS[model_type].max_relative_difference
  images = np.stack(
    [probe_images.synthetic_photo(kind, 96, seed=99) for kind in probe_images.PHOTO_KINDS[:3]]
  )
  want = saved_model(tf.constant(images)).numpy()
  got = litert.run(_model(litert_export, model_type), images, num_threads=2)
  np.testing.assert_allclose(got, want, rtol=0, atol=relative * (1 + np.abs(want).max()))


def test_int8_model_agrees_in_direction_on_unseen_photos(litert_export, saved_model):
  images = np.stack(
    [probe_images.synthetic_photo(kind, 96, seed=99) for kind in probe_images.PHOTO_KINDS]
  )
  want = saved_model(tf.constant(images)).numpy()
  got = litert.run(_model(litert_export, "int8"), images)
  cosines = litert_agreement.cosine_similarities(got.astype(np.float64), want.astype(np.float64))
  assert cosines.min() >= litert_format.FULL_INTEGER.min_cosine


def test_feature_vector_int8_model_is_checked_by_cosine(exported_with_every_format):
  result = exported_with_every_format("feature_vector")
  (written,) = [model for model in result.litert_models if model.model_type == "int8"]
  assert _io(_model(result, "int8"))[1]["shape"].tolist() == [1, 1280]
  assert written.agreement.top1_agreement is None and written.agreement.top5_overlap is None
  assert written.agreement.min_cosine >= litert_format.FULL_INTEGER.min_cosine


@pytest.mark.slow
def test_a_model_short_of_its_threshold_is_refused_and_nothing_is_written(
  synthetic_checkpoint_075_96, tmp_path, monkeypatch
):
  # A tightened bound (the measured worst cosine is 0.958): the int8 model falls short.
  monkeypatch.setitem(
    litert_format.THRESHOLDS, "int8", litert_agreement.Threshold(min_cosine=0.999)
  )
  with pytest.raises(
    litert_agreement.AgreementError,
    match=r"module\.int8\.tflite: the int8 model does "
    r"not agree with the SavedModel on the 16 probe images: min cosine "
    r"similarity 0\.9\d+ < 0\.999; not written$",
  ) as raised:
    _export(synthetic_checkpoint_075_96, tmp_path, tflite=True, tflite_types=("float32", "int8"))
  assert "\n" not in str(raised.value)
  # All or nothing: neither the SavedModel nor the float32 model that passed is placed.
  assert os.listdir(tmp_path) == []


def test_agreement_figures_and_shortfalls_are_exact():
  # Norms 5 and 2: every cosine is exact. Row 2 swaps the top two classes.
  want = np.array([[4.0, 3.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
  got = np.array([[4.0, 3.0, 0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
  agreement = litert_agreement.measure(
    "int8",
    got,
    want,
    "classification",
    litert_agreement.Threshold(min_cosine=0.5, min_mean_cosine=0.6, min_top1_agreement=0.75),
  )
  assert (agreement.min_cosine, agreement.mean_cosine) == (0.0, 0.5)
  assert (agreement.top1_agreement, agreement.top5_overlap) == (0.5, 1.0)
  assert (agreement.max_abs_difference, agreement.max_relative_difference) == (2.0, 0.4)
  assert agreement.shortfalls == (
    "min cosine similarity 0 < 0.5",
    "mean cosine similarity 0.5 < 0.6",
    "top-1 agreement 0.5 < 0.75",
  )


# --- calibration images ------------------------------------------------------------------
def test_an_empty_calibration_directory_is_refused_before_any_work(
  synthetic_checkpoint_075_96, tmp_path
):
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "notes.txt").write_text("not a picture")
  with pytest.raises(litert_calibration.CalibrationError, match=f"^{empty}: no calibration images"):
    _export(
      synthetic_checkpoint_075_96,
      tmp_path,
      tflite=True,
      tflite_types=("int8",),
      calibration_images=str(empty),
    )
  assert sorted(os.listdir(tmp_path)) == ["empty"]


def test_a_missing_calibration_directory_or_a_file_given_for_it_is_said_so():
  # Fast: the images are read before any work; this is what the export reports.
  with pytest.raises(litert_calibration.CalibrationError, match=r"^/nowhere: calibration image "):
    litert_calibration.image_files("/nowhere")
  with pytest.raises(litert_calibration.CalibrationError, match=f"^{__file__}: not a directory"):
    litert_calibration.image_files(__file__)


def test_an_unreadable_calibration_image_is_named_before_any_work(
  synthetic_checkpoint_075_96, tmp_path
):
  photos = tmp_path / "photos"
  images_lib.write_example_image(str(photos / "a.png"), size=120)
  (photos / "b.jpg").write_bytes(b"\xff\xd8 truncated")
  parent = tmp_path / "out"
  with pytest.raises(
    litert_calibration.CalibrationError,
    match=f"^calibration image {photos / 'b.jpg'}: not an image",
  ):
    _export(
      synthetic_checkpoint_075_96,
      parent,
      tflite=True,
      tflite_types=("uint8",),
      calibration_images=str(photos),
    )
  assert not parent.exists()


def test_calibration_photos_are_prepared_as_classify_prepares_them(tmp_path):
  paths = [
    images_lib.write_example_image(str(tmp_path / name), size=150, kind=kind)
    for name, kind in (("b.jpg", "rings"), ("a.png", "discs"))
  ]
  prepared = litert_calibration.images_from_directory(str(tmp_path), 96)
  want = [
    images_lib.preprocess(images_lib.decode_image_file(path), (96, 96)).numpy()
    for path in sorted(paths)
  ]
  np.testing.assert_array_equal(prepared, np.stack(want))


def test_default_calibration_images_are_not_the_probe_images():
  generated = litert_calibration.default_images(32)
  assert generated.shape == (7 * len(litert_calibration.CALIBRATION_SEEDS), 32, 32, 3)
  _, probes = probe_images.probe_batch(32)
  assert not any(np.array_equal(image, probe) for image in generated for probe in probes)


# --- options -----------------------------------------------------------------------------
def test_types_come_in_a_fixed_order_and_unknown_ones_are_refused():
  assert beside.check_types(litert_format.FORMAT, ["uint8", "float32"]) == ("float32", "uint8")
  with pytest.raises(
    ValueError, match=r"^unknown tflite type int4; expected some of float32,float16,int8,uint8$"
  ):
    beside.check_types(litert_format.FORMAT, ["int4"])


@pytest.mark.parametrize(
  "options,message",
  [
    (dict(tflite_types=("int8",)), r"^tflite_types needs tflite$"),
    (
      dict(tflite=True, tflite_types=("float32",), calibration_images="photos"),
      r"^calibration_images needs int8/uint8 in tflite_types or int8 in onnx_types$",
    ),
    (dict(tflite=True, tflite_types=("bfloat16",)), r"^unknown tflite type bfloat16; expected"),
    (dict(tflite=True, tflite_types=()), r"^no tflite type selected; expected"),
  ],
)
def test_inconsistent_options_are_refused_before_any_work(tmp_path, options, message):
  with pytest.raises(ValueError, match=message):  # usage errors: exit 2 in the binary
    _export("unused.ckpt", tmp_path, **options)
  assert os.listdir(tmp_path) == []


# --- determinism -------------------------------------------------------------------------
def test_bytes_are_the_same_in_a_fresh_process_with_one_thread_and_without_onednn(
  litert_export, fresh_process_export
):
  fresh_dir, _ = fresh_process_export  # the export binary, every type of every format
  for written in litert_export.litert_models:
    with open(litert_format.path_beside(fresh_dir, written.model_type), "rb") as model:
      assert hashlib.sha256(model.read()).hexdigest() == written.sha256, written.model_type


def test_bytes_are_the_same_when_converted_again_in_the_process(litert_export):
  network = litert_network.fold(litert_export.restored.values, 0.75, "classification")
  ranges = litert_network.activation_ranges(network, litert_calibration.default_images(96))
  for written in litert_export.litert_models:
    model = litert.convert(network, 96, written.model_type, ranges)
    subject = litert_metadata.Subject("classification", written.model_type, 0.75, 96, 5)
    model = litert_metadata.attach(model, subject)
    assert hashlib.sha256(model).hexdigest() == written.sha256, written.model_type


def test_activation_ranges_are_the_ranges_the_float_model_computes(litert_export):
  # The ranges are assigned to the model's tensors by position: each must be the range that
  # tensor takes when the float32 model runs, up to float32 rounding.
  network = litert_network.fold(litert_export.restored.values, 0.75, "classification")
  images = litert_calibration.default_images(96, seeds=[1])
  ranges = litert_network.activation_ranges(network, images)
  resolver = litert_interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
  interpreter = litert_interpreter.Interpreter(
    model_content=_model(litert_export, "float32"),
    experimental_preserve_all_tensors=True,
    experimental_op_resolver_type=resolver,
  )
  interpreter.allocate_tensors()
  given = interpreter.get_input_details()[0]["index"]
  tensors = [given] + [op["outputs"][0] for op in interpreter._get_ops_details()]
  found = np.full((len(tensors), 2), [np.inf, -np.inf])
  for image in images:
    interpreter.set_tensor(given, image[np.newaxis])
    interpreter.invoke()
    for row, tensor in enumerate(tensors):
      values = interpreter.get_tensor(tensor)
      found[row] = min(found[row][0], values.min()), max(found[row][1], values.max())
  assert len(ranges) == len(tensors)
  tolerance = 1e-4 * (1 + np.abs(ranges).max())
  np.testing.assert_allclose(found[3:], ranges[3:], rtol=0, atol=tolerance)
  np.testing.assert_array_equal(ranges[:3], [[0, 1], [0, 2], [-1, 1]])  # by definition


def test_activation_ranges_do_not_depend_on_batches_threads_or_order(litert_export):
  network = litert_network.fold(litert_export.restored.values, 0.75, "classification")
  images = litert_calibration.default_images(96, seeds=[1])
  ranges = litert_network.activation_ranges(network, images, batch_size=1, workers=2)
  for batch_size, workers, order in ((7, 1, slice(None)), (3, 2, slice(None, None, -1))):
    other = litert_network.activation_ranges(network, images[order], batch_size, workers)
    np.testing.assert_array_equal(other.view(np.uint64), ranges.view(np.uint64))
  assert not np.signbit(ranges[ranges == 0]).any()  # a zero endpoint is +0, whichever was met


def test_the_feature_vector_shares_the_classifiers_ranges(litert_export):
  # What lets one calibration serve both module types of a checkpoint: a prefix, bit for bit.
  images = litert_calibration.default_images(96, seeds=[1])
  ranges = {
    module_type: litert_network.activation_ranges(
      litert_network.fold(litert_export.restored.values, 0.75, module_type), images
    )
    for module_type in ("classification", "feature_vector")
  }
  shared = ranges["classification"][: len(ranges["feature_vector"])]
  assert len(ranges["classification"]) == len(ranges["feature_vector"]) + 1  # the logits'
  np.testing.assert_array_equal(shared.view(np.uint64), ranges["feature_vector"].view(np.uint64))


def test_classify_runs_every_type_like_the_saved_model(litert_export, tmp_path):
  photo = images_lib.write_example_image(str(tmp_path / "photo.png"), size=150)
  (reference,) = classifier.classify(litert_export.export_dir, [photo])
  want = [p.class_index for p in reference.predictions]
  labels = labels_lib.read_labels()  # classify reads the package's, which a .tflite packs
  for model_type in litert.TYPES:
    (result,) = classifier.classify(
      litert_format.path_beside(litert_export.export_dir, model_type), [photo]
    )
    got = [p.class_index for p in result.predictions]
    assert result.input_size == (96, 96) and len(got) == 5, model_type
    assert [p.label for p in result.predictions] == [labels[i] for i in got], model_type
    if model_type in ("float32", "float16"):
      assert got == want, model_type
    else:  # a different function (256 levels per activation): the same classes, near the top
      assert len(set(got) & set(want)) >= 3, model_type


# --- the binaries -------------------------------------------------------------------------
# What LiteRT's native code prints on every conversion and interpreter: shown with -v only.
_LITERT_NOTICES = (
  "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
  "fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, "
  "output_inference_type: FLOAT32",
)


def test_the_quiet_filter_drops_exactly_litert_notices():
  from export import cli  # pylint: disable=g-import-not-at-top

  uint8 = _LITERT_NOTICES[1].replace("FLOAT32", "UINT8")
  for line in (*_LITERT_NOTICES, uint8):
    assert cli._NATIVE_NOISE.match(line.encode() + b"\n"), line
  for line in (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU. And something else",
    "ERROR: fully_quantize: 0, inference_type: 6",
    "fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, failed",
  ):
    assert not cli._NATIVE_NOISE.match(line.encode() + b"\n"), line


@pytest.mark.slow
def test_the_binaries_keep_litert_notices_for_verbose_runs(fresh_process_export, tmp_path):
  # The export binary converted and checked every type (so every notice was printed): quiet.
  export_dir, export = fresh_process_export
  assert export.returncode == 0, export.stderr
  assert export.stderr == ""
  listed = os.listdir(os.path.dirname(export_dir))
  assert sorted(name for name in listed if name.endswith(".tflite")) == ALL_FILES[1:]
  photo = images_lib.write_example_image(str(tmp_path / "photo.png"), size=150)
  runs = {
    verbosity: binaries.start(
      "export.classify", f"--export_dir={export_dir}.int8.tflite", *verbosity, photo
    )
    for verbosity in ((), ("-v", "1"))
  }
  (quiet_out, quiet_err), (loud_out, loud_err) = (p.communicate(timeout=300) for p in runs.values())
  assert [p.returncode for p in runs.values()] == [0, 0]
  assert quiet_err == "" and quiet_out == loud_out
  assert _LITERT_NOTICES[0] in loud_err.splitlines()
