"""TFLite Model Metadata in every LiteRT file, read back field by field and judged by MediaPipe
Tasks (the client that refused the bare files), for both module types and all four types.

The readers here are not the writer's: the metadata is read with the generated module of
`metadata_schema.fbs` that the `mediapipe` wheel ships, the model with TensorFlow's generated
`schema_py_generated`.
"""

import contextlib
import io
import pathlib
import re
import zipfile

import mediapipe as mp
from mediapipe.tasks import python as mp_tasks
from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_schema
from mediapipe.tasks.python import vision
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as model_schema

from export.base import probe_images
from export.core import images as images_lib
from export.core import labels as labels_lib
from export.formats import litert as litert_format
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import converter as litert
from export.formats.litert import flatbuffers as litert_flatbuffers
from export.formats.litert import metadata as litert_metadata
from export.formats.litert import metadata_reader as litert_metadata_reader
from export.formats.litert import network as litert_network
from export.publish import model_card
from export.runtime import classifier
from nets import variants

MODULE_TYPES = ("classification", "feature_vector")
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "litert.md"
# Lowest cosine of MediaPipe's embedding with the SavedModel's feature vector on the probes,
# measured on the seed-0 synthetic 0.75/96 module: float32 1.000000, float16 0.99997, int8
# and uint8 0.980 (mean 0.997): the int8 network's own agreement (docs/litert.md).
EMBEDDING_COSINE = {"float32": 0.9999, "float16": 0.9999, "int8": 0.97, "uint8": 0.97}


@pytest.fixture(scope="module")
def exports(exported_with_every_format):
  """{module type: ExportResult} of the session's 0.75/96 checkpoint with all four types."""
  return {module_type: exported_with_every_format(module_type) for module_type in MODULE_TYPES}


def _path(exports, module_type, model_type) -> str:
  return litert_format.path_beside(exports[module_type].export_dir, model_type)


def _read(path) -> bytes:
  return pathlib.Path(path).read_bytes()


def _subject(module_type, model_type) -> litert_metadata.Subject:
  return litert_metadata.Subject(module_type, model_type, 0.75, 96, 5)


def _metadata(model: bytes):
  """The ModelMetadata table of a model, read with the generated readers."""
  root = model_schema.Model.GetRootAs(model, 0)
  entries = [root.Metadata(i) for i in range(root.MetadataLength())]
  (entry,) = [entry for entry in entries if entry.Name() == b"TFLITE_METADATA"]
  content = root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
  assert metadata_schema.ModelMetadata.ModelMetadataBufferHasIdentifier(content, 0)
  return metadata_schema.ModelMetadata.GetRootAs(content, 0)


@pytest.fixture(scope="module")
def bare_classifiers(exports):
  """{type: the classifier's model as converted, before its metadata}, converted afresh."""
  values = exports["classification"].restored.values
  network = litert_network.fold(values, 0.75, "classification")
  ranges = litert_network.activation_ranges(network, litert_calibration.default_images(96))
  return {
    model_type: litert.convert(network, 96, model_type, ranges) for model_type in litert.TYPES
  }


# --- the fields --------------------------------------------------------------------------
@pytest.mark.parametrize("module_type", MODULE_TYPES)
@pytest.mark.parametrize("model_type", litert.TYPES)
def test_every_field_reads_back(exports, module_type, model_type):
  metadata = _metadata(_read(_path(exports, module_type, model_type)))
  assert metadata.Name() == f"google/imagenet/mobilenet_v2_075_96/{module_type}".encode()
  assert metadata.Version() == b"5"
  assert metadata.License() == b"Apache-2.0"
  assert metadata.Author() == litert_metadata.AUTHOR.encode()
  assert metadata.MinParserVersion() == b"1.0.0"
  description = metadata.Description().decode()
  assert "depth multiplier 0.75, 96x96" in description and f"LiteRT {model_type}" in description
  (subgraph,) = [metadata.SubgraphMetadata(i) for i in range(metadata.SubgraphMetadataLength())]
  assert (subgraph.InputTensorMetadataLength(), subgraph.OutputTensorMetadataLength()) == (1, 1)

  image = subgraph.InputTensorMetadata(0)
  assert image.Name() == b"image"
  content = image.Content()
  assert content.ContentPropertiesType() == metadata_schema.ContentProperties.ImageProperties
  properties = metadata_schema.ImageProperties()
  properties.Init(content.ContentProperties().Bytes, content.ContentProperties().Pos)
  assert properties.ColorSpace() == metadata_schema.ColorSpaceType.RGB
  (unit,) = [image.ProcessUnits(i) for i in range(image.ProcessUnitsLength())]
  assert unit.OptionsType() == metadata_schema.ProcessUnitOptions.NormalizationOptions
  normalization = metadata_schema.NormalizationOptions()
  normalization.Init(unit.Options().Bytes, unit.Options().Pos)
  assert list(normalization.MeanAsNumpy()) == [0.0]
  assert list(normalization.StdAsNumpy()) == [255.0]
  high = 255.0 if model_type == "uint8" else 1.0
  assert (list(image.Stats().MinAsNumpy()), list(image.Stats().MaxAsNumpy())) == ([0.0], [high])

  output = subgraph.OutputTensorMetadata(0)
  assert output.Content().ContentPropertiesType() == (
    metadata_schema.ContentProperties.FeatureProperties
  )
  if module_type == "classification":
    assert output.Name() == b"logits" and b"no softmax" in output.Description()
    (labels_file,) = [output.AssociatedFiles(i) for i in range(output.AssociatedFilesLength())]
    assert labels_file.Name() == b"ImageNetLabels.txt"
    assert labels_file.Type() == metadata_schema.AssociatedFileType.TENSOR_AXIS_LABELS
  else:
    assert output.Name() == b"feature_vector" and output.AssociatedFilesLength() == 0


@pytest.mark.parametrize("module_type", MODULE_TYPES)
@pytest.mark.parametrize("model_type", litert.TYPES)
def test_the_loader_reads_every_file_back_and_finds_nothing_to_refuse(
  exports, module_type, model_type
):
  # What classify acts on (tests/test_litert_metadata_read.py has the refusals).
  path = _path(exports, module_type, model_type)
  described = litert_metadata_reader.read(_read(path))
  assert (described.name, described.version) == (
    f"google/imagenet/mobilenet_v2_075_96/{module_type}",
    "5",
  )
  high = 255.0 if model_type == "uint8" else 1.0
  assert (described.mean, described.std, described.stats) == ((0.0,), (255.0,), ((0,), (high,)))
  assert described.color_space == "RGB"
  loaded = litert_format.FORMAT.load(path)
  if module_type == "classification":
    assert described.labels_file == "ImageNetLabels.txt"
    assert list(loaded.labels) == labels_lib.read_labels()
  else:
    assert described.labels_file is None and loaded.labels is None


def _per_type(text: str) -> dict:
  """{type: value} of a card's field given per type ("float32, int8: [0, 1]; uint8: ...")."""
  if "; " not in text and ": " not in text:
    return {kind: text for kind in litert.TYPES}
  found = {}
  for part in text.split("; "):
    kinds, value = part.split(": ", 1)
    found.update({kind: value for kind in kinds.split(", ")})
  return found


@pytest.mark.parametrize("module_type", MODULE_TYPES)
def test_the_model_card_lists_what_the_files_carry(exports, module_type):
  models = {
    model.model_type: {
      "path": model.path,
      "bytes": model.size_bytes,
      "agreement": model.agreement.as_dict(),
    }
    for model in exports[module_type].litert_models
  }
  card = model_card.render(variants.find(0.75, 96), module_type, 5, litert=models)
  table = card.split("| metadata | value |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
  rows = dict(line[2:-2].split(" | ", 1) for line in table.splitlines())
  tensors = _per_type(rows["input tensor"])
  for model_type in litert.TYPES:
    metadata = _metadata(_read(_path(exports, module_type, model_type)))
    assert (rows["name"], rows["version"]) == (metadata.Name().decode(), "5")
    assert (rows["author"], rows["licence"]) == (
      metadata.Author().decode(),
      metadata.License().decode(),
    )
    image = metadata.SubgraphMetadata(0).InputTensorMetadata(0)
    normalization = metadata_schema.NormalizationOptions()
    options = image.ProcessUnits(0).Options()
    normalization.Init(options.Bytes, options.Pos)
    (mean,), (std,) = normalization.MeanAsNumpy(), normalization.StdAsNumpy()
    assert rows["input normalization"] == (
      f"mean {mean:g}, std {std:g}: pixels 0-255 become [{(0 - mean) / std:g}, {(255 - mean) / std:g}]"
    )
    (low,), (high,) = image.Stats().MinAsNumpy(), image.Stats().MaxAsNumpy()
    assert f" in [{low:g}, {high:g}]" in tensors[model_type]
    output = metadata.SubgraphMetadata(0).OutputTensorMetadata(0)
    assert rows["output"] == f"`{output.Name().decode()}`"
    files = [
      output.AssociatedFiles(i).Name().decode() for i in range(output.AssociatedFilesLength())
    ]
    assert rows["labels"] == ("none" if not files else f"`{files[0]}`, packed in the file")


def test_the_metadata_names_the_exported_hub_version(exported):
  result = exported(version=4, tflite=True)
  assert _metadata(_read(litert_format.path_beside(result.export_dir))).Version() == b"4"


def test_a_network_without_a_released_checkpoint_is_named_by_its_tf_slim_name():
  subject = litert_metadata.Subject("feature_vector", "int8", 0.6, 100, 5)
  assert subject.handle == "mobilenet_v2_0.6_100/feature_vector"
  metadata = metadata_schema.ModelMetadata.GetRootAs(
    litert_flatbuffers.serialize(litert_metadata.describe(subject)), 0
  )
  assert metadata.Name() == b"mobilenet_v2_0.6_100/feature_vector"
  assert b"depth multiplier 0.6, 100x100" in metadata.Description()


def test_the_normalization_maps_pixels_to_what_each_file_takes(exports):
  # MediaPipe computes (pixel - mean) / std for a float input and feeds a uint8 input as is.
  pixels = np.arange(256, dtype=np.float32)
  to_input = (pixels - litert_metadata.NORMALIZATION_MEAN) / litert_metadata.NORMALIZATION_STD
  np.testing.assert_array_equal(to_input, probe_images.to_float(pixels.astype(np.uint8)))
  interpreter = litert.make_interpreter(_read(_path(exports, "classification", "uint8")))
  given = interpreter.get_input_details()[0]
  np.testing.assert_array_equal(litert.input_values(to_input, given), pixels.astype(np.uint8))


def test_labels_are_packed_as_an_uncompressed_zip_without_timestamps(exports):
  for model_type in litert.TYPES:
    model = _read(_path(exports, "classification", model_type))
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
      (info,) = archive.infolist()
      packed = archive.read(info).decode().splitlines()
    assert info.filename == "ImageNetLabels.txt"
    assert (info.compress_type, info.date_time) == (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0))
    assert model[info.header_offset : info.header_offset + 4] == b"PK\x03\x04"  # from the start
    assert packed == labels_lib.read_labels() and len(packed) == 1001
    assert packed[0] == "background"
  for model_type in litert.TYPES:
    assert not zipfile.is_zipfile(io.BytesIO(_read(_path(exports, "feature_vector", model_type))))


def test_the_zip_never_overwrites_model_bytes_that_look_like_a_zip():
  # An empty zip's end record can occur among weights; appending must not write over it.
  model = bytes(range(256)) * 4 + b"PK\x05\x06" + bytes(18)
  packed = litert_flatbuffers.append_zip(model, {"b.txt": b"2\n", "a.txt": b"1\n"})
  assert packed.startswith(model)
  with zipfile.ZipFile(io.BytesIO(packed)) as archive:
    assert [(i.filename, archive.read(i)) for i in archive.infolist()] == [
      ("a.txt", b"1\n"),
      ("b.txt", b"2\n"),
    ]


# --- the model is untouched --------------------------------------------------------------
def test_the_file_minus_its_metadata_is_the_converted_model_byte_for_byte(
  exports, bare_classifiers
):
  probes = probe_images.probe_batch(96)[1]
  for model_type, bare in bare_classifiers.items():
    written = _read(_path(exports, "classification", model_type))
    assert written == litert_metadata.attach(bare, _subject("classification", model_type))
    with zipfile.ZipFile(io.BytesIO(written)) as archive:
      zip_start = min(info.header_offset for info in archive.infolist())
    start = zip_start - (-len(bare) % 16) - len(bare)
    assert start % 16 == 0, model_type  # every alignment inside the old file holds
    assert written[start : start + len(bare)] == bare, model_type
    assert not any(written[start + len(bare) : zip_start]), model_type  # zero padding only
    # The new root refers to the old file's own tables: only a buffer and an entry are added.
    new, old = model_schema.Model.GetRootAs(written, 0), model_schema.Model.GetRootAs(bare, 0)
    assert (new.Version(), new.Description()) == (old.Version(), old.Description())
    assert new.SubgraphsLength() == old.SubgraphsLength() == 1
    assert new.Subgraphs(0)._tab.Pos == start + old.Subgraphs(0)._tab.Pos  # pylint: disable=protected-access
    for index in range(old.OperatorCodesLength()):
      assert new.OperatorCodes(index)._tab.Pos == start + old.OperatorCodes(index)._tab.Pos  # pylint: disable=protected-access
    assert new.BuffersLength() == old.BuffersLength() + 1
    for index in range(old.BuffersLength()):
      assert new.Buffers(index)._tab.Pos == start + old.Buffers(index)._tab.Pos  # pylint: disable=protected-access
    names = [new.Metadata(i).Name() for i in range(new.MetadataLength())]
    assert names == [old.Metadata(i).Name() for i in range(old.MetadataLength())] + [
      b"TFLITE_METADATA"
    ]
    np.testing.assert_array_equal(litert.run(written, probes), litert.run(bare, probes))


def test_attaching_is_reproducible_and_refuses_what_it_cannot_do(bare_classifiers):
  bare = bare_classifiers["int8"]
  subject = _subject("classification", "int8")
  with_metadata = litert_metadata.attach(bare, subject)
  assert litert_metadata.attach(bare, subject) == with_metadata
  with pytest.raises(ValueError, match="has a metadata entry 'TFLITE_METADATA' already"):
    litert_metadata.attach(with_metadata, subject)
  with pytest.raises(ValueError, match="not a TFLite model"):
    litert_metadata.attach(b"\0" * 64, subject)
  assert litert_flatbuffers.metadata_names(bare)[-1:] != [b"TFLITE_METADATA"]
  assert litert_flatbuffers.metadata_names(with_metadata)[-1] == b"TFLITE_METADATA"


def test_metadata_bytes_added(exports, bare_classifiers):
  # The figures of docs/litert.md: the metadata and the zipped labels, about 12.6 KB.
  for model_type, bare in bare_classifiers.items():
    added = len(_read(_path(exports, "classification", model_type))) - len(bare)
    labels_size = pathlib.Path(labels_lib.LABELS_FILE).stat().st_size
    assert labels_size < added < labels_size + 3000, model_type


# --- MediaPipe Tasks, the judge ----------------------------------------------------------
def _mp_image(pixels: np.ndarray) -> mp.Image:
  return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))


def _mp_scores(result) -> np.ndarray:
  scores = np.full(1001, np.nan, np.float32)
  for category in result.classifications[0].categories:
    scores[category.index] = category.score
  return scores


@pytest.mark.parametrize("model_type", litert.TYPES)
def test_mediapipe_classifies_every_type_as_we_do(exports, model_type):
  path = _path(exports, "classification", model_type)
  names, pixels = probe_images.probe_uint8(96)  # the model's own size: MediaPipe resizes nothing
  ours = classifier.load(path).logits(probe_images.to_float(pixels))
  labels = labels_lib.read_labels()
  options = vision.ImageClassifierOptions(
    base_options=mp_tasks.BaseOptions(model_asset_path=path), max_results=5
  )
  with vision.ImageClassifier.create_from_options(options) as mediapipe_classifier:
    for name, image, logits in zip(names, pixels, ours):
      categories = mediapipe_classifier.classify(_mp_image(image)).classifications[0].categories
      top = categories[0]
      # Tie rule: quantized logits can tie exactly. classify lists the lowest class index
      # first; MediaPipe lists one of the tied classes first, which one depending on
      # max_results. So MediaPipe's first must be one of the classes tied at our maximum.
      assert top.index in np.flatnonzero(logits == logits.max()), (model_type, name)
      top1 = classifier.top_predictions(logits, labels, 1)[0]
      assert top.score == pytest.approx(top1.logit, rel=1e-5, abs=1e-5), (model_type, name)
      assert [c.category_name for c in categories] == [labels[c.index] for c in categories]


def test_mediapipe_scores_are_the_raw_logits(exports):
  path = _path(exports, "classification", "float32")
  _, pixels = probe_images.probe_uint8(96)
  ours = litert.run(_read(path), probe_images.to_float(pixels))
  options = vision.ImageClassifierOptions(base_options=mp_tasks.BaseOptions(model_asset_path=path))
  with vision.ImageClassifier.create_from_options(options) as mediapipe_classifier:
    scores = np.stack([_mp_scores(mediapipe_classifier.classify(_mp_image(i))) for i in pixels])
  np.testing.assert_allclose(scores, ours, rtol=0, atol=1e-4)  # all 1001, not probabilities
  assert (scores.max(axis=1) > 1).all() and (scores < 0).any()


def test_mediapipe_names_the_classes_from_the_packed_labels(bare_classifiers, tmp_path):
  renamed = tmp_path / "ImageNetLabels.txt"
  renamed.write_text("".join(f"class {index:04d}\n" for index in range(1001)))
  path = tmp_path / "renamed.tflite"
  subject = _subject("classification", "float32")
  path.write_bytes(litert_metadata.attach(bare_classifiers["float32"], subject, str(renamed)))
  options = vision.ImageClassifierOptions(
    base_options=mp_tasks.BaseOptions(model_asset_path=str(path)), max_results=3
  )
  with vision.ImageClassifier.create_from_options(options) as mediapipe_classifier:
    image = probe_images.probe_uint8(96)[1][-1]
    categories = mediapipe_classifier.classify(_mp_image(image)).classifications[0].categories
  assert [c.category_name for c in categories] == [f"class {c.index:04d}" for c in categories]


@pytest.fixture(scope="module")
def saved_model_embeddings(exports):
  """The feature-vector SavedModel's outputs on the probes (loading it takes seconds)."""
  pixels = probe_images.probe_uint8(96)[1]
  return tf.saved_model.load(exports["feature_vector"].export_dir)(
    probe_images.to_float(pixels)
  ).numpy()


@pytest.mark.parametrize("model_type", litert.TYPES)
def test_mediapipe_embeds_like_the_saved_model(exports, saved_model_embeddings, model_type):
  _, pixels = probe_images.probe_uint8(96)
  to_float = probe_images.to_float
  reference = saved_model_embeddings
  options = vision.ImageEmbedderOptions(
    base_options=mp_tasks.BaseOptions(model_asset_path=_path(exports, "feature_vector", model_type))
  )
  with vision.ImageEmbedder.create_from_options(options) as embedder:
    embeddings = [embedder.embed(_mp_image(image)).embeddings[0].embedding for image in pixels]
  cosines = [
    float(np.dot(e, r) / (np.linalg.norm(e) * np.linalg.norm(r)))
    for e, r in zip(embeddings, reference)
  ]
  assert min(cosines) >= EMBEDDING_COSINE[model_type], (model_type, min(cosines))
  # And what LiteRT computes from the same file and pixels, to float32 rounding.
  ours = litert.run(_read(_path(exports, "feature_vector", model_type)), to_float(pixels))
  for embedding, own in zip(embeddings, ours):
    np.testing.assert_allclose(embedding, own, rtol=0, atol=1e-4 * (1 + np.abs(own).max()))


def test_mediapipe_stretches_a_larger_picture_bilinearly_without_antialiasing(exports):
  # A 384 x 256 picture: MediaPipe stretches it to 96 x 96 with plain bilinear sampling,
  # close to TensorFlow's resize with antialias=False; export.classify antialiases. On a
  # texture near the sampling rate (the checkerboard) the two disagree in top-1.
  path = _path(exports, "classification", "float32")
  model = _read(path)
  options = vision.ImageClassifierOptions(base_options=mp_tasks.BaseOptions(model_asset_path=path))
  with vision.ImageClassifier.create_from_options(options) as mediapipe_classifier:
    for kind in ("checkerboard", "landscape"):
      picture = probe_images.quantize(probe_images.synthetic_photo(kind, 384, 0))[:256]
      scores = _mp_scores(mediapipe_classifier.classify(_mp_image(picture)))
      plain = tf.image.resize(picture, (96, 96), method="bilinear", antialias=False) / 255
      ours = images_lib.preprocess(tf.constant(picture), (96, 96)).numpy()
      plain_logits, our_logits = (
        litert.run(model, plain.numpy()[None])[0],
        litert.run(model, ours[None])[0],
      )
      assert _cosine(scores, plain_logits) > 0.999, kind
      if kind == "checkerboard":
        assert _cosine(scores, our_logits) < 0.99
        assert np.argmax(scores) == np.argmax(plain_logits) != np.argmax(our_logits)


def _cosine(a, b) -> float:
  return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_documented_mediapipe_snippet_runs(exports, tmp_path):
  (snippet,) = [
    match.group(1)
    for match in re.finditer(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    if "ImageClassifierOptions" in match.group(1)
  ]
  path = _path(exports, "classification", "float32")
  photo = images_lib.write_example_image(str(tmp_path / "photo.png"), size=96)
  code = re.sub(r'MODEL = "[^"]*"', f"MODEL = {path!r}", snippet)
  code = re.sub(r'PHOTO = "[^"]*"', f"PHOTO = {photo!r}", code)
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    exec(compile(code, str(DOCS), "exec"), {})  # pylint: disable=exec-used
  lines = printed.getvalue().splitlines()
  (expected,) = classifier.classify(path, [photo], top_k=1)
  top = expected.predictions[0]
  assert len(lines) == 5 and lines[0].startswith(f"{top.class_index} {top.label} ")
