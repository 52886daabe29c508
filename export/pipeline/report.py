"""Reporting a regeneration: progress lines, the summary, the manifest and the run report.

`OUT/manifest.json` (export/pipeline/manifest.py) describes the complete artifacts and nothing
that varies from run to run (digests, fingerprints, parameter counts, parity figures);
`OUT/run_report.json` holds what does (timings, logs, statuses).
"""

import os
import time
from typing import TextIO

from export.pipeline import estimate
from export.pipeline import manifest as manifest_lib
from export.pipeline import plan
from export.pipeline import state

RUN_REPORT_NAME = "run_report.json"
STATUSES = (state.MADE, state.UP_TO_DATE, state.FAILED, state.NOT_RUN)


def plural(count: int, noun: str) -> str:
  return f"{count} {noun}" + ("" if count == 1 else "s")


def clock(seconds: float) -> str:
  """m:ss, or h:mm:ss from an hour on."""
  minutes, seconds = divmod(round(seconds), 60)
  if minutes < 60:
    return f"{minutes}:{seconds:02d}"
  return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class Printer:
  """The run's lines on `out`: the plan, a line per artifact started and finished (with how
  many are done, the time elapsed and an estimate of the time left), and the summary.

  The estimate weighs each artifact by its expected cost (export/pipeline/estimate.py) once
  `announce` has named them; before, every artifact counts the same."""

  def __init__(self, out: TextIO, total: int):
    self.out, self.total, self.done = out, total, 0
    self.started = time.monotonic()
    self.cost_of = lambda artifact: 1.0
    self.time_left = estimate.TimeLeft([1.0] * total)

  def line(self, text: str = "") -> None:
    print(text, file=self.out, flush=True)

  def announce(
    self, output_dir: str, outcomes: list, jobs: list, sources: dict, workers: int
  ) -> None:
    for variant, source in sources.items():
      if isinstance(source, str):
        count = sum(o.artifact.variant == variant for o in outcomes)
        self.line(f"FAILED {source}; its {plural(count, 'artifact')} are not made")
    self.cost_of = estimate.cost
    self.time_left = estimate.TimeLeft(
      (estimate.cost(job.outcome.artifact) for job in jobs), workers=min(workers, len(jobs))
    )
    up_to_date = sum(o.status == state.UP_TO_DATE for o in outcomes)
    failed = sum(o.status == state.FAILED for o in outcomes)
    self.line(
      f"{plural(len(outcomes), 'artifact')} in {output_dir}: {len(jobs)} to make, "
      f"{up_to_date} up to date, {failed} without a checkpoint"
      + (f"; {min(workers, len(jobs))} at a time" if jobs else "")
    )

  def started_one(self, outcome: plan.Outcome) -> None:
    key = outcome.artifact.key
    self.time_left.started(key, self.cost_of(outcome.artifact), time.monotonic())
    self.line(f"  started {key} ({outcome.reason})")

  def finished_one(self, outcome: plan.Outcome) -> None:
    self.done += 1
    now = time.monotonic()
    elapsed = now - self.started
    self.time_left.finished(outcome.artifact.key, self.cost_of(outcome.artifact), now)
    left = self.time_left.seconds(now)
    if outcome.status == state.MADE:
      what = (
        f"made {outcome.artifact.key} in {outcome.seconds:.1f} s "
        f"(max |diff| {outcome.max_abs_error:.2g})"
      )
    else:
      what = f"{outcome.status} {outcome.artifact.key}: {outcome.reason}"
    width = len(str(self.total))
    self.line(
      f"[{self.done:>{width}}/{self.total}] {what}; elapsed {clock(elapsed)}, "
      + ("time left not known yet" if left is None else f"about {clock(left)} left")
    )

  def summary(self, outcomes: list) -> None:
    rows = [("artifact", "status", "seconds", "max |diff|")]
    for o in outcomes:
      rows.append(
        (
          o.artifact.key,
          o.status,
          "-" if o.seconds is None else f"{o.seconds:.1f}",
          "-" if o.max_abs_error is None else f"{o.max_abs_error:.2g}",
        )
      )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    self.line()
    for row in rows:
      self.line(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
        f"{row[3]:>{widths[3]}}"
      )
    counts = ", ".join(
      f"{sum(o.status == s for o in outcomes)} {s}"
      for s in STATUSES
      if any(o.status == s for o in outcomes)
    )
    self.line(f"{plural(len(outcomes), 'artifact')}: {counts}")
    for o in outcomes:
      if o.status in (state.FAILED, state.NOT_RUN):
        self.line(f"{o.status} {o.artifact.key}: {o.reason}")


def manifest(outcomes: list, output_dir: str) -> manifest_lib.Manifest:
  """The manifest of the complete artifacts, from their stamps."""
  artifacts = {}
  for outcome in outcomes:
    if outcome.status in (state.MADE, state.UP_TO_DATE):
      artifacts[outcome.artifact.key] = state.recorded_entry(outcome.artifact, output_dir)
  tensorflow = state.tensorflow_version()
  return manifest_lib.Manifest(
    artifacts=artifacts,
    environment=state.environment(tensorflow),
    tensorflow_version=tensorflow,
    tool={"name": state.TOOL_NAME, "version": state.tool_version()},
  )


def run_report(
  outcomes: list, checkpoint_dir: str, jobs: int, started_at: str, seconds: float, interrupted: bool
) -> dict:
  return {
    "artifacts": {
      o.artifact.key: {
        "log": o.log,
        "max_abs_error": o.max_abs_error,
        "reason": o.reason,
        "seconds": o.seconds,
        "status": o.status,
        "timings": o.timings,
      }
      for o in outcomes
    },
    "checkpoint_dir": os.path.abspath(checkpoint_dir),
    "counts": {status: sum(o.status == status for o in outcomes) for status in STATUSES},
    "interrupted": interrupted,
    "jobs": jobs,
    "seconds": round(seconds, 1),
    "started_at": started_at,
  }
