"""export.classify: image files in, the module's own top-5 classes and labels out; bad images
are reported one by one while the others are still classified."""

import json
import os
import pathlib
import shutil
import struct
import subprocess

import numpy as np
import pytest
import tensorflow as tf
import warm_python

from export import classify
from export.base import probe_images
from export.core import images
from export.runtime import classifier
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_SIZE = 96


@pytest.fixture(scope="module")
def classification_dir(exported):
  return exported().export_dir


@pytest.fixture(scope="module")
def feature_vector_dir(exported):
  return exported(spec=variants.ModelSpec(0.75, 96, "feature_vector")).export_dir


def _pixels(kind, size, seed=0):
  return probe_images.quantize(probe_images.synthetic_photo(kind, size, seed))


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
  """A wide PNG, a tall JPEG and a greyscale PNG, none of them at the module's size."""
  directory = tmp_path_factory.mktemp("images")
  wide = _pixels("landscape", 160)[20:140]  # 160 x 120: the aspect ratio is not kept
  tall = _pixels("discs", 200)[:, 40:170]  # 130 x 200
  grey = _pixels("clouds", 64)[..., :1]  # one channel; decode_image makes it RGB
  files = {
    "wide.png": tf.io.encode_png(wide),
    "tall.jpg": tf.io.encode_jpeg(tall, quality=90),
    "grey.png": tf.io.encode_png(grey),
  }
  paths = []
  for name, encoded in files.items():
    (directory / name).write_bytes(encoded.numpy())
    paths.append(str(directory / name))
  return paths


@pytest.fixture(scope="module")
def results(classification_dir, image_files):
  return classifier.classify(classification_dir, image_files)


def _expected_inputs(paths):
  """The documented preprocessing, written out independently of export.classify."""
  images = []
  for path in paths:
    data = pathlib.Path(path).read_bytes()
    decode = tf.io.decode_png if path.endswith(".png") else tf.io.decode_jpeg
    pixels = decode(data, channels=3)
    resized = (
      tf.image.resize(pixels, [IMAGE_SIZE, IMAGE_SIZE], method="bilinear", antialias=True) / 255.0
    )
    images.append(tf.clip_by_value(resized, 0.0, 1.0))
  return tf.stack(images)


def _labels(export_dir):
  return (pathlib.Path(export_dir) / "assets" / "ImageNetLabels.txt").read_text().splitlines()


def test_top5_is_the_modules_own_ranking_of_the_resized_image(
  classification_dir, image_files, results
):
  logits = tf.saved_model.load(classification_dir)(_expected_inputs(image_files)).numpy()
  labels = _labels(classification_dir)
  assert [r.image_path for r in results] == image_files
  assert [(r.height, r.width) for r in results] == [(120, 160), (200, 130), (64, 64)]
  for result, row in zip(results, logits):
    assert result.input_size == (IMAGE_SIZE, IMAGE_SIZE)
    predictions = result.predictions
    expected = np.argsort(-row, kind="stable")[:5]
    assert [p.class_index for p in predictions] == expected.tolist()
    assert [p.rank for p in predictions] == [1, 2, 3, 4, 5]
    assert [p.label for p in predictions] == [labels[i] for i in expected]
    probabilities = [p.probability for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0
    softmax = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
    np.testing.assert_allclose(probabilities, softmax[expected], rtol=1e-4)
    np.testing.assert_allclose([p.logit for p in predictions], row[expected], rtol=0, atol=1e-4)


def test_labels_are_read_from_the_exports_own_asset(classification_dir, image_files, tmp_path):
  edited = tmp_path / "edited"
  shutil.copytree(classification_dir, edited)
  labels_path = edited / "assets" / "ImageNetLabels.txt"
  labels = labels_path.read_text().splitlines()
  labels_path.write_text("".join(f"class number {i}\n" for i in range(len(labels))))
  [result] = classifier.classify(str(edited), image_files[:1], top_k=3)
  assert [p.label for p in result.predictions] == [
    f"class number {p.class_index}" for p in result.predictions
  ]


def test_json_output(classification_dir, image_files, results, capsys):
  assert classify.execute(classify.Options(classification_dir, tuple(image_files), json=True)) == 0
  document = json.loads(capsys.readouterr().out)
  assert document["export_dir"] == os.path.abspath(classification_dir)
  assert "antialias=True" in document["preprocessing"]
  assert [r["image_path"] for r in document["results"]] == image_files
  assert document["results"][0]["input_size"] == [96, 96]
  assert [[p["class_index"] for p in r["predictions"]] for r in document["results"]] == [
    [p.class_index for p in r.predictions] for r in results
  ]
  first = document["results"][0]["predictions"][0]
  assert first == {
    "rank": 1,
    "class_index": results[0].predictions[0].class_index,
    "label": results[0].predictions[0].label,
    "probability": results[0].predictions[0].probability,
    "logit": results[0].predictions[0].logit,
  }


def test_example_image_is_the_synthetic_photo(tmp_path):
  path = images.write_example_image(str(tmp_path / "example.png"), size=48)
  decoded = tf.io.decode_png(pathlib.Path(path).read_bytes()).numpy()
  np.testing.assert_array_equal(decoded, _pixels("landscape", 48))
  with pytest.raises(ValueError, match="png"):
    images.write_example_image(str(tmp_path / "example.gif"))


# --- errors: one line each ------------------------------------------------------------------
def _fails(capsys, export_dir, image_paths, message):
  with pytest.raises(SystemExit) as exited:
    classify.execute(classify.Options(str(export_dir), tuple(map(str, image_paths))))
  assert exited.value.code == 1
  captured = capsys.readouterr()
  assert captured.out == ""
  assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
  assert message in captured.err


def test_unusable_exports(classification_dir, feature_vector_dir, image_files, tmp_path, capsys):
  image = image_files[:1]
  _fails(
    capsys,
    feature_vector_dir,
    image,
    f"{feature_vector_dir}: is a feature_vector module; classify needs a classification module",
  )
  unlabelled = tmp_path / "unlabelled"
  shutil.copytree(classification_dir, unlabelled)
  os.remove(unlabelled / "assets" / "ImageNetLabels.txt")
  _fails(capsys, unlabelled, image, f"{unlabelled}: no labels asset assets/ImageNetLabels.txt")
  _fails(capsys, tmp_path / "missing", image, f"{tmp_path / 'missing'}: export directory not found")
  (tmp_path / "empty").mkdir()
  _fails(capsys, tmp_path / "empty", image, f"{tmp_path / 'empty'}: not a SavedModel")
  cut = tmp_path / "cut.keras"  # Keras itself would say "File not found"
  cut.write_bytes(b"PK\x03\x04 the start of a zip archive, cut short")
  _fails(capsys, cut, image, f"{cut}: not a Keras model file (a .keras file is a zip archive")


def _huge_png_header(width, height) -> bytes:
  """The start of a PNG of that size: enough for the header, not for decoding."""
  return (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    + b"\x00" * 4
  )


@pytest.fixture
def bad_images(tmp_path):
  text = tmp_path / "notes.png"
  text.write_text("not a picture\n")
  cut = tmp_path / "cut.png"
  cut.write_bytes(tf.io.encode_png(_pixels("rings", 32)).numpy()[:60])
  huge = tmp_path / "huge.png"
  huge.write_bytes(_huge_png_header(8000, 8000))
  return {
    text: f"{text}: not an image that tf.io.decode_image can decode (Unknown image file format",
    cut: f"{cut}: not an image",
    huge: f"{huge}: 8000x8000 is 64 megapixels, over the limit of 50; shrink it first",
    tmp_path / "absent.jpg": f"{tmp_path / 'absent.jpg'}: cannot read the file (No such file "
    f"or directory)",
    tmp_path: f"{tmp_path}: cannot read the file",
  }


def test_bad_images_are_named_and_the_good_ones_still_classified(
  classification_dir, image_files, bad_images, results, capsys
):
  paths = [image_files[0], *bad_images, image_files[2]]
  exit_code = classify.execute(classify.Options(classification_dir, tuple(map(str, paths))))
  assert exit_code == 1
  captured = capsys.readouterr()
  errors = captured.err.splitlines()
  assert len(errors) == len(bad_images)
  for line, message in zip(errors, bad_images.values()):
    assert line.startswith(f"error: {message}")
  expected = classify.format_text([results[0], results[2]])
  assert captured.out == expected + "\n"


def test_json_lists_the_images_that_could_not_be_used_in_order(
  classification_dir, image_files, bad_images, capsys
):
  paths = [str(p) for p in [*bad_images, image_files[1]]]
  assert classify.execute(classify.Options(classification_dir, tuple(paths), json=True)) == 1
  captured = capsys.readouterr()
  document = json.loads(captured.out)
  assert [r["image_path"] for r in document["results"]] == [image_files[1]]
  assert [f["image_path"] for f in document["failures"]] == paths[:-1]
  assert [f"error: {f['message']}" for f in document["failures"]] == captured.err.splitlines()


def test_image_sizes_are_read_from_headers_without_decoding():
  png = tf.io.encode_png(_pixels("discs", 40)[:30]).numpy()
  jpeg = tf.io.encode_jpeg(_pixels("discs", 40)[:, :25]).numpy()
  assert images.header_size(png) == (30, 40)
  assert images.header_size(jpeg) == (40, 25)
  assert images.header_size(_huge_png_header(8000, 6000)) == (6000, 8000)
  assert images.header_size(b"GIF89a" + struct.pack("<HH", 640, 480)) == (480, 640)
  assert images.header_size(b"not an image at all, nothing to read here") is None


# --- the binary, twice and concurrently (each run spends seconds importing TensorFlow) -----
@pytest.mark.slow
def test_binary(classification_dir, feature_vector_dir, image_files, results, tmp_path):
  cut_short = tmp_path / "cut.jpg"  # libjpeg prints a line of its own about it
  cut_short.write_bytes(tf.io.encode_jpeg(_pixels("discs", 64)).numpy()[:400])
  runs = {
    "text": [f"--export_dir={classification_dir}", *image_files],
    "feature_vector": [f"--export_dir={feature_vector_dir}", image_files[0]],
    "cut_short": [f"--export_dir={classification_dir}", str(cut_short)],
  }
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  processes = {
    name: subprocess.Popen(
      [warm_python.executable(), "-m", "export.classify", *args],
      cwd=ROOT,
      env=env,
      text=True,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
    )
    for name, args in runs.items()
  }
  outputs = {
    name: (*process.communicate(timeout=120), process.returncode)
    for name, process in processes.items()
  }

  stdout, stderr, code = outputs["text"]
  assert code == 0, stderr
  lines = stdout.splitlines()
  assert len(lines) == 3 * 6
  assert lines[0] == f"{image_files[0]} (160x120 -> 96x96):"
  assert lines[6] == f"{image_files[1]} (130x200 -> 96x96):"
  for result, block in zip(results, (lines[1:6], lines[7:12], lines[13:18])):
    assert block == [
      f"  {p.rank}  {p.probability:.4f}  {p.label} (class {p.class_index})"
      for p in result.predictions
    ]

  stdout, stderr, code = outputs["cut_short"]
  assert (code, stdout) == (1, "")
  assert stderr.splitlines() == [
    f"error: {cut_short}: not an image that tf.io.decode_image can decode (jpeg::Uncompress "
    "failed. Invalid JPEG data or crop window)"
  ]

  stdout, stderr, code = outputs["feature_vector"]
  assert code == 1 and stdout == ""
  assert "Traceback" not in stderr
  assert stderr.splitlines()[-1] == (
    f"error: {feature_vector_dir}: is a feature_vector "
    f"module; classify needs a classification module"
  )
