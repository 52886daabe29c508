"""The verification report: each check's verdict, the figures behind it, and its JSON form."""

import dataclasses
import json
import math
from typing import Optional

import numpy as np
import tensorflow as tf

from export.base import files
from nets import variants

OUTPUT_TOLERANCE = 1e-4  # max |diff| <= OUTPUT_TOLERANCE * (1 + max |reference|), per input
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
REPORT_FORMAT = "mobilenet_v2_verification_report"
REPORT_VERSION = 1


@dataclasses.dataclass
class Check:
  name: str
  status: str  # PASS, FAIL or SKIPPED
  summary: str  # one line
  details: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Report:
  export_dir: str
  spec: variants.ModelSpec
  reference: dict
  checks: list
  evaluations: list  # per (input, batch size): error figures and agreement
  timings: dict

  @property
  def passed(self) -> bool:
    return all(check.status != FAIL for check in self.checks)

  @property
  def first_failure(self) -> Optional[str]:
    """ "<check>: <summary>" of the first failing check, or None."""
    failed = [check for check in self.checks if check.status == FAIL]
    return f"{failed[0].name}: {failed[0].summary}" if failed else None

  def summary(self) -> str:
    """The verdict line: "PASS ..." or "FAIL <check>: <why>"."""
    if not self.passed:
      return f"FAIL {self.first_failure}"
    skipped = [check.name for check in self.checks if check.status == SKIPPED]
    return (
      f"PASS: {self.export_dir} matches the {self.reference['kind']} "
      f"({', '.join(c.name for c in self.checks if c.status == PASS)})"
      + (f"; not checked: {', '.join(skipped)}" if skipped else "")
    )

  def text(self) -> str:
    lines = [f"  {check.status.upper():7} {check.name}: {check.summary}" for check in self.checks]
    return "\n".join(lines + [self.summary()])

  def to_dict(self) -> dict:
    return _json_safe(
      {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "passed": self.passed,
        "first_failure": self.first_failure,
        "export_dir": self.export_dir,
        "variant": self.spec.name,
        "depth_multiplier": self.spec.depth_multiplier,
        "image_size": self.spec.image_size,
        "module_type": self.spec.module_type,
        "reference": self.reference,
        "tolerance_policy": {
          "outputs": f"max |diff| <= {OUTPUT_TOLERANCE:g} * (1 + max |reference|), per input",
          "top1": "same class on every input, unless the reference's two classes are within "
          "the output tolerance of each other",
          "top5": "same set on every input, unless every class that differs is within the "
          "output tolerance of the reference's 5th largest value",
          "variables": "exactly equal, none missing or extra",
        },
        "checks": [dataclasses.asdict(check) for check in self.checks],
        "evaluations": self.evaluations,
        "tensorflow_version": tf.__version__,
        "timings_seconds": self.timings,
      }
    )

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

  def write(self, path: str) -> None:
    files.write_file(path, self.to_json())


def _json_safe(value):
  """Numpy scalars become Python numbers; NaN and infinities become strings."""
  if isinstance(value, dict):
    return {key: _json_safe(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(item) for item in value]
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value
