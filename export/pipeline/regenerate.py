r"""Regenerates the TF Hub layout of many MobileNet V2 modules from a directory of checkpoints.

  python scripts/regenerate_hub_artifacts.py --checkpoint_dir=checkpoints --output_dir=hub

An *artifact* is one module version, `<handle>/<version>`: its SavedModel directory, model
card and reproducible archive (export/publish/hub_layout.py). The run is planned
(export/pipeline/plan.py: which artifacts are missing or stale), scheduled
(export/pipeline/schedule.py: each artifact made by a worker, export/pipeline/worker.py, in
its own process, forked fresh from a server that imported TensorFlow once per job slot:
export/pipeline/forkserver.py) and reported (export/pipeline/report.py: progress, summary,
`OUT/manifest.json` and `OUT/run_report.json`). A stamp written last by each worker marks its
artifact complete (export/pipeline/state.py), so a rerun redoes only what is missing or
stale, and Ctrl-C leaves nothing partial. The orchestrator never imports TensorFlow.
docs/regeneration.md describes the behaviour.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import os
import shutil
import sys
import time
from typing import Optional
from typing import TextIO

from export.base import errors
from export.base import files
from export.base import versions as versions_lib
from export.pipeline import manifest as manifest_lib
from export.pipeline import plan
from export.pipeline import report
from export.pipeline import schedule
from export.pipeline import state
from nets import architecture
from nets import variants as variants_lib


class RegenerateError(errors.Failure):
  """The run cannot start (an unusable checkpoint or output directory); one line."""


@dataclasses.dataclass(frozen=True)
class Options:
  checkpoint_dir: str
  output_dir: str
  variants: tuple = tuple(variants_lib.VARIANTS)
  module_types: tuple = architecture.MODULE_TYPES
  versions: tuple = versions_lib.PRODUCED_VERSIONS
  formats: tuple = plan.FORMATS
  jobs: int = 1


@dataclasses.dataclass
class RunResult:
  outcomes: list
  manifest: Optional[manifest_lib.Manifest]  # None when interrupted
  interrupted: bool
  seconds: float

  @property
  def failed(self) -> list:
    return [o for o in self.outcomes if o.status in (state.FAILED, state.NOT_RUN)]

  @property
  def ok(self) -> bool:
    return not self.interrupted and not self.failed


@contextlib.contextmanager
def _exclusive(output_dir: str):
  """Holds OUT/.regenerate/lock: two runs writing one output directory would collide."""
  state_dir = os.path.join(output_dir, state.STATE_DIR)
  try:
    os.makedirs(state_dir, exist_ok=True)
  except OSError as error:
    raise RegenerateError(
      f"{output_dir}: cannot create the output directory ({error.strerror})"
    ) from None
  with open(os.path.join(state_dir, "lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise RegenerateError(f"{output_dir}: another regeneration is writing there") from None
    yield


def regenerate(options: Options, out: TextIO = sys.stdout) -> RunResult:
  """Makes every selected artifact that is missing or stale; see the module docstring.

  ValueError for bad options; RegenerateError if the run cannot start. Per-artifact failures
  do not raise: they are in the result's outcomes (and printed).
  """
  if options.jobs < 1:
    raise ValueError(f"jobs must be at least 1, got {options.jobs}")
  if not os.path.isdir(options.checkpoint_dir):
    raise RegenerateError(f"{options.checkpoint_dir}: checkpoint directory not found")
  started, started_at = time.monotonic(), _utc_now()
  output_dir = os.path.abspath(options.output_dir)
  state_dir = os.path.join(output_dir, state.STATE_DIR)
  planned = plan.artifacts(
    list(options.variants), list(options.module_types), list(options.versions), options.formats
  )
  with _exclusive(output_dir):
    for leftover in ("staging", "results", state.REFERENCES_DIR):  # of a run that was killed
      shutil.rmtree(os.path.join(state_dir, leftover), ignore_errors=True)
    sources = plan.find_sources(
      options.checkpoint_dir, sorted({a.variant for a in planned}, key=variants_lib.VARIANTS.index)
    )
    outcomes, jobs = plan.triage(planned, sources, output_dir)
    printer = report.Printer(out, len(jobs))
    printer.announce(output_dir, outcomes, jobs, sources, options.jobs)
    manifest_path = os.path.join(output_dir, manifest_lib.FILE_NAME)
    if jobs and os.path.exists(manifest_path):
      os.remove(manifest_path)  # it would describe files about to change
    interrupted = schedule.execute(
      jobs, options.jobs, output_dir, state_dir, printer.started_one, printer.finished_one
    )
    if interrupted:
      printer.line(
        f"interrupted ({interrupted[0]}): stopped the running workers; nothing "
        f"partial is left, a rerun resumes"
      )
    manifest = None if interrupted else report.manifest(outcomes, output_dir)
    if manifest is not None:
      manifest_lib.write(manifest_path, manifest)
    for scratch in ("results", state.REFERENCES_DIR):
      shutil.rmtree(os.path.join(state_dir, scratch), ignore_errors=True)
    seconds = time.monotonic() - started
    files.write_json(
      os.path.join(output_dir, report.RUN_REPORT_NAME),
      report.run_report(
        outcomes, options.checkpoint_dir, options.jobs, started_at, seconds, bool(interrupted)
      ),
    )
  printer.summary(outcomes)
  if manifest is not None:
    printer.line(
      f"manifest: {manifest_path} ({len(manifest.artifacts)} of "
      f"{report.plural(len(outcomes), 'artifact')}); {report.clock(seconds)} in all"
    )
  return RunResult(outcomes, manifest, bool(interrupted), seconds)


def _utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
