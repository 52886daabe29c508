"""export.classify: image files in, the module's own top-5 classes and labels out."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from export import classify
from export import probe_images

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_SIZE = 96


@pytest.fixture(scope="module")
def classification_dir(synthetic_checkpoint_075_96, export_checkpoint):
  return export_checkpoint(synthetic_checkpoint_075_96).export_dir


@pytest.fixture(scope="module")
def feature_vector_dir(synthetic_checkpoint_075_96, export_checkpoint):
  return export_checkpoint(synthetic_checkpoint_075_96, module_type="feature_vector").export_dir


def _pixels(kind, size, seed=0):
  return probe_images.quantize(probe_images.synthetic_photo(kind, size, seed))


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
  """A wide PNG, a tall JPEG and a greyscale PNG, none of them at the module's size."""
  directory = tmp_path_factory.mktemp("images")
  wide = _pixels("landscape", 160)[20:140]  # 160 x 120: the aspect ratio is not kept
  tall = _pixels("discs", 200)[:, 40:170]  # 130 x 200
  grey = _pixels("clouds", 64)[..., :1]  # one channel; decode_image makes it RGB
  files = {"wide.png": tf.io.encode_png(wide), "tall.jpg": tf.io.encode_jpeg(tall, quality=90),
           "grey.png": tf.io.encode_png(grey)}
  paths = []
  for name, encoded in files.items():
    (directory / name).write_bytes(encoded.numpy())
    paths.append(str(directory / name))
  return paths


@pytest.fixture(scope="module")
def results(classification_dir, image_files):
  return classify.classify(classification_dir, image_files)


def _expected_inputs(paths):
  """The documented preprocessing, written out independently of export.classify."""
  images = []
  for path in paths:
    data = pathlib.Path(path).read_bytes()
    decode = tf.io.decode_png if path.endswith(".png") else tf.io.decode_jpeg
    pixels = decode(data, channels=3)
    floats = tf.cast(pixels, tf.float32) / 255.0
    resized = tf.image.resize(floats, [IMAGE_SIZE, IMAGE_SIZE], method="bilinear",
                              antialias=True)
    images.append(tf.clip_by_value(resized, 0.0, 1.0))
  return tf.stack(images)


def _labels(export_dir):
  return (pathlib.Path(export_dir) / "assets" / "ImageNetLabels.txt").read_text().splitlines()


def test_top5_is_the_modules_own_ranking_of_the_resized_image(classification_dir, image_files,
                                                              results):
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
  [result] = classify.classify(str(edited), image_files[:1], top_k=3)
  assert [p.label for p in result.predictions] == [
      f"class number {p.class_index}" for p in result.predictions]


def test_json_output(classification_dir, image_files, results, capsys):
  classify.execute(classify.Options(classification_dir, tuple(image_files), json=True))
  document = json.loads(capsys.readouterr().out)
  assert document["export_dir"] == os.path.abspath(classification_dir)
  assert "antialias=True" in document["preprocessing"]
  assert [r["image_path"] for r in document["results"]] == image_files
  assert document["results"][0]["input_size"] == [96, 96]
  assert [[p["class_index"] for p in r["predictions"]] for r in document["results"]] == [
      [p.class_index for p in r.predictions] for r in results]
  first = document["results"][0]["predictions"][0]
  assert first == {"rank": 1, "class_index": results[0].predictions[0].class_index,
                   "label": results[0].predictions[0].label,
                   "probability": results[0].predictions[0].probability,
                   "logit": results[0].predictions[0].logit}


def test_example_image_is_the_synthetic_photo(tmp_path):
  path = classify.write_example_image(str(tmp_path / "example.png"), size=48)
  decoded = tf.io.decode_png(pathlib.Path(path).read_bytes()).numpy()
  np.testing.assert_array_equal(decoded, _pixels("landscape", 48))
  with pytest.raises(ValueError, match="png"):
    classify.write_example_image(str(tmp_path / "example.gif"))


# --- errors: one line, exit code 2 -------------------------------------------------------
def _fails(capsys, export_dir, image_paths, message, top_k=5):
  with pytest.raises(SystemExit) as exited:
    classify.execute(classify.Options(str(export_dir), tuple(map(str, image_paths)), top_k))
  assert exited.value.code == 2
  captured = capsys.readouterr()
  assert captured.out == ""
  assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
  assert message in captured.err
  return captured.err


def test_unusable_exports(classification_dir, feature_vector_dir, image_files, tmp_path,
                          capsys):
  image = image_files[:1]
  _fails(capsys, feature_vector_dir, image, f"{feature_vector_dir}: is a feature_vector module; "
         f"classify needs a classification module")
  unlabelled = tmp_path / "unlabelled"
  shutil.copytree(classification_dir, unlabelled)
  os.remove(unlabelled / "assets" / "ImageNetLabels.txt")
  _fails(capsys, unlabelled, image, f"{unlabelled}: no labels asset assets/ImageNetLabels.txt")
  _fails(capsys, tmp_path / "missing", image, f"{tmp_path / 'missing'}: export directory not "
         f"found")
  (tmp_path / "empty").mkdir()
  _fails(capsys, tmp_path / "empty", image, f"{tmp_path / 'empty'}: not a SavedModel")
  _fails(capsys, classification_dir, image, "top_k must lie between 1 and 1001", top_k=1002)


def test_unreadable_images_are_named(classification_dir, tmp_path, capsys):
  text = tmp_path / "notes.png"
  text.write_text("not a picture\n")
  _fails(capsys, classification_dir, [text], f"{text}: not an image that tf.io.decode_image "
         f"can decode (Unknown image file format")
  cut = tmp_path / "cut.png"
  cut.write_bytes(tf.io.encode_png(_pixels("rings", 32)).numpy()[:60])
  _fails(capsys, classification_dir, [cut], f"{cut}: not an image")
  _fails(capsys, classification_dir, [tmp_path / "absent.jpg"],
         f"{tmp_path / 'absent.jpg'}: cannot read the file (No such file or directory)")
  _fails(capsys, classification_dir, [tmp_path], f"{tmp_path}: cannot read the file")


# --- the binary, twice and concurrently (each run spends seconds importing TensorFlow) -----
def test_binary(classification_dir, feature_vector_dir, image_files, results):
  runs = {
      "text": [f"--export_dir={classification_dir}", *image_files],
      "feature_vector": [f"--export_dir={feature_vector_dir}", image_files[0]],
  }
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  processes = {name: subprocess.Popen([sys.executable, "-m", "export.classify", *args],
                                      cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
               for name, args in runs.items()}
  outputs = {name: (*process.communicate(timeout=120), process.returncode)
             for name, process in processes.items()}

  stdout, stderr, code = outputs["text"]
  assert code == 0, stderr
  lines = stdout.splitlines()
  assert len(lines) == 3 * 6
  assert lines[0] == f"{image_files[0]} (160x120 -> 96x96):"
  assert lines[6] == f"{image_files[1]} (130x200 -> 96x96):"
  for result, block in zip(results, (lines[1:6], lines[7:12], lines[13:18])):
    assert block == [f"  {p.rank}  {p.probability:.4f}  {p.label} (class {p.class_index})"
                     for p in result.predictions]

  stdout, stderr, code = outputs["feature_vector"]
  assert code == 2 and stdout == ""
  assert "Traceback" not in stderr
  assert stderr.splitlines()[-1] == (f"error: {feature_vector_dir}: is a feature_vector "
                                     f"module; classify needs a classification module")
