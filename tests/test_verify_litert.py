"""export.verify on LiteRT files: each type against the checkpoint's golden outputs, held to
what its type promises; the metadata read on the way, as classify reads it."""

import pathlib

import pytest

from export.formats import litert as litert_format
from export.formats import registry
from export.formats.litert import converter as litert
from export.verification import checks as checks_lib
from export.verification import golden
from export.verification import report as report_lib
from export.verification import verifier
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC = variants.ModelSpec(0.75, 96, "classification")
GOLDEN = str(ROOT / "tests" / "golden" / "mobilenet_v2_0.75_96_classification_seed0.npz")


@pytest.fixture(scope="module")
def result(exported_with_every_format):
  return exported_with_every_format(SPEC.module_type)


@pytest.mark.parametrize("model_type", litert.TYPES)
def test_every_type_verifies_against_the_golden(result, model_type):
  path = litert_format.path_beside(result.export_dir, model_type)
  assert litert_format.FORMAT.load(path).kind == model_type  # read from the model's tensors
  report = verifier.verify(path, SPEC, golden_path=GOLDEN)
  assert report.passed, report.first_failure
  statuses = {check.name: check.status for check in report.checks}
  assert statuses["variables"] == report_lib.SKIPPED
  if model_type == "float32":  # verify's own tolerance, as for a SavedModel
    assert statuses == {
      "module_type": "pass",
      "variables": "skipped",
      "outputs": "pass",
      "top1": "pass",
      "top5": "pass",
    }
  else:
    (outputs,) = [check for check in report.checks if check.name == "outputs"]
    assert outputs.summary.startswith(f"{model_type} model within its type's threshold: ")
    assert outputs.details["threshold"] == dict(litert_format.THRESHOLDS[model_type].__dict__)


def test_which_types_are_held_to_their_own_threshold():
  litert_fmt = registry.by_name("litert")
  assert verifier.own_threshold(litert_fmt, "float32") is None
  for model_type in ("float16", "int8", "uint8"):
    assert verifier.own_threshold(litert_fmt, model_type) == (
      model_type,
      litert_format.THRESHOLDS[model_type],
    )
  assert verifier.own_threshold(registry.by_name("saved_model"), "") is None
  assert verifier.own_threshold(registry.by_name("keras"), "") is None


def test_a_type_short_of_its_threshold_fails_outputs():
  expectation = golden.expectation_from_golden(GOLDEN, SPEC)
  reversed_logits = expectation.outputs[:, ::-1].copy()  # the same values, the wrong classes
  runs = [((0, len(reversed_logits)), reversed_logits)]
  checks, _ = checks_lib.run_checks(runs, expectation, None, ("int8", litert_format.FULL_INTEGER))
  (outputs,) = [check for check in checks if check.name == "outputs"]
  assert outputs.status == report_lib.FAIL
  assert outputs.summary.startswith("int8 model short of its type's threshold: min cosine")
