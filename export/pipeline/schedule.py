"""Scheduling a regeneration: worker processes, a few at a time, and stopping them cleanly.

Each job slot has a fork server (export/pipeline/forkserver.py) that imports TensorFlow once;
each artifact is made by `export.pipeline.worker` in a fresh child of its slot's server, in a
session of its own, so a Ctrl-C reaches only the orchestrator, which forwards it to the workers
in order (each discards its staging) and waits; a second Ctrl-C, or the grace period, kills
them.
"""

import json
import os
import signal
import time
from typing import Callable
from typing import Optional

from export.base import files
from export.pipeline import forkserver
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


def job_description(job: plan.Job, output_dir: str, result_path: str) -> dict:
  """What a worker is told about its job (export/pipeline/worker.py reads it)."""
  artifact = job.outcome.artifact
  return {
    "checkpoint_path": job.source.path,
    "inputs": job.inputs,
    "key": artifact.key,
    "module_type": artifact.module_type,
    "output_dir": output_dir,
    "result_path": result_path,
    "variant": artifact.variant.name,
    "version": artifact.version,
    "beside": [[name, list(types)] for name, types in artifact.beside],
    "format": artifact.format,
  }


def worker_environment() -> dict:
  """The environment of the fork servers, and so of the workers."""
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(state.PROJECT_ROOT), env.get("PYTHONPATH")])
  )
  return env


class Worker:
  """A worker making one job's artifact in a child of `server`, and the outcome it fills in."""

  def __init__(self, job: plan.Job, server: forkserver.Server, output_dir: str, state_dir: str):
    outcome = self.outcome = job.outcome
    artifact = outcome.artifact
    outcome.log = os.path.join(state_dir, "logs", f"{artifact.file_stem}.log")
    self.result_path = os.path.join(state_dir, "results", f"{artifact.file_stem}.json")
    for path in (outcome.log, self.result_path):
      os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(self.result_path):
      os.remove(self.result_path)
    self.server = server
    description = job_description(job, output_dir, self.result_path)
    self.child = server.start(json.dumps(description), outcome.log)
    self.started = time.monotonic()
    self.failed_on_checkpoint = False

  def poll(self):
    """The worker's exit status, or None while it runs."""
    self.server.poll()
    return self.child.returncode

  def finish(self) -> plan.Outcome:
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
        f"worker exited with status {self.child.returncode}: "
        f"{_last_line(outcome.log)} (log: {outcome.log})"
      )
    return outcome

  def signal(self, signum: int) -> None:
    if self.poll() is None and self.child.pid is not None:
      try:
        os.killpg(self.child.pid, signum)  # the worker leads its own session
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
  os.makedirs(os.path.join(state_dir, "logs"), exist_ok=True)
  with SignalFlag() as interrupt:
    servers = [
      forkserver.Server(
        worker_lib.__name__,
        os.path.join(state_dir, "logs", f"fork-server-{slot}.log"),
        worker_environment(),
        str(state.PROJECT_ROOT),
      )
      for slot in range(1, min(workers, len(jobs)) + 1)
    ]
    try:
      while (pending or running) and not interrupt.received:
        busy = {worker.server for worker in running}
        for server in [s for s in servers if s not in busy and s.accepts()]:
          job = _next_job(pending, broken, finished)
          if job:
            running.append(Worker(job, server, output_dir, state_dir))
            started(job.outcome)
        for worker in [w for w in running if w.poll() is not None]:
          running.remove(worker)
          outcome = worker.finish()
          if worker.failed_on_checkpoint:
            broken[outcome.artifact.variant] = outcome.reason
          finished(outcome)
        time.sleep(_POLL_SECONDS)
    except BaseException:  # e.g. a closed stdout: leave no worker behind
      stop(running, interrupt)
      raise
    else:
      if interrupt.received:
        stop(running, interrupt)
    finally:
      for server in servers:
        server.close()
  for job in pending:
    job.outcome.reason = "interrupted before it started"
  return interrupt.received


def _next_job(pending: list, broken: dict, finished: Callable) -> Optional[plan.Job]:
  """The next job worth a worker; those of a variant whose checkpoint failed fail unrun."""
  while pending:
    job = pending.pop(0)
    why = broken.get(job.outcome.artifact.variant)
    if not why:
      return job
    job.outcome.status = state.FAILED
    job.outcome.reason = f"not run, unusable checkpoint: {why}"
    finished(job.outcome)
  return None


def stop(running: list, interrupt: SignalFlag) -> None:
  """Asks each worker to stop (it discards its staging), then waits; kills if it must."""
  for worker in running:
    worker.signal(signal.SIGTERM)
  deadline = time.monotonic() + WORKER_GRACE_SECONDS
  signals_seen = len(interrupt.received)
  while any(w.poll() is None for w in running):
    if time.monotonic() > deadline or len(interrupt.received) > signals_seen:
      for worker in running:
        worker.signal(signal.SIGKILL)
    time.sleep(_POLL_SECONDS)
  for worker in running:
    outcome = worker.finish()
    if outcome.status != state.MADE:
      outcome.status, outcome.reason = state.NOT_RUN, "interrupted"
