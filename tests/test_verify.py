"""Verification: faithful exports pass, and each kind of unfaithful export fails by name."""

import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys

import binaries
import numpy as np
import pytest
import tensorflow as tf
import warm_python

from export import verify
from export.base import files
from export.base import probe_images
from export.core import checkpoint
from export.core import labels
from export.core import reusable_module
from export.testing import synthetic_checkpoint
from export.verification import checks
from export.verification import expectation as expectation_lib
from export.verification import golden as golden_lib
from export.verification import report as report_lib
from export.verification import verifier
from nets import architecture
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
GOLDENS = {
  module_type: GOLDEN_DIR / f"mobilenet_v2_0.75_96_{module_type}_seed0.npz"
  for module_type in ("classification", "feature_vector")
}
CLASSIFIER = variants.ModelSpec(0.75, 96, "classification")
FEATURES = CLASSIFIER.with_module_type("feature_vector")
CHANGED_WEIGHT = "MobilenetV2/expanded_conv_5/project/weights"


@pytest.fixture(scope="module")
def prefix(synthetic_checkpoint_075_96):
  """The session's seed-0 0.75/96 synthetic checkpoint: the one the committed goldens hold."""
  return synthetic_checkpoint_075_96


@pytest.fixture(scope="module")
def classification_dir(exported):
  return exported().export_dir


@pytest.fixture(scope="module")
def feature_vector_dir(exported):
  return exported(spec=FEATURES).export_dir


@pytest.fixture(scope="module")
def raw_dir(exported):
  return exported(use_ema=False).export_dir


@pytest.fixture(scope="module")
def unscaled_dir(prefix, tmp_path_factory):
  """The faithful network and weights, but `__call__` feeds x in [0, 1] without 2x - 1."""
  values = checkpoint.model_values(prefix, 0.75).values
  root = reusable_module.build(values, CLASSIFIER, 0.99, labels_file=labels.LABELS_FILE)
  network = root.network

  def call_without_rescaling(inputs, training=False, batch_norm_momentum=0.99):
    return network(inputs, training, batch_norm_momentum)  # the bug: no 2x - 1

  root.__call__ = tf.function(call_without_rescaling)
  export_dir = str(tmp_path_factory.mktemp("verify_exports") / "unscaled")
  reusable_module.save(root, export_dir, reusable_module.trace(root, serving_signature=False))
  return export_dir


@pytest.fixture(scope="module")
def expectation(prefix):
  return expectation_lib.expectation_from_checkpoint(prefix, CLASSIFIER)


def _checks(report):
  return {check.name: check for check in report.checks}


@pytest.fixture(scope="module")
def cli_runs(prefix, classification_dir, unscaled_dir, tmp_path_factory):
  """The binary run three ways, concurrently (each run spends seconds importing TensorFlow).

  pass: writes a golden and verifies a faithful export; fail: an unscaled export against the
  committed golden; corrupt: a checkpoint whose data file is cut short.
  """
  scratch = tmp_path_factory.mktemp("cli")
  corrupt = str(scratch / os.path.basename(prefix))
  shutil.copy(prefix + ".index", corrupt + ".index")
  data = pathlib.Path(prefix + synthetic_checkpoint.DATA_SUFFIX).read_bytes()
  pathlib.Path(corrupt + synthetic_checkpoint.DATA_SUFFIX).write_bytes(data[: len(data) // 2])
  arguments = {
    "pass": [
      f"--write_golden={scratch / 'golden.npz'}",
      f"--checkpoint_path={prefix}",
      f"--export_dir={classification_dir}",
      "--variant=mobilenet_v2_075_96",
      "--module_type=classification",
      f"--report={scratch / 'report.json'}",
    ],
    "fail": [
      f"--export_dir={unscaled_dir}",
      f"--golden={GOLDENS['classification']}",
      "--depth_multiplier=0.75",
      "--image_size=96",
    ],
    "corrupt": [f"--export_dir={unscaled_dir}", f"--checkpoint_path={corrupt}"],
  }
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  processes = {}
  try:
    for name, args in arguments.items():
      # Files, not pipes: nobody reads a pipe while the runs go on, and a full one would block.
      with open(scratch / f"{name}.out", "w") as out, open(scratch / f"{name}.err", "w") as err:
        processes[name] = subprocess.Popen(
          [warm_python.executable(), "-m", "export.verify", *args],
          cwd=ROOT,
          env=env,
          stdout=out,
          stderr=err,
        )
    for process in processes.values():
      process.wait(timeout=180)
  finally:
    for process in processes.values():
      if process.poll() is None:
        process.kill()
  runs = {
    name: subprocess.CompletedProcess(
      process.args,
      process.returncode,
      (scratch / f"{name}.out").read_text(),
      (scratch / f"{name}.err").read_text(),
    )
    for name, process in processes.items()
  }
  return scratch, corrupt, runs


# --- the probe set -----------------------------------------------------------------------
def test_probe_set_is_fixed_quantized_and_works_at_any_size():
  names, images = probe_images.probe_batch(96)
  assert names == list(probe_images.PROBE_NAMES) and images.shape == (16, 96, 96, 3)
  assert images.dtype == np.float32 and images.min() == 0.0 and images.max() == 1.0
  np.testing.assert_array_equal(images, probe_images.probe_batch(96)[1])
  np.testing.assert_array_equal(np.round(images * 255) / np.float32(255), images)
  assert len({image.tobytes() for image in images}) == 16
  assert probe_images.probe_batch(37)[1].shape == (16, 37, 37, 3)
  photo = probe_images.synthetic_photo("landscape", 50, seed=1)
  assert photo.shape == (50, 50, 3) and not np.array_equal(
    photo, probe_images.synthetic_photo("landscape", 50, seed=0)
  )
  assert probe_images.batch_plan(16) == [(0, 1), (0, 8), (8, 16)]
  with pytest.raises(ValueError, match="unknown photo kind"):
    probe_images.synthetic_photo("portrait", 96)


# --- faithful and unfaithful exports -----------------------------------------------------
def test_faithful_export_passes_every_check(classification_dir, prefix, expectation):
  report = verifier.compare(classification_dir, expectation)
  assert report.passed and report.first_failure is None, report.text()
  assert [(c.name, c.status) for c in report.checks] == [
    (name, report_lib.PASS) for name in ("module_type", "variables", "outputs", "top1", "top5")
  ]
  assert report.summary().startswith("PASS")
  saved = json.loads(report.to_json())
  assert (
    saved["passed"] and saved["reference"]["sha256"] == expectation_lib.checkpoint_digest(prefix)[0]
  )
  assert _checks(report)["variables"].details["compared"] == 262
  assert [(row["input"], row["batch_size"]) for row in saved["evaluations"]][:3] == [
    ("noise", 1),
    ("noise", 8),
    ("zeros", 8),
  ]
  assert len(saved["evaluations"]) == 17


def test_a_single_changed_weight_fails_and_is_named(classification_dir, prefix, tmp_path):
  tensors = checkpoint.read_tensors(prefix, checkpoint.read_shapes(prefix))
  shadow = tensors[architecture.ema_name(CHANGED_WEIGHT)] = tensors[
    architecture.ema_name(CHANGED_WEIGHT)
  ].copy()
  shadow[0, 0, 0, 0] += 0.25
  changed = str(tmp_path / os.path.basename(prefix))
  names = sorted(tensors)
  tf.raw_ops.SaveV2(
    prefix=changed,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[tensors[name] for name in names],
  )
  report = verifier.verify(classification_dir, CLASSIFIER, checkpoint_path=changed)
  assert not report.passed
  assert report.first_failure.startswith(
    f"variables: 1 of 262 differ, first {CHANGED_WEIGHT} (max |diff| 0.25)"
  )
  (differ,) = _checks(report)["variables"].details["differ"]
  assert differ["name"] == CHANGED_WEIGHT and differ["elements_differ"] == 1


def test_export_of_raw_weights_fails_on_variables_and_outputs(raw_dir, expectation):
  report = verifier.compare(raw_dir, expectation)
  assert report.first_failure.startswith(
    "variables: 158 of 262 differ, first MobilenetV2/Conv/weights (max |diff| "
  )
  assert _checks(report)["outputs"].status == report_lib.FAIL


@pytest.mark.slow
def test_export_with_unscaled_inputs_fails_on_outputs(unscaled_dir, expectation):
  report = verifier.compare(unscaled_dir, expectation)
  checks = _checks(report)
  assert checks["variables"].status == report_lib.PASS
  assert report.first_failure.startswith("outputs: max |diff| ")
  assert "> tolerance" in report.first_failure and "on input '" in report.first_failure
  assert checks["top1"].status == report_lib.FAIL


def test_export_of_the_other_module_type_fails(feature_vector_dir, classification_dir, expectation):
  report = verifier.compare(feature_vector_dir, expectation)
  assert report.first_failure == (
    "module_type: the export returns float32 [1, 1280] for a batch of 1 (a feature_vector "
    "export?), expected [N, 1001] logits (classification)"
  )
  assert _checks(report)["variables"].summary == (
    "2 missing, first MobilenetV2/Logits/Conv2d_1c_1x1/weights"
  )
  features = golden_lib.expectation_from_golden(GOLDENS["feature_vector"], FEATURES)
  report = verifier.compare(classification_dir, features)
  assert report.first_failure.startswith(
    "module_type: the export returns float32 [1, 1001] for a batch of 1 (a classification export?)"
  )


def test_top_k_agreement_forgives_only_ties_within_tolerance():
  # Reference ranking: 1, 2, 7, 6, 5 | 4; classes 1 and 2, and 5 and 4, tie within 1e-4.
  ref = np.array([0.0, 5.0, 5.0 - 1e-5, 1.0, 3.0 - 2e-5, 3.0, 4.0, 4.5])
  swapped = ref.copy()
  swapped[[1, 2, 4, 5]] = ref[[2, 1, 5, 4]]
  agreement = checks._top_k_agreement(swapped, ref, tolerance=1e-4)
  assert agreement["top1_agree"] and agreement["top1_tie"]
  assert agreement["top5_agree"] and agreement["top5_tie"]
  far = ref.copy()
  far[3] = 6.0
  agreement = checks._top_k_agreement(far, ref, tolerance=1e-4)
  assert not agreement["top1_agree"] and not agreement["top5_agree"]


# --- goldens -----------------------------------------------------------------------------
@pytest.mark.slow
def test_golden_written_in_a_subprocess_verifies_an_export_made_here(prefix, cli_runs):
  scratch, _, runs = cli_runs
  golden = scratch / "golden.npz"
  assert runs["pass"].returncode == 0, runs["pass"].stderr
  assert runs["pass"].stdout.splitlines()[-1].startswith("PASS")
  assert json.loads((scratch / "report.json").read_text())["passed"]
  metadata, inputs, outputs = golden_lib.read_golden(str(golden))
  assert (metadata["format_version"], metadata["variant"], metadata["module_type"]) == (
    1,
    "mobilenet_v2_0.75_96",
    "classification",
  )
  assert metadata["checkpoint"]["sha256"] == expectation_lib.checkpoint_digest(prefix)[0]
  assert metadata["input_names"] == list(probe_images.PROBE_NAMES)
  assert "float64" in metadata["reference"]
  assert inputs.shape == (16, 96, 96, 3) and outputs.shape == (16, 1001)
  # The committed golden's bytes: it verifies the export made here in
  # test_committed_goldens_verify_fresh_exports.
  assert golden.read_bytes() == GOLDENS["classification"].read_bytes()


def test_golden_outputs_agree_with_the_tf_slim_graph(prefix, expectation):
  golden = expectation_lib.expectation_from_checkpoint(
    prefix, CLASSIFIER, reference_network=expectation_lib.FLOAT64
  )
  assert golden.source["network"] == expectation_lib.FLOAT64
  np.testing.assert_array_equal(golden.inputs, expectation.inputs)
  scale = np.abs(expectation.outputs).max()
  # float64 against float32 kernels: far inside the verification tolerance.
  assert np.abs(golden.outputs - expectation.outputs).max() < 1e-5 * (1 + scale)
  for name, value in golden.variables.items():
    np.testing.assert_array_equal(value, expectation.variables[name], err_msg=name)


def test_a_golden_of_tensorflow_outputs_is_refused(expectation, tmp_path):
  with pytest.raises(verifier.VerifyInputError, match="float64 network"):
    golden_lib.save_golden(str(tmp_path / "golden.npz"), expectation)
  assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_make_goldens_rewrites_the_committed_bytes_under_other_kernels(tmp_path):
  # One intra-op thread and oneDNN off change TensorFlow's float kernels; the goldens
  # (float64, fixed summation order, from a synthetic checkpoint) must not change a bit.
  env = dict(
    os.environ,
    TF_NUM_INTRAOP_THREADS="1",
    TF_ENABLE_ONEDNN_OPTS="0",
    OMP_NUM_THREADS="1",
    OPENBLAS_NUM_THREADS="1",
  )
  result = subprocess.run(
    [sys.executable, str(ROOT / "scripts" / "make_goldens.py"), f"--output_dir={tmp_path}"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert result.returncode == 0, result.stderr
  for path in GOLDENS.values():
    assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_committed_goldens_verify_fresh_exports(classification_dir, feature_vector_dir):
  for spec, export_dir in ((CLASSIFIER, classification_dir), (FEATURES, feature_vector_dir)):
    module_type = spec.module_type
    report = verifier.verify(export_dir, spec, golden_path=str(GOLDENS[module_type]))
    assert report.passed, report.text()
    assert _checks(report)["variables"].status == report_lib.SKIPPED
    assert "cannot be compared" in _checks(report)["variables"].summary
    _, inputs, _ = golden_lib.read_golden(str(GOLDENS[module_type]))
    # The generator still draws the stored set, exactly (it uses exact arithmetic only).
    np.testing.assert_array_equal(probe_images.probe_uint8(96)[1], inputs)
  assert sum(path.stat().st_size for path in GOLDEN_DIR.glob("*.npz")) < 1_500_000


@pytest.mark.parametrize(
  "what,arguments,error,match",
  [
    (
      "a golden of another multiplier",
      dict(golden="classification", depth_multiplier=1.0),
      verifier.VerifyInputError,
      "golden is for depth multiplier 0.75",
    ),
    (
      "a golden of another module type",
      dict(golden="classification", module_type="feature_vector"),
      verifier.VerifyInputError,
      "classification; verifying .*feature_vector",
    ),
    (
      "an export that is not there",
      dict(export_dir="nowhere", checkpoint="session"),
      verifier.VerifyInputError,
      "export directory not found",
    ),
    (
      "a checkpoint that is not there",
      dict(checkpoint="missing.ckpt"),
      checkpoint.CheckpointError,
      "no checkpoint there",
    ),
    (
      "a golden that is not a golden",
      dict(golden="garbage.npz"),
      verifier.VerifyInputError,
      r"garbage\.npz: not a golden file \(expected a \.npz that --write_golden writes\)$",
    ),
    (
      "a picture given as a golden",
      dict(golden="text.jpg"),
      verifier.VerifyInputError,
      r"text\.jpg: not a golden file \(expected a \.npz that --write_golden writes\)$",
    ),
    (
      "a .npz of other arrays",
      dict(golden="other.npz"),
      verifier.VerifyInputError,
      r"other\.npz: not a golden file \(a \.npz without outputs\.npy, metadata\.npy\)$",
    ),
    (
      "both a checkpoint and a golden",
      dict(checkpoint="session", golden="classification"),
      ValueError,
      "exactly one",
    ),
  ],
)
def test_inputs_that_prevent_verification_are_named(
  classification_dir, prefix, tmp_path, what, arguments, error, match
):
  del what  # the test's name in the report
  (tmp_path / "garbage.npz").write_bytes(b"not a zip")
  (tmp_path / "text.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64))
  np.savez(tmp_path / "other.npz", inputs=np.zeros((1, 96, 96, 3), np.uint8))
  paths = {"classification": str(GOLDENS["classification"]), "session": prefix}
  golden_path = arguments.get("golden")
  checkpoint_path = arguments.get("checkpoint")
  with pytest.raises(error, match=match):
    verifier.verify(
      str(tmp_path / arguments["export_dir"]) if "export_dir" in arguments else classification_dir,
      golden_path=golden_path and paths.get(golden_path, str(tmp_path / golden_path)),
      checkpoint_path=checkpoint_path
      and paths.get(checkpoint_path, str(tmp_path / checkpoint_path)),
      spec=variants.ModelSpec(
        arguments.get("depth_multiplier", 0.75),
        96,
        arguments.get("module_type", "classification"),
      ),
    )


def test_an_export_of_another_size_is_refused(classification_dir):
  with pytest.raises(verifier.VerifyInputError, match=r"takes 96x96 images.*image size 128"):
    verifier.load_export(classification_dir, 128)


# --- the binary --------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_exit_codes_on_failure_and_on_input_errors(cli_runs):
  _, corrupt, runs = cli_runs
  assert runs["fail"].returncode == 1, runs["fail"].stderr
  assert runs["fail"].stdout.splitlines()[-1].startswith("FAIL outputs: max |diff| ")
  # A corrupt checkpoint: one line naming it, no traceback, exit 1 like the exporter's.
  assert runs["corrupt"].returncode == 1, runs["corrupt"].stderr
  assert "Traceback" not in runs["corrupt"].stderr
  last = runs["corrupt"].stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: {corrupt}") and "cannot read" in last


@pytest.mark.parametrize("where", ["a missing directory", "a file", "a directory"])
def test_an_unusable_report_path_is_one_line_before_any_work(tmp_path, where):
  (tmp_path / "file").write_text("")
  report, message = {
    "a missing directory": (
      tmp_path / "missing" / "r.json",
      f"{tmp_path / 'missing'} does not exist; the report's directory must exist",
    ),
    "a file": (
      tmp_path / "file" / "r.json",
      f"{tmp_path / 'file'} is not a directory; the report's directory must exist",
    ),
    "a directory": (tmp_path, "is a directory, expected a file name"),
  }[where]
  # TensorFlow cannot even be imported: the path is checked before the verification starts.
  run = binaries.run(
    "export.verify",
    f"--export_dir={tmp_path / 'export'}",
    f"--golden={GOLDENS['classification']}",
    f"--report={report}",
    blocked=("tensorflow",),
  )
  assert run.returncode == 1, run.stderr
  assert run.stderr.splitlines() == [f"error: --report={report}: {message}"]
  assert not (tmp_path / "missing").exists()
  assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
def test_a_golden_under_a_file_is_named_as_the_golden(synthetic_checkpoint_075_96, tmp_path):
  (tmp_path / "file").write_text("")
  golden = tmp_path / "file" / "golden.npz"
  run = binaries.run(
    "export.verify", f"--checkpoint_path={synthetic_checkpoint_075_96}", f"--write_golden={golden}"
  )
  assert (run.returncode, run.stderr.splitlines()) == (
    1,
    [f"error: {golden}: cannot create it, {tmp_path / 'file'} is not a directory"],
  )


def test_the_results_are_printed_when_the_report_cannot_be_written(
  classification_dir, tmp_path, monkeypatch, capsys
):
  def disk_full(unused_report, unused_path):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(report_lib.Report, "write", disk_full)
  report = tmp_path / "r.json"
  options = verify.Options(
    export_dir=classification_dir,
    checkpoint_path=None,
    golden=str(GOLDENS["classification"]),
    write_golden=None,
    report=str(report),
    spec=CLASSIFIER,
  )
  with pytest.raises(files.UnwritableError) as error:
    verify.verify_from_options(options)
  assert str(error.value) == (
    f"--report={report}: the report was not written (No space left on device); "
    "the results are above"
  )
  printed = capsys.readouterr().out.splitlines()
  assert [line.split()[:2] for line in printed[:-1]] == [
    ["PASS", "module_type:"],
    ["SKIPPED", "variables:"],
    ["PASS", "outputs:"],
    ["PASS", "top1:"],
    ["PASS", "top5:"],
  ]
  assert printed[-1].startswith(f"PASS: {classification_dir} matches the golden")
