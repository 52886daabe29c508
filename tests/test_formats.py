"""What every format promises, checked once per format (and module type) of the registry.

Writing: the file appears whole or not at all (an interrupt places nothing and leaves the old
file), an existing one is replaced only with --overwrite, the umask is honoured (the formats
beside the SavedModel are overwritten by one export asking for them all), and a failure is one
line that leaves nothing behind. Using: the file reproduces the SavedModel's outputs
within its format's threshold (the files are the session's `exported` exports that each format's
own tests read), `export.verify` accepts the formats it checks (and refuses the
others in one line), and classify runs a classifier and refuses a feature vector in one line.
Format-specific behaviour stays in test_export.py, test_export_keras.py, test_litert.py and
test_onnx.py.
"""

import dataclasses
import os
import pathlib
import shutil
import stat
from typing import Callable

import keras
import numpy as np
import pytest

from export.base import probe_images
from export.core import checkpoint
from export.core import images as images_lib
from export.core import options as options_lib
from export.core import reusable_module
from export.formats import beside
from export.formats import registry
from export.formats.keras import exporter as keras_exporter
from export.formats.litert import converter as litert_converter
from export.formats.onnx import exporter as onnx_exporter
from export.formats.saved_model import exporter as saved_model_exporter
from export.formats.tfjs import converter as tfjs_converter
from export.pipeline import manifest
from export.runtime import classifier
from export.runtime import loading
from export.verification import verifier
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDENS = {
  module_type: ROOT / "tests" / "golden" / f"mobilenet_v2_0.75_96_{module_type}_seed0.npz"
  for module_type in ("classification", "feature_vector")
}


@dataclasses.dataclass(frozen=True)
class Writer:
  """How the tests write one format: the path a user names, what appears, and a step inside
  the write (after work is staged) where an interrupt is raised."""

  target: str  # the name given, in a fresh directory
  write: Callable  # (checkpoint, target, module_type, overwrite) -> the written file's path
  placed: tuple  # what appears beside the target: suffixes appended to its name
  interrupted: tuple  # (object, attribute) replaced by a function raising KeyboardInterrupt


def _saved_model(prefix, target, module_type, overwrite, **options):
  saved_model_exporter.export_saved_model(
    options_lib.ExportOptions(
      checkpoint_path=prefix,
      export_dir=str(target),
      spec=variants.ModelSpec(0.75, 96, module_type),
      overwrite=overwrite,
      **options,
    )
  )
  return str(target)


def _litert(prefix, target, module_type, overwrite):
  _saved_model(prefix, target, module_type, overwrite, tflite=True)
  return registry.by_name("litert").path_beside(str(target))


def _tfjs(prefix, target, module_type, overwrite):
  _saved_model(prefix, target, module_type, overwrite, tfjs=True)
  return registry.by_name("tfjs").path_beside(str(target))


def _onnx(prefix, target, module_type, overwrite):
  _saved_model(prefix, target, module_type, overwrite, onnx=True)
  return registry.by_name("onnx").path_beside(str(target))


def _keras(prefix, target, module_type, overwrite):
  return keras_exporter.export_keras(
    options_lib.KerasExportOptions(
      checkpoint_path=prefix,
      output=str(target),
      spec=variants.ModelSpec(0.75, 96, module_type),
      overwrite=overwrite,
    )
  ).output


WRITERS = {
  "saved_model": Writer("module", _saved_model, ("",), (reusable_module, "save")),
  "litert": Writer("module", _litert, ("", ".tflite"), (litert_converter, "convert")),
  "onnx": Writer("module", _onnx, ("", ".onnx", ".onnx.test_data"), (onnx_exporter, "convert")),
  "tfjs": Writer("module", _tfjs, ("", ".tfjs"), (tfjs_converter, "convert_saved_model")),
  "keras": Writer("model.keras", _keras, ("",), (keras.saving, "save_model")),
}
FORMATS = [fmt.name for fmt in registry.FORMATS]
# The formats judged against the SavedModel (which test_export.py and test_verify.py judge
# against the TF-Slim graph itself).
DERIVED = [name for name in FORMATS if name != registry.PRIMARY.name]
MODULE_TYPES = ["classification", "feature_vector"]


def test_every_format_has_a_writer_here():
  assert sorted(WRITERS) == sorted(FORMATS)


def test_the_registry_names_and_places_each_format_as_before():
  by_name = {fmt.name: fmt for fmt in registry.FORMATS}
  assert list(by_name) == [
    "saved_model",
    "litert",
    "onnx",
    "tfjs",
    "keras",
  ]  # the regeneration's order
  # The lock's fields of the files each format adds (the SavedModel's own are its tree's).
  locked = {name: manifest.locked_field(name) for name in by_name if name != "saved_model"}
  assert locked == {
    "litert": "litert_sha256",
    "onnx": "onnx_sha256",
    "tfjs": "tfjs_sha256",
    "keras": "keras_sha256",
  }
  handle = "google/imagenet/mobilenet_v2_075_96/classification"
  stem = "mobilenet_v2_075_96_classification"
  places = {
    (name, kind): fmt.relative_path(handle, 5, stem, kind)
    for name, fmt in by_name.items()
    for kind in fmt.types
  }
  assert places == {
    ("saved_model", ""): f"{handle}/5",
    ("litert", "float32"): f"{handle}/5.tflite",
    ("litert", "float16"): f"{handle}/5.float16.tflite",
    ("litert", "int8"): f"{handle}/5.int8.tflite",
    ("litert", "uint8"): f"{handle}/5.uint8.tflite",
    ("onnx", "float32"): f"{handle}/5.onnx",
    ("onnx", "int8"): f"{handle}/5.int8.onnx",
    ("tfjs", "float32"): f"{handle}/5.tfjs",
    ("tfjs", "float16"): f"{handle}/5.float16.tfjs",
    ("tfjs", "uint8"): f"{handle}/5.uint8.tfjs",
    ("keras", ""): f"{handle}/keras/{stem}.keras",
  }
  assert by_name["litert"].path_beside("/out/module", "uint8") == "/out/module.uint8.tflite"
  assert by_name["litert"].file_name(stem, "int8") == f"{stem}_int8.tflite"
  with pytest.raises(ValueError, match="unknown litert type 'int4'"):
    by_name["litert"].infix("int4")


@pytest.mark.parametrize(
  "path,format_name",
  [
    ("m/5", "saved_model"),
    ("m/x.keras", "keras"),
    ("m/5.int8.tflite", "litert"),
    ("m/5.int8.onnx", "onnx"),
    ("m/5.tfjs", "tfjs"),
    ("m/5.uint8.tfjs/", "tfjs"),  # a directory, as a shell completes it
  ],
)
def test_an_export_is_loaded_by_the_format_its_path_names(path, format_name):
  assert loading.format_of(path).name == format_name
  with pytest.raises(loading.LoadError) as raised:  # nothing there
    loading.check(path)
  assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


# The formats written beside the SavedModel, read from the session's export with every format
# (`exported_with_every_format`), which the format's own tests read too (test_litert,
# test_litert_metadata, test_onnx, test_tfjs).
BESIDE_FORMATS = {fmt.name for fmt in beside.FORMATS}


@pytest.fixture(scope="module")
def written(synthetic_checkpoint_075_96, exported, exported_with_every_format, tmp_path_factory):
  """`written(format, module_type)`: the path of the session's file of that format (its
  float32 type), made once (all but the Keras file are the session's `exported` exports)."""
  keras_files = {}

  def path(format_name, module_type):
    spec = variants.ModelSpec(0.75, 96, module_type)
    if format_name == "saved_model":
      return exported(spec=spec).export_dir
    if format_name in BESIDE_FORMATS:
      result = exported_with_every_format(module_type)
      path = registry.by_name(format_name).path_beside(result.export_dir)  # float32
      assert path in [made.path for made in result.written[format_name]]
      return path
    if module_type not in keras_files:
      target = tmp_path_factory.mktemp("keras") / f"{module_type}.keras"
      keras_files[module_type] = _keras(synthetic_checkpoint_075_96, target, module_type, False)
    return keras_files[module_type]

  return path


# --- writing -------------------------------------------------------------------------------
def _tree(directory: pathlib.Path) -> dict:
  """Relative path -> file contents (None for a directory) of everything under `directory`."""
  return {
    path.relative_to(directory).as_posix(): None if path.is_dir() else path.read_bytes()
    for path in sorted(directory.rglob("*"))
  }


def _old_target(tmp_path: pathlib.Path, writer: Writer) -> pathlib.Path:
  """The target holding an old file (for a directory format, an earlier export's directory:
  its graph file and one more, which --overwrite may replace)."""
  target = tmp_path / writer.target
  if target.suffix:
    target.write_bytes(b"old")
  else:
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"old")
    (target / "old.txt").write_text("old")
  return target


@pytest.mark.parametrize("format_name", FORMATS)
def test_an_existing_file_is_kept_without_overwrite(
  format_name, synthetic_checkpoint_075_96, tmp_path
):
  writer = WRITERS[format_name]
  target = _old_target(tmp_path, writer)
  before = _tree(tmp_path)
  with pytest.raises(ValueError, match="--overwrite") as raised:  # a usage error: exit 2
    writer.write(synthetic_checkpoint_075_96, target, "classification", False)
  assert "\n" not in str(raised.value)
  assert _tree(tmp_path) == before


@pytest.mark.slow
@pytest.mark.parametrize("format_name", FORMATS)
def test_an_interrupted_write_places_nothing_and_keeps_the_old_file(
  format_name, synthetic_checkpoint_075_96, tmp_path, monkeypatch
):
  writer = WRITERS[format_name]
  target = _old_target(tmp_path, writer)
  before = _tree(tmp_path)

  def interrupt(*unused_args, **unused_kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(*writer.interrupted, interrupt)
  with pytest.raises(KeyboardInterrupt):
    writer.write(synthetic_checkpoint_075_96, target, "classification", True)
  assert _tree(tmp_path) == before  # no new file, no staging directory


def test_an_earlier_exports_file_beside_the_directory_is_kept_without_overwrite(
  synthetic_checkpoint_075_96, tmp_path
):
  # The SavedModel itself is gone, but a model converted from it is still beside its place.
  old = pathlib.Path(registry.by_name("litert").path_beside(str(tmp_path / "module"), "int8"))
  old.write_bytes(b"old")
  with pytest.raises(ValueError, match=f"^{old}: an earlier export's file beside .*overwrite"):
    _saved_model(synthetic_checkpoint_075_96, tmp_path / "module", "classification", False)
  assert _tree(tmp_path) == {old.name: b"old"}


@pytest.mark.slow
def test_overwrite_takes_away_the_earlier_exports_files_it_does_not_write_again(
  synthetic_checkpoint_075_96, exported_with_every_format, tmp_path
):
  earlier = pathlib.Path(exported_with_every_format().export_dir)
  for path in earlier.parent.glob(earlier.name + "*"):  # the SavedModel and every format
    copy = shutil.copytree if path.is_dir() else shutil.copy
    copy(path, tmp_path / path.name)
  assert len(os.listdir(tmp_path)) > 10
  # Raw weights this time, and no other format: the models beside would not match them.
  _saved_model(
    synthetic_checkpoint_075_96, tmp_path / "module", "classification", True, use_ema=False
  )
  assert os.listdir(tmp_path) == ["module"]


# The SavedModel and the formats made beside it are written by one export, as a user asks.
WRITTEN_TOGETHER = ("saved_model", *(fmt.name for fmt in beside.FORMATS))


@pytest.fixture(scope="module")
def overwritten(synthetic_checkpoint_075_96, tmp_path_factory):
  """`overwritten(format)`: (directory, target, path, formats written there) after the feature
  vector was written with --overwrite over an old target under umask 027, made once: one
  export writes the formats of WRITTEN_TOGETHER, the Keras file is written alone."""
  made = {}

  def write(format_name):
    together = format_name in WRITTEN_TOGETHER
    group = WRITTEN_TOGETHER if together else (format_name,)
    if group not in made:
      directory = tmp_path_factory.mktemp("overwritten")
      target = _old_target(directory, WRITERS[group[0]])
      old_umask = os.umask(0o027)
      try:
        if together:
          formats = {}
          for fmt in beside.FORMATS:
            formats.update(fmt.export_request(fmt.types[:1]))
          written_path = _saved_model(
            synthetic_checkpoint_075_96, target, "feature_vector", True, **formats
          )
        else:
          written_path = WRITERS[format_name].write(
            synthetic_checkpoint_075_96, target, "feature_vector", True
          )
      finally:
        os.umask(old_umask)
      made[group] = directory, target, written_path
    directory, target, path = made[group]
    if format_name in BESIDE_FORMATS:  # a file beside the SavedModel
      path = registry.by_name(format_name).path_beside(path)
    return directory, target, path, group

  return write


@pytest.mark.slow
@pytest.mark.parametrize("format_name", FORMATS)
def test_overwrite_replaces_the_whole_file_and_honours_the_umask(format_name, overwritten):
  writer = WRITERS[format_name]
  directory, target, path, together = overwritten(format_name)
  placed = sorted(writer.target + suffix for suffix in writer.placed)
  everything = {
    WRITERS[name].target + suffix for name in together for suffix in WRITERS[name].placed
  }
  assert set(placed) <= set(os.listdir(directory)) == everything  # nothing staged is left
  assert not (target / "old.txt").exists() if target.is_dir() else path == str(target)
  loading.load(path)  # a whole file of its format
  modes = {
    entry: stat.S_IMODE(entry.stat().st_mode)
    for name in placed
    for entry in [directory / name, *(directory / name).rglob("*")]
  }
  assert {mode for entry, mode in modes.items() if entry.is_dir()} <= {0o750}
  assert {mode for entry, mode in modes.items() if not entry.is_dir()} == {0o640}


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize(
  "case,error,message",
  [
    ("missing checkpoint", checkpoint.CheckpointError, "missing.ckpt: no checkpoint there"),
    ("unknown module type", ValueError, "module type must be one of"),
  ],
)
def test_failures_are_one_line_and_leave_nothing(
  format_name, case, error, message, synthetic_checkpoint_075_96, tmp_path
):
  writer = WRITERS[format_name]
  prefix = str(tmp_path / "missing.ckpt") if case == "missing checkpoint" else None
  module_type = "detection" if case == "unknown module type" else "classification"
  out = tmp_path / "out"
  out.mkdir()
  with pytest.raises(error, match=message) as raised:
    writer.write(prefix or synthetic_checkpoint_075_96, out / writer.target, module_type, False)
  assert "\n" not in str(raised.value)
  assert os.listdir(out) == []


# --- using ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def probes():
  _, images = probe_images.probe_batch(96)
  return images


@pytest.fixture(scope="module")
def saved_model_outputs(written, probes):
  """`saved_model_outputs(module_type)`: the session's SavedModel's outputs of the probes."""
  outputs = {}

  def run(module_type):
    if module_type not in outputs:
      outputs[module_type] = loading.load(written("saved_model", module_type)).run(probes)
    return outputs[module_type]

  return run


@pytest.mark.slow
@pytest.mark.parametrize("module_type", MODULE_TYPES)
@pytest.mark.parametrize("format_name", DERIVED)
def test_outputs_agree_with_the_saved_model_within_the_formats_threshold(
  format_name, module_type, written, probes, saved_model_outputs
):
  fmt = registry.by_name(format_name)
  reference = saved_model_outputs(module_type)
  outputs = loading.load(written(format_name, module_type)).run(probes)
  assert outputs.shape == reference.shape
  agreement = fmt.agreement(outputs, reference, module_type)
  assert agreement.passed, agreement.shortfalls


@pytest.mark.slow
@pytest.mark.parametrize("module_type", MODULE_TYPES)
@pytest.mark.parametrize("format_name", FORMATS)
def test_verify_accepts_the_formats_it_checks_and_refuses_the_others(
  format_name, module_type, written
):
  path = written(format_name, module_type)
  spec = variants.ModelSpec(0.75, 96, module_type)
  if not registry.by_name(format_name).verifiable:
    with pytest.raises(verifier.VerifyInputError) as raised:
      verifier.verify(path, spec, golden_path=str(GOLDENS[module_type]))
    assert "\n" not in str(raised.value) and str(raised.value).startswith(path)
    return
  report = verifier.verify(path, spec, golden_path=str(GOLDENS[module_type]))
  assert report.passed, report.first_failure


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  return images_lib.write_example_image(str(tmp_path_factory.mktemp("photo") / "a.png"), size=150)


@pytest.fixture(scope="module")
def saved_model_classified(written, photo):
  """classify's result for the photo with the session's classifier SavedModel."""
  (result,) = classifier.classify(written("saved_model", "classification"), [photo])
  return result


@pytest.mark.slow
@pytest.mark.parametrize("module_type", MODULE_TYPES)
@pytest.mark.parametrize("format_name", FORMATS)
def test_classify_runs_a_classifier_like_the_saved_model_and_refuses_a_feature_vector(
  format_name, module_type, written, photo, saved_model_classified
):
  path = written(format_name, module_type)
  if module_type == "feature_vector":
    with pytest.raises(classifier.ClassifyError) as raised:
      classifier.classify(path, [photo])
    assert "\n" not in str(raised.value) and str(raised.value).startswith(path)
    assert "classify needs a classification" in str(raised.value)
    return
  reference = saved_model_classified
  (result,) = classifier.classify(path, [photo])
  assert result.input_size == (96, 96)
  assert [(p.class_index, p.label) for p in result.predictions] == [
    (p.class_index, p.label) for p in reference.predictions
  ]
  np.testing.assert_allclose(
    [p.logit for p in result.predictions],
    [p.logit for p in reference.predictions],
    rtol=0,
    atol=1e-4 * (1 + max(abs(p.logit) for p in reference.predictions)),
  )
