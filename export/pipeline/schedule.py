"""Scheduling a regeneration: worker processes, a few at a time, and stopping them cleanly.

Each artifact is made by `python -m export.pipeline.worker JOB` in a fresh process of its own
session, so a Ctrl-C reaches only the orchestrator, which forwards it to the workers in order
(each discards its staging) and waits; a second Ctrl-C, or the grace period, kills them.
"""

import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable

from export.base import files
from export.pipeline import plan
from export.pipeline import state
from export.pipeline import worker as worker_lib

WORKER_GRACE_SECONDS = 60  # after a forwarded interrupt, before a worker is killed
_POLL_SECONDS = 0.1


class SignalFlag:
  """Turns SIGINT/SIGTERM into a flag the scheduling loop reads, while installed."""

  def __init__(self):
    self.received = []

  def __enter__(self):
    self._previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def _handle(self, signum, unused_frame):
    self.received.append(signal.Signals(signum).name)

  def __exit__(self, *unused):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


class Worker:
  """A running worker process and the outcome it will fill in."""

  def __init__(self, job: plan.Job, output_dir: str, state_dir: str):
    outcome = self.outcome = job.outcome
    artifact = outcome.artifact
    outcome.log = os.path.join(state_dir, "logs", f"{artifact.file_stem}.log")
    self.result_path = os.path.join(state_dir, "results", f"{artifact.file_stem}.json")
    for path in (outcome.log, self.result_path):
      os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(self.result_path):
      os.remove(self.result_path)
    description = {
      "checkpoint_path": job.source.path,
      "inputs": job.inputs,
      "key": artifact.key,
      "module_type": artifact.module_type,
      "output_dir": output_dir,
      "result_path": self.result_path,
      "variant": artifact.variant.name,
      "version": artifact.version,
      "beside": [[name, list(types)] for name, types in artifact.beside],
      "format": artifact.format,
    }
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(
      filter(None, [str(state.PROJECT_ROOT), env.get("PYTHONPATH")])
    )
    self.log = open(outcome.log, "w")  # pylint: disable=consider-using-with  (closed in finish)
    command = [sys.executable, "-m", worker_lib.__name__, json.dumps(description)]
    self.process = subprocess.Popen(
      command,
      stdin=subprocess.DEVNULL,
      stdout=self.log,
      stderr=subprocess.STDOUT,
      cwd=str(state.PROJECT_ROOT),
      env=env,
      start_new_session=True,
    )
    self.started = time.monotonic()
    self.failed_on_checkpoint = False

  def finish(self) -> plan.Outcome:
    self.log.close()
    outcome = self.outcome
    outcome.seconds = round(time.monotonic() - self.started, 1)
    result = files.read_json(self.result_path) or {}
    if result.get("status") == state.MADE:
      outcome.status, outcome.max_abs_error = state.MADE, result["max_abs_error"]
      outcome.timings = result.get("timings", {})
    else:
      outcome.status = state.FAILED
      self.failed_on_checkpoint = result.get("kind") == "checkpoint"
      outcome.reason = result.get("message") or (
        f"worker exited with status {self.process.returncode}: "
        f"{_last_line(outcome.log)} (log: {outcome.log})"
      )
    return outcome

  def signal(self, signum: int) -> None:
    if self.process.poll() is None:
      try:
        os.killpg(self.process.pid, signum)  # the worker leads its own session
      except ProcessLookupError:
        pass


def _last_line(path: str) -> str:
  try:
    with open(path, errors="replace") as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return "no log"
  return lines[-1] if lines else "no output"


def execute(
  jobs: list,
  workers: int,
  output_dir: str,
  state_dir: str,
  started: Callable[[plan.Outcome], None],
  finished: Callable[[plan.Outcome], None],
) -> list:
  """Runs `jobs`, `workers` at a time, calling `started` and `finished` with each outcome.

  Returns the names of the signals that interrupted the run (empty if it ran to the end);
  interrupted workers are stopped and their outcomes say so.
  """
  pending, running, broken = list(jobs), [], {}  # broken: variant -> why its checkpoint fails
  with SignalFlag() as interrupt:
    try:
      while (pending or running) and not interrupt.received:
        while pending and len(running) < workers:
          job = pending.pop(0)
          why = broken.get(job.outcome.artifact.variant)
          if why:  # the checkpoint failed another artifact: do not spend a worker on it
            job.outcome.status = state.FAILED
            job.outcome.reason = f"not run, unusable checkpoint: {why}"
            finished(job.outcome)
          else:
            running.append(Worker(job, output_dir, state_dir))
            started(job.outcome)
        for worker in [w for w in running if w.process.poll() is not None]:
          running.remove(worker)
          outcome = worker.finish()
          if worker.failed_on_checkpoint:
            broken[outcome.artifact.variant] = outcome.reason
          finished(outcome)
        time.sleep(_POLL_SECONDS)
    except BaseException:  # e.g. a closed stdout: leave no worker behind
      stop(running, interrupt)
      raise
    if interrupt.received:
      stop(running, interrupt)
  for job in pending:
    job.outcome.reason = "interrupted before it started"
  return interrupt.received


def stop(running: list, interrupt: SignalFlag) -> None:
  """Asks each worker to stop (it discards its staging), then waits; kills if it must."""
  for worker in running:
    worker.signal(signal.SIGTERM)
  deadline = time.monotonic() + WORKER_GRACE_SECONDS
  signals_seen = len(interrupt.received)
  while any(w.process.poll() is None for w in running):
    if time.monotonic() > deadline or len(interrupt.received) > signals_seen:
      for worker in running:
        worker.signal(signal.SIGKILL)
    time.sleep(_POLL_SECONDS)
  for worker in running:
    outcome = worker.finish()
    if outcome.status != state.MADE:
      outcome.status, outcome.reason = state.NOT_RUN, "interrupted"
