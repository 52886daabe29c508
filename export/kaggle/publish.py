"""From a finished regeneration output to staged (and, on request, uploaded) Kaggle instances.

`publish(Options(...))` checks the hub directory (export/kaggle/sources.py), maps its files
to Kaggle instance versions (mapping.py), stages them with their metadata (staging.py) and,
only with `upload=True`, sends them through kagglehub (upload.py). Without `upload` nothing
leaves the machine. scripts/publish_kaggle.py is the binary; docs/publishing.md the guide.
"""

import dataclasses
import os
import sys
from typing import Optional
from typing import TextIO

from export.kaggle import kaggle_api
from export.kaggle import ledger as ledger_lib
from export.kaggle import mapping
from export.kaggle import sources
from export.kaggle import staging
from export.kaggle import upload as upload_lib
from export.pipeline import state
from nets import variants as variants_lib

DEFAULT_OUTPUT_SUBDIR = "kaggle"


def synthetic_warning(plan: staging.Plan) -> str:
  """One line, if the plan holds outputs of a synthetic checkpoint (never to be published)."""
  if not plan.synthetic_sources:
    return ""
  first, others = plan.synthetic_sources[0], len(plan.synthetic_sources) - 1
  return (
    f"warning: made from a SYNTHETIC checkpoint (random weights, not the released ones): "
    f"{first}{f' and {others} more' if others else ''}; never publish them (docs/publishing.md)"
  )


@dataclasses.dataclass(frozen=True)
class Options:
  hub_dir: str
  owner: str
  model: str = mapping.DEFAULT_MODEL_SLUG
  variants: tuple = tuple(variants_lib.VARIANTS)
  formats: tuple = mapping.FORMATS
  output_dir: Optional[str] = None  # default <hub_dir>/kaggle
  lock: Optional[str] = None
  private: bool = True
  upload: bool = False


@dataclasses.dataclass
class Result:
  plan: staging.Plan
  output_dir: str
  outcomes: Optional[list] = None  # upload_lib.Outcome per planned version, with upload only

  @property
  def ok(self) -> bool:
    return self.outcomes is None or all(
      o.status in (upload_lib.UPLOADED, upload_lib.ALREADY_PUBLISHED, upload_lib.CONFIRMED)
      for o in self.outcomes
    )


def output_dir_of(options: Options) -> str:
  return options.output_dir or os.path.join(options.hub_dir, DEFAULT_OUTPUT_SUBDIR)


def _check_outside_the_artifacts(output_dir: str, hub_dir: str, items: list) -> None:
  """ValueError if `output_dir` lies among the regeneration's files (an artifact's directory,
  its state): files staged there would make the hub directory differ from its manifest."""
  relative = os.path.relpath(os.path.abspath(output_dir), os.path.abspath(hub_dir))
  first = relative.split(os.sep)[0]
  taken = {item.key.split("/")[0] for item in items} | {state.STATE_DIR}
  if relative == "." or first in taken:
    raise ValueError(
      f"--output_dir={output_dir}: among the regeneration's own files in {hub_dir}; choose a "
      f"directory outside {os.path.join(hub_dir, first) if first != '.' else hub_dir} "
      f"(the default is {os.path.join(hub_dir, DEFAULT_OUTPUT_SUBDIR)})"
    )


def prepare(options: Options) -> staging.Plan:
  """Checks the hub directory, plans and stages. Raises SourceError or LedgerError (failures,
  exit 1), or PlanError or ValueError (usage errors, exit 2), if it cannot."""
  variants, formats = set(options.variants), set(options.formats)
  _, items = sources.load(
    options.hub_dir, options.lock, selected=lambda i: i.variant in variants and i.format in formats
  )
  output_dir = output_dir_of(options)
  _check_outside_the_artifacts(output_dir, options.hub_dir, items)
  ledger = ledger_lib.Ledger(output_dir, kaggle_api.endpoint_name())
  plan = staging.make_plan(
    items, options.owner, options.model, options.private, published=ledger.published_handles()
  )
  found = {item.format for item in items}
  plan = dataclasses.replace(
    plan,
    absent_formats=tuple(name for name in options.formats if name not in found),
    synthetic_sources=tuple(sources.made_from_synthetic(items)),
  )
  staging.stage(plan, options.hub_dir, output_dir)
  return plan


def publish(options: Options, out: TextIO = sys.stdout) -> Result:
  """Plans and stages; with `options.upload`, uploads too (see the module docstring).

  Raises those of `prepare` before anything is staged or sent, kaggle_api.UploadError when
  the upload cannot go on; failures of single versions are in the result's outcomes.
  """
  if options.upload:  # before the staging work, not after
    kaggle_api.require_client()
    kaggle_api.credentials_source()
  plan = prepare(options)
  output_dir = output_dir_of(options)
  if not options.upload:
    return Result(plan, output_dir)
  return Result(plan, output_dir, upload_lib.upload(plan, output_dir, out))
