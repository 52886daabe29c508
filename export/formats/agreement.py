"""How closely a format's outputs reproduce the SavedModel's on the probe images.

Each format declares, per type, the `Threshold` it must meet against the SavedModel (its
registry entry's `thresholds`: the SavedModel itself exactly, the Keras file within 1e-5 of
the outputs' scale, each LiteRT type as export/formats/litert/__init__.py explains). `measure`
takes the figures, `check` refuses a file that falls short, with one line naming it.
"""

import dataclasses
from typing import Optional

import numpy as np

from export.base import errors

TOP_K = 5


class AgreementError(errors.Failure):
  """A model that falls short of its agreement threshold; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Threshold:
  """What a model type must meet on every probe set; None: not checked."""

  max_relative_difference: Optional[float] = None  # max |diff| / (1 + max |reference|)
  min_cosine: Optional[float] = None  # of the worst probe image
  min_mean_cosine: Optional[float] = None  # over the probe images
  min_top1_agreement: Optional[float] = None  # fraction of images; classifiers only
  min_top5_overlap: Optional[float] = None  # mean |top-5 ∩ top-5| / 5; classifiers only


@dataclasses.dataclass(frozen=True)
class Agreement:
  """The figures of one model against the SavedModel, the threshold, and what fell short."""

  model_type: str
  images: int
  max_abs_difference: float
  max_relative_difference: float  # max |diff| / (1 + max |reference|)
  min_cosine: float
  mean_cosine: float
  top1_agreement: Optional[float]  # None for feature vectors
  top5_overlap: Optional[float]
  threshold: Threshold
  shortfalls: tuple  # one phrase per figure that misses its threshold; empty when passed

  @property
  def passed(self) -> bool:
    return not self.shortfalls

  def as_dict(self) -> dict:
    """JSON-ready, for the export result, the regeneration manifest and model cards."""
    result = dataclasses.asdict(self)
    result["shortfalls"] = list(self.shortfalls)
    result["passed"] = self.passed
    return result


def measure(
  model_type: str, got: np.ndarray, want: np.ndarray, module_type: str, threshold: Threshold
) -> Agreement:
  """Agreement of outputs `got` with the SavedModel's `want` (both [N, K])."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  if got.shape != want.shape:
    raise AgreementError(
      f"the {model_type} model's output has shape {list(got.shape)}, the "
      f"SavedModel's {list(want.shape)}"
    )
  difference = float(np.abs(got - want).max())
  relative = difference / (1.0 + float(np.abs(want).max()))
  cosines = cosine_similarities(got, want)
  top1 = top5 = None
  if module_type == "classification":
    top1 = float(np.mean(np.argmax(got, 1) == np.argmax(want, 1)))
    top5 = float(np.mean([len(set(_top(g)) & set(_top(w))) / TOP_K for g, w in zip(got, want)]))
  figures = dict(
    max_relative_difference=relative,
    min_cosine=float(cosines.min()),
    mean_cosine=float(cosines.mean()),
    top1_agreement=top1,
    top5_overlap=top5,
  )
  return Agreement(
    model_type,
    len(got),
    difference,
    relative,
    float(cosines.min()),
    float(cosines.mean()),
    top1,
    top5,
    threshold,
    tuple(_shortfalls(figures, threshold)),
  )


def cosine_similarities(got: np.ndarray, want: np.ndarray) -> np.ndarray:
  """Per row; NaN (a zero or non-finite row) counts as no agreement (-1)."""
  with np.errstate(invalid="ignore", divide="ignore"):
    cosines = np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
  return np.where(np.isfinite(cosines), cosines, -1.0)


def _top(row: np.ndarray) -> np.ndarray:
  # Stable: ties go to the lower class index, the same in both models.
  return np.argsort(-row, kind="stable")[:TOP_K]


def _shortfalls(figures: dict, threshold: Threshold) -> list:
  shortfalls = []
  limit = threshold.max_relative_difference
  if limit is not None and not figures["max_relative_difference"] <= limit:  # NaN fails
    shortfalls.append(
      f"max |difference| / (1 + max |reference|) "
      f"{figures['max_relative_difference']:.3g} > {limit:g}"
    )
  for limit_name, figure_name, label in (
    ("min_cosine", "min_cosine", "min cosine similarity"),
    ("min_mean_cosine", "mean_cosine", "mean cosine similarity"),
    ("min_top1_agreement", "top1_agreement", "top-1 agreement"),
    ("min_top5_overlap", "top5_overlap", "mean top-5 overlap"),
  ):
    limit, value = getattr(threshold, limit_name), figures[figure_name]
    if limit is not None and value is not None and not value >= limit:  # NaN fails
      shortfalls.append(f"{label} {value:.4g} < {limit:g}")
  return shortfalls


def check(agreement: Agreement, path: str) -> None:
  """AgreementError naming the file and every figure that falls short; nothing otherwise."""
  if agreement.shortfalls:
    raise AgreementError(
      f"{path}: the {agreement.model_type} model does not agree with the "
      f"SavedModel on the {agreement.images} probe images: "
      f"{'; '.join(agreement.shortfalls)}; not written"
    )
