"""The Kaggle mapping: handles, slugs, version numbers and notes that users will type and see.

The expected handles are written out by hand, in the spelling Kaggle's own MobileNet V2
instances use (`google/mobilenet-v2/tensorFlow2/100-224-feature-vector`).
"""

import pytest

from export.base import versions
from export.kaggle import mapping
from nets import variants

V075_96 = variants.by_name("mobilenet_v2_0.75_96")
V100_224 = variants.by_name("mobilenet_v2_1.0_224")
V140_224 = variants.by_name("mobilenet_v2_1.4_224")
V035_128 = variants.by_name("mobilenet_v2_0.35_128")


def test_hub_versions_4_and_5_are_kaggle_versions_1_and_2_of_one_tensorflow2_instance():
  four = mapping.target(V075_96, "classification", 4, "saved_model", "my-team")
  five = mapping.target(V075_96, "classification", 5, "saved_model", "my-team")
  assert four.versioned_handle == "my-team/mobilenet-v2/tensorFlow2/075-96-classification/1"
  assert five.versioned_handle == "my-team/mobilenet-v2/tensorFlow2/075-96-classification/2"


@pytest.mark.parametrize(
  "variant, module_type, expected",
  [
    (V100_224, "feature_vector", "100-224-feature-vector"),
    (V035_128, "classification", "035-128-classification"),
    (V140_224, "classification", "140-224-classification"),
  ],
)
def test_variation_slugs_follow_kaggles_spelling(variant, module_type, expected):
  assert mapping.variation_slug(variant, module_type, "saved_model") == expected


def test_litert_types_are_tflite_instances_of_the_latest_hub_version():
  handles = {
    kind: mapping.target(V075_96, "feature_vector", 5, f"litert_{kind}", "t", "m").versioned_handle
    for kind in ("float32", "float16", "int8", "uint8")
  }
  assert handles == {
    "float32": "t/m/tfLite/075-96-feature-vector/1",
    "float16": "t/m/tfLite/075-96-feature-vector-fp16/1",
    "int8": "t/m/tfLite/075-96-feature-vector-int8/1",
    "uint8": "t/m/tfLite/075-96-feature-vector-uint8/1",
  }
  assert mapping.target(V075_96, "feature_vector", 4, "litert_int8", "t") is None


def test_tfjs_types_are_tfjs_instances_of_the_latest_hub_version():
  assert mapping.select_formats(["tfjs"]) == ("tfjs_float32", "tfjs_float16", "tfjs_uint8")
  handles = [
    mapping.target(V075_96, "classification", 5, name, "t", "m").versioned_handle
    for name in mapping.select_formats(["tfjs"])
  ]
  assert handles == [
    "t/m/tfJs/075-96-classification/1",
    "t/m/tfJs/075-96-classification-fp16/1",
    "t/m/tfJs/075-96-classification-uint8/1",
  ]
  assert mapping.target(V075_96, "classification", 4, "tfjs_float32", "t") is None
  assert mapping.version_notes(V075_96, "classification", 5, "tfjs_uint8") == (
    "TF.js graph model, uint8 weights converted from TF Hub module "
    "google/imagenet/mobilenet_v2_075_96/classification/5."
  )


def test_onnx_types_are_onnx_instances_of_the_latest_hub_version():
  handles = {
    kind: mapping.target(V075_96, "classification", 5, f"onnx_{kind}", "t", "m").versioned_handle
    for kind in ("float32", "int8")
  }
  assert handles == {
    "float32": "t/m/onnx/075-96-classification/1",
    "int8": "t/m/onnx/075-96-classification-int8/1",
  }
  assert mapping.target(V075_96, "classification", 4, "onnx_float32", "t") is None
  assert mapping.select_formats(["onnx"]) == ("onnx_float32", "onnx_int8")
  assert (
    mapping.file_name(V075_96, "feature_vector", "onnx_int8")
    == "mobilenet_v2_075_96_feature_vector_int8.onnx"
  )


def test_keras_files_have_no_hub_version():
  keras = mapping.target(V075_96, "classification", None, "keras", "t")
  assert keras.versioned_handle == "t/mobilenet-v2/keras/075-96-classification/1"
  with pytest.raises(ValueError, match="no hub version"):
    mapping.target(V075_96, "classification", 5, "keras", "t")


def test_unproduced_hub_versions_and_bad_slugs_are_refused():
  with pytest.raises(ValueError, match="hub versions"):
    mapping.target(V075_96, "classification", 3, "saved_model", "t")
  with pytest.raises(ValueError, match=r"^'MobileNet V2' is not a model slug"):
    mapping.target(V075_96, "classification", 5, "saved_model", "t", "MobileNet V2")
  with pytest.raises(ValueError, match=r"^'a/b' is not a Kaggle user or organization slug"):
    mapping.target(V075_96, "classification", 5, "saved_model", "a/b")


def test_version_notes_are_the_hub_versions_changelog_entry():
  notes = mapping.version_notes(V075_96, "classification", 5, "saved_model")
  assert notes.startswith("TF Hub module google/imagenet/mobilenet_v2_075_96/classification/5.")
  for change in versions.get(5).changes:
    assert change in notes
  assert versions.get(4).changes[0] not in notes


def test_formats_are_selected_with_shorthands_in_table_order():
  assert mapping.select_formats(["keras", "litert"]) == (
    "litert_float32",
    "litert_float16",
    "litert_int8",
    "litert_uint8",
    "keras",
  )
  assert mapping.select_formats(["all"]) == mapping.FORMATS
  with pytest.raises(ValueError, match="unknown format 'coreml'"):
    mapping.select_formats(["saved_model", "coreml"])
  with pytest.raises(ValueError, match=r"^no formats selected$"):
    mapping.select_formats([])


def test_single_files_are_named_after_the_module():
  assert (
    mapping.file_name(V075_96, "classification", "litert_int8")
    == "mobilenet_v2_075_96_classification_int8.tflite"
  )
  assert (
    mapping.file_name(V075_96, "classification", "litert_float32")
    == "mobilenet_v2_075_96_classification.tflite"
  )
  assert (
    mapping.file_name(V075_96, "feature_vector", "keras")
    == "mobilenet_v2_075_96_feature_vector.keras"
  )
