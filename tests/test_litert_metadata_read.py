"""A LiteRT file's metadata as classify and verify read it: the packed labels name the classes,
and metadata that contradicts the model is refused in one line naming the file and the field.

Every file here is written by the project's own writer (`litert_metadata.attach`) with one
parameter changed, except the corrupt one.
"""

import pathlib

import numpy as np
import pytest

from export import classify
from export.core import images as images_lib
from export.core import labels as labels_lib
from export.formats.litert import converter as litert
from export.formats.litert import flatbuffers as litert_flatbuffers
from export.formats.litert import metadata as litert_metadata
from export.formats.litert import metadata_reader
from export.formats.litert import network as litert_network
from export.runtime import classifier
from export.verification import verifier
from nets import variants

SUBJECT = litert_metadata.Subject("classification", "float32", 0.75, 96, 5)
SPEC = variants.ModelSpec(0.75, 96, "classification")
GOLDEN = str(
  pathlib.Path(__file__).parent / "golden" / "mobilenet_v2_0.75_96_classification_seed0.npz"
)


@pytest.fixture(scope="module")
def bare(exported):
  """The float32 classifier as converted, before its metadata."""
  values = exported().restored.values  # the plain export: only its weights are read
  return litert.convert(litert_network.fold(values, 0.75, "classification"), 96, "float32")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  return images_lib.write_example_image(str(tmp_path_factory.mktemp("photo") / "p.png"), size=96)


def _labels_file(directory: pathlib.Path, lines: list) -> str:
  path = directory / labels_lib.LABELS_FILE_NAME
  path.write_text("".join(f"{line}\n" for line in lines))
  return str(path)


def _refusal(path: str) -> str:
  with pytest.raises(classifier.ClassifyError) as raised:
    classifier.load(path)
  message = str(raised.value)
  assert "\n" not in message and message.startswith(f"{path}: ")
  return message


def test_classify_prints_the_labels_packed_in_the_file(bare, photo, tmp_path, capsys):
  own = _labels_file(tmp_path, [f"packed class {index:04d}" for index in range(1001)])
  path = tmp_path / "own_labels.tflite"
  path.write_bytes(litert_metadata.attach(bare, SUBJECT, own))
  assert classify.execute(classify.Options(str(path), (photo,), top_k=3)) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 4
  for line in lines[1:]:  # "  1  0.0123  packed class 0651 (class 651)"
    index = int(line.rsplit("(class ", 1)[1].rstrip(")"))
    assert line.split("  ")[3] == f"packed class {index:04d} (class {index})"


def test_a_bare_file_still_classifies_with_the_projects_labels(bare, photo, tmp_path):
  path = tmp_path / "bare.tflite"
  path.write_bytes(bare)
  assert metadata_reader.read(bare) is None
  assert classifier.load(str(path)).labels == labels_lib.read_labels()
  (result,) = classifier.classify(str(path), [photo], top_k=1)
  top = result.predictions[0]
  assert top.label == labels_lib.read_labels()[top.class_index]


@pytest.mark.parametrize(
  "mean,std,found",
  [
    (127.5, 127.5, "found mean [127.5] and std [127.5], which maps pixels 0..255 to [-1, 1]"),
    (0.0, 1.0, "found mean [0] and std [1], which maps pixels 0..255 to [0, 255]"),
  ],
)
def test_classify_and_verify_refuse_another_normalization(
  bare, tmp_path, monkeypatch, mean, std, found
):
  path = str(tmp_path / "normalized.tflite")
  with monkeypatch.context() as patched:
    patched.setattr(litert_metadata, "NORMALIZATION_MEAN", mean)
    patched.setattr(litert_metadata, "NORMALIZATION_STD", std)
    pathlib.Path(path).write_bytes(litert_metadata.attach(bare, SUBJECT))
  message = (
    f"{path}: its metadata contradicts the model: input NormalizationOptions: expected mean "
    f"[0] and std [255] (pixels 0..255 to [0, 1], the SavedModel's input), {found}"
  )
  assert _refusal(path) == message
  with pytest.raises(verifier.VerifyInputError) as raised:
    verifier.verify(path, SPEC, golden_path=GOLDEN)
  assert str(raised.value) == message


def test_another_input_range_is_refused(bare, tmp_path, monkeypatch):
  path = str(tmp_path / "range.tflite")
  with monkeypatch.context() as patched:
    patched.setattr(litert_metadata, "input_range", lambda model_type: (-1.0, 1.0))
    pathlib.Path(path).write_bytes(litert_metadata.attach(bare, SUBJECT))
  assert _refusal(path).endswith(
    "input stats: expected min 0 and max 1 (the float32 input's range), found min [-1] and max [1]"
  )


def test_labels_that_do_not_match_the_outputs_are_refused(bare, tmp_path):
  path = str(tmp_path / "short.tflite")
  short = _labels_file(tmp_path, labels_lib.read_labels()[:1000])
  pathlib.Path(path).write_bytes(litert_metadata.attach(bare, SUBJECT, short))
  assert _refusal(path).endswith(
    "output labels file ImageNetLabels.txt: expected 1001 lines (one per output), found 1000"
  )


def test_labels_named_but_not_packed_are_refused(bare, tmp_path):
  # The writer's first step alone: the metadata names the labels file, no zip follows.
  path = str(tmp_path / "unpacked.tflite")
  described = litert_flatbuffers.serialize(litert_metadata.describe(SUBJECT))
  model = litert_flatbuffers.with_metadata_buffer(bare, litert_metadata.METADATA_NAME, described)
  pathlib.Path(path).write_bytes(model)
  assert _refusal(path).endswith(
    "output labels file ImageNetLabels.txt: expected packed in the file, found no such file in it"
  )


def test_corrupt_metadata_is_refused(bare, tmp_path):
  model = bytearray(litert_metadata.attach(bare, SUBJECT))
  content = litert_flatbuffers.metadata_content(bytes(model), litert_metadata.METADATA_NAME)
  start = bytes(model).index(content)
  model[start + 4 : start + 8] = b"XXXX"  # the metadata's file identifier, M001
  path = str(tmp_path / "corrupt.tflite")
  pathlib.Path(path).write_bytes(model)
  assert _refusal(path) == (
    f"{path}: its TFLITE_METADATA entry is not TFLite Model Metadata (no file identifier M001)"
  )


def test_a_uint8_input_must_take_raw_pixels_as_the_normalization_states():
  # The uint8 file's input details, as LiteRT reports them, and the same with another scale.
  described = metadata_reader.Described(
    name="n",
    version="5",
    mean=(0.0,),
    std=(255.0,),
    stats=((0.0,), (255.0,)),
    color_space="RGB",
    labels_file=None,
    labels=None,
  )
  pixels = {"dtype": np.uint8, "quantization": (1 / 255, 0)}
  assert metadata_reader.contradictions(described, pixels, 1001) == []
  centred = {"dtype": np.uint8, "quantization": (1 / 127.5, 128)}
  assert metadata_reader.contradictions(described, centred, 1001) == [
    "uint8 input quantization: expected scale 1/255 and zero point 0 (raw pixels as the "
    "normalization states them), found scale 0.00784314 and zero point 128"
  ]
  grey = metadata_reader.Described(**{**described.__dict__, "color_space": "GRAYSCALE"})
  assert metadata_reader.contradictions(grey, pixels, 1001) == [
    "input colour space: expected RGB, found GRAYSCALE"
  ]
