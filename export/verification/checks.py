"""The checks: what the export returns, what it holds, and how its outputs compare.

In this order, the first failing one naming the verdict: module_type, variables (bit for
bit), outputs (within OUTPUT_TOLERANCE of the reference's scale), top1 and top5 (forgiving
only ties that the reference itself cannot tell apart within the tolerance). A format type
that computes another function (LiteRT float16, int8, uint8) is held to the agreement its
format promises instead (export/formats/agreement.py), and an export that holds no TF-Slim
variables (LiteRT) has its variables check skipped.
"""

import math
from typing import Optional

import numpy as np

from export.formats import agreement as agreement_lib
from export.verification import expectation as expectation_lib
from export.verification import report as report_lib
from nets import architecture

TOP_K = 5


def _module_type_check(
  runs, expectation: expectation_lib.Expectation, variable_names
) -> report_lib.Check:
  expected, module_type = expectation.outputs.shape[1], expectation.spec.module_type
  kinds = {"classification": "logits", "feature_vector": "features"}
  want = f"[N, {expected}] {kinds[module_type]} ({module_type})"
  has_logits = any(f"/{architecture.LOGITS_SCOPE}/" in name for name in variable_names)
  details = {"expected_output_shape": ["N", expected], "has_logits_variables": has_logits}
  for (start, stop), outputs in runs:
    shape = list(outputs.shape)
    details["output_shape"] = ["N"] + shape[1:]
    if outputs.dtype != np.float32 or shape != [stop - start, expected]:
      looks_like = ""
      if outputs.ndim == 2 and outputs.dtype == np.float32:
        other = "classification" if has_logits else "feature_vector"
        if other != module_type:
          looks_like = f" (a {other} export?)"
      return report_lib.Check(
        "module_type",
        report_lib.FAIL,
        f"the export returns {outputs.dtype.name} {shape} for a batch of "
        f"{stop - start}{looks_like}, expected {want}",
        details,
      )
  return report_lib.Check("module_type", report_lib.PASS, f"outputs {want}", details)


def _variables_check(held: Optional[dict], expected: Optional[dict]) -> report_lib.Check:
  if held is None:
    return report_lib.Check(
      "variables",
      report_lib.SKIPPED,
      "the export holds its weights as constants under no TF-Slim name (LiteRT, ONNX, TF.js: "
      "folded with batch norm): its outputs are what is checked",
    )
  if expected is None:
    return report_lib.Check(
      "variables",
      report_lib.SKIPPED,
      "no checkpoint given: a golden stores outputs only, so the variables cannot be compared",
    )
  got = held
  missing = [name for name in expected if name not in got]
  extra = sorted(set(got) - set(expected))
  differ = []
  for name, want in expected.items():
    if name in got and not _exactly_equal(got[name], want):
      differ.append({"name": name, **_difference(got[name], want)})
  details = {
    "compared": len(expected) - len(missing),
    "differ": differ,
    "missing": missing,
    "extra": extra,
  }
  if not (differ or missing or extra):
    return report_lib.Check(
      "variables", report_lib.PASS, f"{len(expected)} of {len(expected)} exactly equal", details
    )
  problems = []
  if differ:
    first = differ[0]
    how = (
      f"max |diff| {first['max_abs_diff']:.3g}" if "max_abs_diff" in first else first["mismatch"]
    )
    problems.append(f"{len(differ)} of {len(expected)} differ, first {first['name']} ({how})")
  if missing:
    problems.append(f"{len(missing)} missing, first {missing[0]}")
  if extra:
    problems.append(f"{len(extra)} extra, first {extra[0]}")
  return report_lib.Check("variables", report_lib.FAIL, "; ".join(problems), details)


def _exactly_equal(got: np.ndarray, want: np.ndarray) -> bool:
  return (
    got.dtype == want.dtype
    and got.shape == want.shape
    and np.array_equal(got, want, equal_nan=True)
  )


def _difference(got: np.ndarray, want: np.ndarray) -> dict:
  if got.shape != want.shape:
    return {"mismatch": f"shape {list(got.shape)}, expected {list(want.shape)}"}
  if got.dtype != want.dtype:
    return {"mismatch": f"dtype {got.dtype.name}, expected {want.dtype.name}"}
  diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
  return {
    "max_abs_diff": float(np.nanmax(diff)) if not np.isnan(diff).all() else math.nan,
    "elements_differ": int(np.count_nonzero(~(diff == 0))),
  }


def _evaluations(runs, expectation: expectation_lib.Expectation) -> list:
  """Error figures and agreement for each (input, batch size) the export ran on."""
  rows = []
  for (start, stop), outputs in runs:
    for index in range(start, stop):
      got = outputs[index - start].astype(np.float64)
      ref = expectation.outputs[index].astype(np.float64)
      rows.append(
        _evaluation(
          expectation.input_names[index],
          stop - start,
          got,
          ref,
          expectation.spec.module_type == "classification",
        )
      )
  return rows


def _evaluation(
  name: str, batch_size: int, got: np.ndarray, ref: np.ndarray, classification: bool
) -> dict:
  scale = float(np.abs(ref).max())
  tolerance = report_lib.OUTPUT_TOLERANCE * (1.0 + scale)
  error = float(np.abs(got - ref).max())  # NaN if the export gave NaN
  row = {
    "input": name,
    "batch_size": batch_size,
    "max_abs_error": error,
    "max_rel_error": error / scale if scale > 0 else (0.0 if error == 0 else math.inf),
    "max_abs_reference": scale,
    "tolerance": tolerance,
    "within_tolerance": bool(error <= tolerance),
  }
  if classification:
    row.update(_top_k_agreement(got, ref, tolerance))
  return row


def _top_k_agreement(got: np.ndarray, ref: np.ndarray, tolerance: float) -> dict:
  got_top1, ref_top1 = int(np.argmax(got)), int(np.argmax(ref))
  # A disagreement on classes the reference itself cannot tell apart is noise, not an error.
  top1_tie = got_top1 != ref_top1 and ref[ref_top1] - ref[got_top1] <= tolerance
  got_top5, ref_top5 = _top_k(got), _top_k(ref)
  kth = ref[ref_top5].min()
  changed = set(got_top5) ^ set(ref_top5)
  top5_tie = bool(changed) and all(abs(ref[c] - kth) <= tolerance for c in changed)
  return {
    "top1_export": got_top1,
    "top1_reference": ref_top1,
    "top1_agree": got_top1 == ref_top1 or bool(top1_tie),
    "top1_tie": bool(top1_tie),
    "top5_export": got_top5,
    "top5_reference": ref_top5,
    "top5_agree": not changed or top5_tie,
    "top5_tie": top5_tie,
  }


def _top_k(values: np.ndarray) -> list:
  return [int(i) for i in np.argsort(-values, kind="stable")[:TOP_K]]


def _outputs_check(rows: list) -> report_lib.Check:
  worst = max(rows, key=lambda row: _ratio(row["max_abs_error"], row["tolerance"]))
  details = {
    "evaluations": len(rows),
    "max_abs_error": max(r["max_abs_error"] for r in rows),
    "max_rel_error": max(r["max_rel_error"] for r in rows),
    "worst_input": worst["input"],
    "worst_batch_size": worst["batch_size"],
    "worst_fraction_of_tolerance": _ratio(worst["max_abs_error"], worst["tolerance"]),
  }
  where = f"on input '{worst['input']}'" + (" (batch size 1)" if worst["batch_size"] == 1 else "")
  if not worst["within_tolerance"]:
    return report_lib.Check(
      "outputs",
      report_lib.FAIL,
      f"max |diff| {worst['max_abs_error']:.3g} > tolerance {worst['tolerance']:.2g} {where}",
      details,
    )
  return report_lib.Check(
    "outputs",
    report_lib.PASS,
    f"max |diff| {details['max_abs_error']:.2g} on {len(rows)} evaluations; worst "
    f"{where}, at {100 * details['worst_fraction_of_tolerance']:.2g}% of its tolerance",
    details,
  )


def _ratio(error: float, tolerance: float) -> float:
  return math.inf if math.isnan(error) else error / tolerance


def _agreement_check(rows: list, k: int) -> report_lib.Check:
  key = f"top{k}"
  disagree = [row for row in rows if not row[f"{key}_agree"]]
  ties = sum(row[f"{key}_tie"] for row in rows)
  details = {"agree": len(rows) - len(disagree), "evaluations": len(rows), "agree_by_tie": ties}
  tie_note = f" ({ties} by a tie within tolerance)" if ties else ""
  if not disagree:
    return report_lib.Check(
      key, report_lib.PASS, f"{len(rows)} of {len(rows)} agree{tie_note}", details
    )
  first = disagree[0]
  what = "class" if k == 1 else "set"
  return report_lib.Check(
    key,
    report_lib.FAIL,
    f"{len(disagree)} of {len(rows)} differ, first on input '{first['input']}' "
    f"(export {what} {first[f'{key}_export']}, reference {first[f'{key}_reference']})",
    details,
  )


def _output_checks(rows: list, module_type: str) -> list:
  """outputs, top1 and top5; skipped where there is nothing to compare."""
  if not rows:
    return [
      report_lib.Check(name, report_lib.SKIPPED, "the export's outputs have another shape")
      for name in ("outputs", "top1", "top5")
    ]
  if module_type != "classification":
    return [_outputs_check(rows)] + [
      report_lib.Check(name, report_lib.SKIPPED, "feature vectors have no classes")
      for name in ("top1", "top5")
    ]
  return [_outputs_check(rows), _agreement_check(rows, 1), _agreement_check(rows, TOP_K)]


def _own_threshold_checks(
  runs: list, expectation: expectation_lib.Expectation, kind: str, threshold
) -> list:
  """outputs against a type's own agreement threshold (all probe images together); top1
  and top5 are part of it."""
  got = np.zeros(expectation.outputs.shape, np.float64)
  for (start, stop), outputs in runs:
    got[start:stop] = outputs
  module_type = expectation.spec.module_type
  agreement = agreement_lib.measure(kind, got, expectation.outputs, module_type, threshold)
  figures = f"min cosine {agreement.min_cosine:.4f}, mean {agreement.mean_cosine:.4f}"
  if agreement.top1_agreement is not None:
    figures += (
      f", top-1 agreement {agreement.top1_agreement:.0%}, "
      f"top-5 overlap {agreement.top5_overlap:.0%}"
    )
  outputs_check = report_lib.Check(
    "outputs",
    report_lib.PASS if agreement.passed else report_lib.FAIL,
    f"{kind} model within its type's threshold: {figures}"
    if agreement.passed
    else f"{kind} model short of its type's threshold: {'; '.join(agreement.shortfalls)}",
    agreement.as_dict(),
  )
  return [outputs_check] + [
    report_lib.Check(name, report_lib.SKIPPED, f"part of the {kind} outputs threshold")
    for name in ("top1", "top5")
  ]


def run_checks(
  runs: list,
  expectation: expectation_lib.Expectation,
  variables: Optional[dict],
  own_threshold: Optional[tuple] = None,
) -> tuple:
  """(checks, evaluation rows) of an export's `runs` on the probe plan and its variables
  (None: it holds none under TF-Slim names). `own_threshold`, (type, agreement.Threshold),
  holds a type that computes another function than the checkpoint (LiteRT float16, int8,
  uint8) to the agreement its format promises, instead of the elementwise tolerance."""
  variable_names = list(variables or {})
  checks = [
    _module_type_check(runs, expectation, variable_names),
    _variables_check(variables, expectation.variables),
  ]
  rows = _evaluations(runs, expectation) if checks[0].status == report_lib.PASS else []
  if rows and own_threshold is not None:
    return checks + _own_threshold_checks(runs, expectation, *own_threshold), rows
  return checks + _output_checks(rows, expectation.spec.module_type), rows
