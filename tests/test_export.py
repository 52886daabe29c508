"""The export library: a TF-Slim checkpoint becomes a Reusable SavedModel with TF-Slim's outputs.

What every format promises (atomic and interrupted writes, --overwrite, the umask, agreement,
verify and classify) is tested once for all in test_formats.py."""

import os
import pathlib
import shutil
import subprocess

import binaries
import numpy as np
import pytest
import tensorflow as tf

from export.base import files
from export.core import checkpoint
from export.core import options as options_lib
from export.formats.saved_model import exporter as export_lib
from export.verification import reference
from export.verification import report
from nets import variants

BATCH = 3
FEATURES = variants.ModelSpec(0.75, 96, "feature_vector")


def _images(image_size, seed=0, batch=BATCH):
  return (
    np.random.default_rng(seed).uniform(size=(batch, image_size, image_size, 3)).astype(np.float32)
  )


def _tolerance(ref):
  return report.OUTPUT_TOLERANCE * (1.0 + np.abs(ref).max())


@pytest.fixture(scope="module")
def classifier(exported):
  return exported()


@pytest.fixture(scope="module")
def loaded_classifier(classifier):
  return tf.saved_model.load(classifier.export_dir)


@pytest.fixture(scope="module")
def slim_reference(synthetic_checkpoint_075_96):
  classifier = variants.ModelSpec(0.75, 96)
  with reference.SlimReference(synthetic_checkpoint_075_96, classifier) as slim_graph:
    yield slim_graph


def test_classifier_logits_equal_the_tf_slim_graph(loaded_classifier, slim_reference):
  images = _images(96)
  ref = slim_reference(images)
  got = loaded_classifier(tf.constant(images)).numpy()
  assert got.shape == (BATCH, 1001)
  np.testing.assert_allclose(got, ref, rtol=0, atol=_tolerance(ref))
  assert np.array_equal(got.argmax(-1), ref.argmax(-1))


@pytest.mark.slow
@pytest.mark.parametrize(
  "multiplier,size,module_type,calibration_size",
  [
    (0.35, 128, "classification", 128),
    # The variable layout does not depend on the image size: calibrating the synthetic
    # statistics on 64-pixel images takes 2 s instead of 20 s at 224; the network runs at 224.
    (1.4, 224, "feature_vector", 64),
  ],
)
def test_other_variants_equal_the_tf_slim_graph(
  other_variant, export_checkpoint, multiplier, size, module_type, calibration_size
):
  prefix, images, ref = other_variant(multiplier, size, module_type, calibration_size)
  spec = variants.ModelSpec(multiplier, size, module_type)
  result = export_checkpoint(prefix, spec=spec)
  got = tf.saved_model.load(result.export_dir)(tf.constant(images)).numpy()
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=0, atol=_tolerance(ref))


def test_restore_takes_ema_shadows_for_trainables_and_plain_batch_norm_statistics(
  classifier, loaded_classifier, synthetic_checkpoint_075_96
):
  stored = tf.train.load_checkpoint(synthetic_checkpoint_075_96)
  assert (classifier.restored.from_ema, classifier.restored.from_raw) == (158, 104)
  for variable in loaded_classifier.variables:
    name = variable.name[: -len(":0")]
    source = name + "/ExponentialMovingAverage" if variable.trainable else name
    np.testing.assert_array_equal(variable.numpy(), stored.get_tensor(source), err_msg=name)


def test_use_ema_false_takes_raw_values_and_changes_the_logits(
  synthetic_checkpoint_075_96, exported, loaded_classifier
):
  result = exported(use_ema=False)
  raw = tf.saved_model.load(result.export_dir)
  stored = tf.train.load_checkpoint(synthetic_checkpoint_075_96)
  for variable in raw.variables:
    name = variable.name[: -len(":0")]
    np.testing.assert_array_equal(variable.numpy(), stored.get_tensor(name), err_msg=name)
  images = tf.constant(_images(96))
  assert np.abs(raw(images).numpy() - loaded_classifier(images).numpy()).max() > 1e-2


def test_saved_collections_follow_the_reusable_saved_model_convention(loaded_classifier):
  names = [v.name for v in loaded_classifier.variables]
  assert len(names) == 262 and names[0] == "MobilenetV2/Conv/weights:0"
  trainable = {v.name for v in loaded_classifier.trainable_variables}
  assert len(trainable) == 158
  assert trainable == {n for n in names if "moving_" not in n}
  losses = loaded_classifier.regularization_losses
  assert len(losses) == 36
  by_name = {v.name: v for v in loaded_classifier.variables}
  kernels = [n for n in names if n.endswith("/weights:0")]
  expected = sorted(4e-5 * np.sum(by_name[n].numpy().astype(np.float64) ** 2) / 2 for n in kernels)
  np.testing.assert_allclose(sorted(float(loss()) for loss in losses), expected, rtol=1e-5)


def test_classifier_carries_the_labels_asset(classifier):
  labels = pathlib.Path(classifier.export_dir, "assets", "ImageNetLabels.txt").read_text()
  assert labels.splitlines()[:2] == ["background", "tench"]
  assert len(labels.splitlines()) == 1001


def test_inference_leaves_every_variable_unchanged_and_has_no_dropout(loaded_classifier):
  before = [v.numpy() for v in loaded_classifier.variables]
  images = tf.constant(_images(96))
  first = loaded_classifier(images, training=False).numpy()
  second = loaded_classifier(images).numpy()
  np.testing.assert_array_equal(first, second)
  for old, variable in zip(before, loaded_classifier.variables):
    np.testing.assert_array_equal(old, variable.numpy(), err_msg=variable.name)


def test_feature_vector_returns_the_global_pool_and_carries_no_labels(exported, slim_reference):
  result = exported(spec=FEATURES)
  loaded = tf.saved_model.load(result.export_dir)
  assert list(loaded.signatures["serving_default"].structured_outputs) == ["feature_vector"]
  assert not any("Logits" in v.name for v in loaded.variables)
  images = _images(96)
  features = loaded(tf.constant(images)).numpy()
  assert features.shape == (BATCH, 1280)
  # The TF-Slim graph's global pool: a classifier's head only follows it.
  _, ref = slim_reference.output_and_features(images)
  np.testing.assert_allclose(features, ref, rtol=0, atol=_tolerance(ref))
  assert not os.path.exists(os.path.join(result.export_dir, "assets", "ImageNetLabels.txt"))


def test_any_batch_size(loaded_classifier):
  for batch in (1, 5):
    assert loaded_classifier(tf.constant(_images(96, batch=batch))).shape == (batch, 1001)


# --- bad input: a one-line message, and nothing written -------------------------------------
def _assert_fails(tmp_path, match, error=checkpoint.CheckpointError, **kwargs):
  export_dir = tmp_path / "out" / "module"
  kwargs.setdefault("checkpoint_path", str(tmp_path / "missing.ckpt"))
  options = options_lib.ExportOptions(export_dir=str(export_dir), **kwargs)
  with pytest.raises(error, match=match) as raised:
    export_lib.export_saved_model(options)
  assert "\n" not in str(raised.value)
  assert not export_dir.exists()
  leftovers = list(export_dir.parent.glob(".*")) if export_dir.parent.exists() else []
  assert leftovers == []


def test_missing_checkpoint_names_the_path(tmp_path):
  _assert_fails(tmp_path, "missing.ckpt: no checkpoint there")


def test_truncated_data_file_names_the_path(synthetic_checkpoint_075_96, tmp_path):
  prefix = _copy_checkpoint(synthetic_checkpoint_075_96, tmp_path)
  data = pathlib.Path(prefix + ".data-00000-of-00001")
  data.write_bytes(data.read_bytes()[:1000])
  _assert_fails(tmp_path, "cannot read checkpoint", checkpoint_path=prefix)


def test_archive_without_a_checkpoint(tmp_path):
  import tarfile

  archive = tmp_path / "mobilenet_v2_0.75_96.tgz"
  (tmp_path / "readme.txt").write_text("no checkpoint here")
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(tmp_path / "readme.txt", arcname="readme.txt")
  _assert_fails(
    tmp_path,
    "expected one \\*\\.ckpt\\.index in the archive, found 0",
    checkpoint_path=str(archive),
  )


def test_corrupt_archive(tmp_path):
  archive = tmp_path / "mobilenet_v2_0.75_96.tgz"
  archive.write_bytes(b"not a tar file at all")
  _assert_fails(tmp_path, "not a readable .tgz archive", checkpoint_path=str(archive))


def test_wrong_multiplier_names_variable_shapes_and_the_implied_multiplier(
  synthetic_checkpoint_075_96, tmp_path
):
  _assert_fails(
    tmp_path,
    r"variable MobilenetV2/Conv/weights/ExponentialMovingAverage has shape \[3, 3, 3, 24\], "
    r"expected \[3, 3, 3, 32\] for depth multiplier 1.0 .*depth multiplier 0.75",
    checkpoint_path=synthetic_checkpoint_075_96,
    spec=variants.ModelSpec(1.0, 96),
  )


def test_a_failure_inside_an_archive_names_the_archive_and_its_member(
  synthetic_checkpoint_075_96, tmp_path
):
  import tarfile

  archive = tmp_path / "mobilenet_v2_1.0_96.tgz"  # the name of another variant's archive
  with tarfile.open(archive, "w:gz") as tar:
    for path in pathlib.Path(synthetic_checkpoint_075_96).parent.glob("*.ckpt.*"):
      tar.add(path, arcname=f"./{path.name}")  # as the released archives list their members
  _assert_fails(
    tmp_path,
    f"^{archive}:mobilenet_v2_0.75_96.ckpt: variable MobilenetV2/Conv/weights/"
    r"ExponentialMovingAverage has shape \[3, 3, 3, 24\], expected \[3, 3, 3, 32\]",
    checkpoint_path=str(archive),
    spec=variants.ModelSpec(1.0, 96),
  )


@pytest.mark.slow
def test_unexpected_checkpoint_keys_are_listed(synthetic_checkpoint_075_96, tmp_path):
  values = checkpoint.read_tensors(
    synthetic_checkpoint_075_96, checkpoint.read_shapes(synthetic_checkpoint_075_96)
  )
  values["MobilenetV2/AuxLogits/weights"] = np.zeros([2], np.float32)
  prefix = str(tmp_path / "extra" / "mobilenet_v2_0.75_96.ckpt")
  _write_checkpoint(values, prefix)
  _assert_fails(
    tmp_path, "1 unexpected variables.*MobilenetV2/AuxLogits/weights", checkpoint_path=prefix
  )


@pytest.mark.slow
def test_missing_variable_is_named(synthetic_checkpoint_075_96, tmp_path):
  values = checkpoint.read_tensors(
    synthetic_checkpoint_075_96, checkpoint.read_shapes(synthetic_checkpoint_075_96)
  )
  del values["MobilenetV2/Conv_1/BatchNorm/moving_variance"]
  prefix = str(tmp_path / "partial" / "mobilenet_v2_0.75_96.ckpt")
  _write_checkpoint(values, prefix)
  _assert_fails(
    tmp_path,
    "variable MobilenetV2/Conv_1/BatchNorm/moving_variance is missing "
    r"\(expected shape \[1280\]",
    checkpoint_path=prefix,
  )


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("version", 3, "version 3 .* cannot be produced"),
    ("batch_norm_momentum_default", 1.5, "momentum default must lie in"),
  ],
)
def test_bad_options_are_usage_errors_before_any_work(tmp_path, field, value, match):
  _assert_fails(tmp_path, match, error=ValueError, **{field: value})


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_empty_export_dir_is_refused_not_taken_for_the_current_directory(
  tmp_path, monkeypatch, overwrite
):
  checkout = tmp_path / "checkout"
  checkout.mkdir()
  (checkout / "keep.txt").write_text("mine")
  monkeypatch.chdir(checkout)  # what the empty path would resolve to
  options = options_lib.ExportOptions(
    checkpoint_path=str(tmp_path / "missing.ckpt"), export_dir="", overwrite=overwrite
  )
  with pytest.raises(ValueError, match=r"^the export directory is empty: name the directory"):
    export_lib.export_saved_model(options)
  assert os.listdir(tmp_path) == ["checkout"] and os.listdir(checkout) == ["keep.txt"]


def test_an_export_dir_under_a_file_is_refused_before_the_checkpoint_is_read(tmp_path):
  (tmp_path / "a_file").write_text("")
  options = options_lib.ExportOptions(
    checkpoint_path=str(tmp_path / "missing.ckpt"), export_dir=str(tmp_path / "a_file" / "module")
  )
  # The checkpoint does not exist either: the export directory is what gets named.
  with pytest.raises(files.UnwritableError, match="a_file/module: cannot create it"):
    export_lib.export_saved_model(options)
  assert os.listdir(tmp_path) == ["a_file"]


def test_an_unwritable_export_dir_is_reported_before_tensorflow_is_imported(tmp_path):
  prefix = tmp_path / "mobilenet_v2_0.75_96.ckpt"
  pathlib.Path(f"{prefix}.index").write_bytes(b"not read: the export directory comes first")
  export_dir = tmp_path / f"{prefix}.index" / "module"
  result = _run_binary(
    f"--checkpoint_path={prefix}", f"--export_dir={export_dir}", blocked=["tensorflow"]
  )
  assert (result.returncode, result.stderr.splitlines()) == (
    1,
    [f"error: {export_dir}: cannot create it, {prefix}.index is not a directory"],
  )


def test_a_directory_in_a_write_protected_place_is_reported_by_check_writable(tmp_path):
  protected = tmp_path / "protected"
  protected.mkdir()
  protected.chmod(0o555)
  try:
    if os.access(protected, os.W_OK):
      pytest.skip("running as root: permissions do not stop writing")
    with pytest.raises(
      files.UnwritableError,
      match=f"{protected}/new/module: cannot create {protected}/new \\(Permission denied\\)",
    ):
      files.check_writable(protected / "new" / "module")
    with pytest.raises(files.UnwritableError, match=f"cannot write in {protected} \\(Permission"):
      files.check_writable(protected / "module")
  finally:
    protected.chmod(0o755)
  files.check_writable(tmp_path / "several" / "new" / "levels")
  assert os.listdir(tmp_path) == ["protected"]  # nothing created


def _checkpoint_folder(root, names):
  root.mkdir()
  for name in names:
    (root / f"{name}.index").write_bytes(b"")
  return root


@pytest.mark.parametrize(
  "names,message",
  [
    (
      ["mobilenet_v2_0.75_96.ckpt"],
      "{folder}: a directory, not a checkpoint prefix; did you mean "
      "{folder}/mobilenet_v2_0.75_96.ckpt?",
    ),
    (
      ["mobilenet_v2_1.0_224.ckpt", "mobilenet_v2_0.75_96.ckpt"],
      "{folder}: a directory, not a checkpoint prefix; it holds 2 checkpoints, pass one of: "
      "{folder}/mobilenet_v2_0.75_96.ckpt, {folder}/mobilenet_v2_1.0_224.ckpt",
    ),
    ([], "{folder}: a directory with no checkpoint (no *.index file)"),
  ],
)
def test_a_checkpoint_folder_names_the_checkpoints_inside(tmp_path, names, message):
  folder = _checkpoint_folder(tmp_path / "checkpoints", names)
  result = _run_binary(
    f"--checkpoint_path={folder}", f"--export_dir={tmp_path / 'out'}", blocked=["tensorflow"]
  )
  assert (result.returncode, result.stderr.splitlines()) == (
    1,
    ["error: " + message.format(folder=folder)],
  )


@pytest.fixture
def read_only_dir(tmp_path):
  """A directory on a read-only file system (a tmpfs mounted ro; needs root)."""
  mount_point = tmp_path / "read_only"
  mount_point.mkdir()
  mounted = subprocess.run(
    ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount_point)],
    capture_output=True,
    check=False,
  )
  if mounted.returncode != 0:
    pytest.skip("mounting a read-only tmpfs needs root: " + mounted.stderr.decode().strip())
  yield mount_point
  subprocess.run(["umount", str(mount_point)], check=False)


def test_a_read_only_file_system_is_refused_before_the_checkpoint_is_read(read_only_dir, tmp_path):
  # The checkpoint is there but unreadable: reading it would be another error.
  prefix = tmp_path / "mobilenet_v2_0.75_96.ckpt"
  pathlib.Path(f"{prefix}.index").write_bytes(b"not a checkpoint index")
  export_dir = read_only_dir / "out" / "module"
  # At once, as the README says: before TensorFlow is imported (seconds of start-up).
  result = _run_binary(
    f"--checkpoint_path={prefix}", f"--export_dir={export_dir}", blocked=["tensorflow"]
  )
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
    f"error: {export_dir}: cannot create {read_only_dir / 'out'} (Read-only file system)"
  ]


# --- helpers -------------------------------------------------------------------------------
def _copy_checkpoint(prefix, directory):
  for suffix in (".index", ".data-00000-of-00001"):
    shutil.copy(prefix + suffix, directory / (os.path.basename(prefix) + suffix))
  return str(directory / os.path.basename(prefix))


def _write_checkpoint(values, prefix):
  # The op a Saver runs, without building a graph of hundreds of variables first.
  names = sorted(values)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  tf.raw_ops.SaveV2(
    prefix=prefix,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[values[name] for name in names],
  )


# --- the binary ------------------------------------------------------------------------------
def _run_binary(*flags, **options):
  return binaries.run("export.export_saved_model", *flags, **options)


def _copy_named(prefix, directory, name):
  directory.mkdir(parents=True, exist_ok=True)
  for suffix in (".index", ".data-00000-of-00001"):
    shutil.copy(prefix + suffix, directory / f"{name}.ckpt{suffix}")
  return str(directory / f"{name}.ckpt")


@pytest.mark.slow
def test_binary_exports_quietly_says_what_it_did_and_takes_the_size_from_the_file_name(
  synthetic_checkpoint_075_96, tmp_path
):
  # A 0.75 checkpoint renamed as if it were 128-pixel: without --image_size the module takes
  # 128x128 images (the size is not stored in a checkpoint; its name is all there is).
  prefix = _copy_named(synthetic_checkpoint_075_96, tmp_path / "ckpt", "mobilenet_v2_0.75_128")
  export_dir = tmp_path / "module"
  result = _run_binary(
    f"--checkpoint_path={prefix}",
    "--depth_multiplier=0.75",
    "--module_type=feature_vector",
    "--version=4",
    f"--export_dir={export_dir}",
    fresh=True,  # what TensorFlow's start-up prints is the test
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines() == [
    "EMA weights: restored 262 variables (158 from EMA shadows, 104 raw); ignored 317 extra "
    "keys (global_step, optimizer slots, unused shadows)",
    f"exported mobilenet_v2 0.75 128x128 feature_vector version 4 to {export_dir}",
  ]
  assert result.stderr == ""  # TensorFlow's start-up notices are not the user's business
  # Version 4 has no serving signature: its traced calls give the input shape.
  loaded = tf.saved_model.load(str(export_dir))
  traced = loaded.__call__.concrete_functions
  assert traced and {
    tuple(call.structured_input_signature[0][0].shape.as_list()) for call in traced
  } == {(None, 128, 128, 3)}
  assert loaded(tf.zeros([1, 128, 128, 3])).shape == (1, 1280)


@pytest.mark.parametrize(
  "flags,exit_code,message",
  [
    (
      ("--module_type=detection",),
      2,
      "error: flag --module_type=detection: value should be one of <classification|feature_vector>",
    ),
    (
      ("--version=3",),
      2,
      "error: --version: version 3 ('hub' format) cannot be produced by this "
      "pipeline; it produces versions 4, 5",
    ),
    (
      ("--checkpoint_path={named}", "--image_size=96"),
      2,
      "error: --image_size=96 contradicts the checkpoint's file name "
      "mobilenet_v2_1.0_224.ckpt, which has image_size 224",
    ),
    (
      ("--checkpoint_path={named}", "--variant=mobilenet_v2_075_96"),
      2,
      "error: --variant=mobilenet_v2_075_96 has depth_multiplier 0.75, but the checkpoint's "
      "file name mobilenet_v2_1.0_224.ckpt says 1.0",
    ),
    (
      ("--export_dir={nonempty}",),
      2,
      "error: {nonempty}: directory exists and is not empty (pass --overwrite to replace it)",
    ),
    (("--export_dir=",), 2, "error: flag --export_dir=: is empty"),
    (
      ("--batch_norm_momentum_default=1.5",),
      2,
      "error: --batch_norm_momentum_default: batch-norm momentum default must lie in [0, 1], "
      "got 1.5",
    ),
    (
      # A checkout or a home directory is never an earlier export: --overwrite keeps away.
      ("--export_dir={nonempty}", "--overwrite"),
      2,
      "error: {nonempty}: not replaced: --overwrite replaces an earlier export, and this "
      "directory holds no saved_model.pb; remove it yourself or choose another --export_dir",
    ),
    (
      ("--checkpoint_path={missing}",),
      1,
      "error: {missing}: no checkpoint there (expected {missing}.index and its data file, or a "
      "released .tgz archive)",
    ),
  ],
)
def test_binary_errors_are_one_line_with_the_documented_exit_code(
  tmp_path, flags, exit_code, message
):
  paths = {
    "missing": str(tmp_path / "missing.ckpt"),
    "nonempty": str(tmp_path / "full"),
    "named": str(tmp_path / "mobilenet_v2_1.0_224.ckpt"),
  }
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "keep.txt").write_text("mine")
  flags = [flag.format(**paths) for flag in flags]
  if not any(flag.startswith("--checkpoint_path") for flag in flags):
    flags.append(f"--checkpoint_path={paths['missing']}")
  if not any(flag.startswith("--export_dir") for flag in flags):
    flags.append(f"--export_dir={tmp_path / 'module'}")
  # All reported at once: before TensorFlow is imported (seconds of start-up).
  result = _run_binary(*flags, blocked=["tensorflow"])
  assert (result.returncode, result.stderr.splitlines()) == (exit_code, [message.format(**paths)])
  assert not (tmp_path / "module").exists()
  assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
