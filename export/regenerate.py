r"""Regenerates the TF Hub layout of many MobileNet V2 modules from a directory of checkpoints.

  python scripts/regenerate_hub_artifacts.py --checkpoint_dir=checkpoints --output_dir=hub

An *artifact* is one module version, `<handle>/<version>`: its SavedModel directory, model
card and reproducible archive (the layout of `export/hub_layout.py`). Each artifact is made in
its own fresh Python process, the worker (`python -m export.regeneration_worker JOB`), which
exports the SavedModel from the checkpoint, verifies it against the checkpoint's TF-Slim
graph, writes the card and the archive into a staging directory, and then moves them into
place. A stamp file, written last, marks the artifact complete and records what it was made
from (export/regeneration_state.py); a rerun redoes only the artifacts whose stamp is missing
or stale. `OUT/manifest.json` describes the complete artifacts reproducibly (digests,
fingerprints, parameter counts, parity figures); `OUT/run_report.json` holds what varies
from run to run (timings, logs, statuses). The lock file that CI compares manifests with is
export/regeneration_lock.py's.

This module is the orchestrator, which runs without importing TensorFlow.
docs/regeneration.md describes the behaviour.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Optional, TextIO

from export import regeneration_state as state
from export import regeneration_worker
from export import versions as versions_lib
from nets import variants as variants_lib

MANIFEST_NAME = "manifest.json"
RUN_REPORT_NAME = "run_report.json"
MANIFEST_FORMAT = "mobilenet_v2_hub_regeneration_manifest"

_WORKER_GRACE_SECONDS = 60  # after a forwarded interrupt, before a worker is killed
_POLL_SECONDS = 0.1
WORKER_MEMORY_BYTES = 3 << 29  # 1.5 GiB: a worker's peak (about 1 GB) with some margin


def parse_variants(text: str) -> list:
  """Variants from "all" or comma-separated TF-Slim / TF Hub names, in the table's order."""
  if text.strip() == "all":
    return list(variants_lib.VARIANTS)
  chosen = {variants_lib.by_name(name.strip()) for name in text.split(",") if name.strip()}
  if not chosen:
    raise ValueError("no variants selected")
  return [variant for variant in variants_lib.VARIANTS if variant in chosen]


def parse_module_types(text: str) -> list:
  chosen = {name.strip() for name in text.split(",") if name.strip()}
  unknown = sorted(chosen - set(variants_lib.MODULE_TYPES))
  if unknown or not chosen:
    raise ValueError(f"module types must be among {', '.join(variants_lib.MODULE_TYPES)}, "
                     f"got {text!r}")
  return [name for name in variants_lib.MODULE_TYPES if name in chosen]


def parse_versions(text: str) -> list:
  numbers = set()
  for word in text.split(","):
    if word.strip():
      try:
        numbers.add(versions_lib.producible(int(word)).number)
      except ValueError as error:
        raise ValueError(f"--versions: {error}") from None
  if not numbers:
    raise ValueError("no versions selected")
  return sorted(numbers)


def plan(variants: list, module_types: list, versions: list) -> list:
  return [state.Artifact(variant, module_type, version) for variant in variants
          for module_type in module_types for version in versions]


@dataclasses.dataclass(frozen=True)
class Options:
  checkpoint_dir: str
  output_dir: str
  variants: tuple = tuple(variants_lib.VARIANTS)
  module_types: tuple = variants_lib.MODULE_TYPES
  versions: tuple = versions_lib.PRODUCED_VERSIONS
  jobs: int = 1


def default_jobs() -> int:
  """One worker per core, as many as memory allows.

  A worker keeps about one core busy (measured: 97 % CPU for mobilenet_v2_1.4_224), since
  most of its time is single-threaded Python (imports, tracing, saving); its TensorFlow ops
  on 16 probe images are short. Each worker peaks at about 1 GB.
  """
  cores = os.cpu_count() or 1
  try:
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError):
    return cores
  return max(1, min(cores, memory // WORKER_MEMORY_BYTES))


# --- the orchestrator --------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
  """One artifact's fate in a run."""
  artifact: state.Artifact
  status: str = state.NOT_RUN
  reason: str = ""  # why it was made (new, stale: ...) or why it failed
  seconds: Optional[float] = None
  max_abs_error: Optional[float] = None
  timings: dict = dataclasses.field(default_factory=dict)
  log: Optional[str] = None


@dataclasses.dataclass
class RunResult:
  outcomes: list
  manifest: Optional[dict]  # None when interrupted
  interrupted: bool
  seconds: float

  @property
  def failed(self) -> list:
    return [o for o in self.outcomes if o.status in (state.FAILED, state.NOT_RUN)]

  @property
  def ok(self) -> bool:
    return not self.interrupted and not self.failed


class _Progress:
  """A line on `out` as each artifact finishes: how many are done, elapsed, time left."""

  def __init__(self, out: TextIO, total: int):
    self.out, self.total, self.done = out, total, 0
    self.started = time.monotonic()

  def line(self, text: str) -> None:
    print(text, file=self.out, flush=True)

  def finished(self, outcome: Outcome) -> None:
    self.done += 1
    elapsed = time.monotonic() - self.started
    left = elapsed / self.done * (self.total - self.done)
    if outcome.status == state.MADE:
      what = (f"made {outcome.artifact.key} in {outcome.seconds:.1f} s "
              f"(max |diff| {outcome.max_abs_error:.2g})")
    else:
      what = f"{outcome.status} {outcome.artifact.key}: {outcome.reason}"
    width = len(str(self.total))
    self.line(f"[{self.done:>{width}}/{self.total}] {what}; elapsed {_clock(elapsed)}, "
              f"about {_clock(left)} left")


def _clock(seconds: float) -> str:
  """m:ss, or h:mm:ss from an hour on."""
  minutes, seconds = divmod(int(round(seconds)), 60)
  if minutes < 60:
    return f"{minutes}:{seconds:02d}"
  return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class _SignalFlag:
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


@contextlib.contextmanager
def _exclusive(output_dir: str):
  """Holds OUT/.regenerate/lock: two runs writing one output directory would collide."""
  state_dir = os.path.join(output_dir, state.STATE_DIR)
  try:
    os.makedirs(state_dir, exist_ok=True)
  except OSError as error:
    raise state.RegenerateError(f"{output_dir}: cannot create the output directory "
                          f"({error.strerror})") from None
  with open(os.path.join(state_dir, "lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise state.RegenerateError(f"{output_dir}: another regeneration is writing there") from None
    yield


class _Worker:
  """A running worker process and its outcome."""

  def __init__(self, outcome: Outcome, process: subprocess.Popen, result_path: str, log):
    self.outcome, self.process, self.result_path, self.log = outcome, process, result_path, log
    self.started = time.monotonic()
    self.failed_on_checkpoint = False

  def finish(self) -> Outcome:
    self.log.close()
    outcome = self.outcome
    outcome.seconds = round(time.monotonic() - self.started, 1)
    result = state.read_json(self.result_path) or {}
    if result.get("status") == state.MADE:
      outcome.status, outcome.max_abs_error = state.MADE, result["max_abs_error"]
      outcome.timings = result.get("timings", {})
    else:
      outcome.status = state.FAILED
      self.failed_on_checkpoint = result.get("kind") == "checkpoint"
      outcome.reason = result.get("message") or (
          f"worker exited with status {self.process.returncode}: "
          f"{_last_line(outcome.log)} (log: {outcome.log})")
    return outcome


def _last_line(path: str) -> str:
  try:
    with open(path, errors="replace") as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return "no log"
  return lines[-1] if lines else "no output"


class _Run:
  """One regeneration: plans, schedules workers, and writes the manifest and run report."""

  def __init__(self, options: Options, out: TextIO):
    self.options, self.out = options, out
    self.output_dir = os.path.abspath(options.output_dir)
    self.state_dir = os.path.join(self.output_dir, state.STATE_DIR)
    self.tool, self.tensorflow = state.tool_version(), state.tensorflow_version()

  def print(self, text: str = "") -> None:
    print(text, file=self.out, flush=True)

  # Planning.
  def sources(self, variants: list) -> dict:
    """Variant -> Source, or the one-line reason it has none (its artifacts then fail)."""
    found = {}
    for variant in variants:
      try:
        path = state.find_checkpoint(self.options.checkpoint_dir, variant)
        found[variant] = state.Source(os.path.abspath(path), state.source_digest(path))
      except state.MissingCheckpoint as error:
        found[variant] = f"{variant.name}: {error}"
      except OSError as error:
        found[variant] = f"{variant.name}: {error.filename}: cannot read ({error.strerror})"
    return found

  def triage(self, artifacts: list, sources: dict):
    """(outcome per artifact, [(outcome, job inputs, source)] of those to make)."""
    outcomes, queue, code = [], [], state.CodeDigests()
    for artifact in artifacts:
      outcome = Outcome(artifact)
      outcomes.append(outcome)
      source = sources[artifact.variant]
      if isinstance(source, str):
        outcome.status, outcome.reason = state.FAILED, source
        continue
      inputs = state.stamp_inputs(artifact, source, self.tool, self.tensorflow)
      outcome.reason = state.staleness(artifact, self.output_dir, inputs, code)
      if outcome.reason is None:
        stamp = state.read_json(artifact.stamp_path(self.output_dir))
        outcome.status, outcome.reason = state.UP_TO_DATE, ""
        outcome.max_abs_error = stamp["entry"]["parity"]["max_abs_error"]
      else:
        queue.append((outcome, inputs, source))
    return outcomes, queue

  def announce(self, outcomes: list, queue: list, sources: dict) -> None:
    for variant, source in sources.items():
      if isinstance(source, str):
        count = sum(o.artifact.variant == variant for o in outcomes)
        self.print(f"FAILED {source}; its {count} artifacts are not made")
    up_to_date = sum(o.status == state.UP_TO_DATE for o in outcomes)
    failed = sum(o.status == state.FAILED for o in outcomes)
    self.print(f"{len(outcomes)} artifacts in {self.output_dir}: {len(queue)} to make, "
               f"{up_to_date} up to date, {failed} without a checkpoint; "
               f"{self.options.jobs} at a time")

  # Workers.
  def launch(self, outcome: Outcome, inputs: dict, source: state.Source) -> _Worker:
    artifact = outcome.artifact
    logs = os.path.join(self.state_dir, "logs")
    results = os.path.join(self.state_dir, "results")
    os.makedirs(logs, exist_ok=True)
    os.makedirs(results, exist_ok=True)
    outcome.log = os.path.join(logs, f"{artifact.file_stem}.log")
    result_path = os.path.join(results, f"{artifact.file_stem}.json")
    if os.path.exists(result_path):
      os.remove(result_path)
    job = {"checkpoint_path": source.path, "inputs": inputs, "key": artifact.key,
           "module_type": artifact.module_type, "output_dir": self.output_dir,
           "result_path": result_path, "variant": artifact.variant.name,
           "version": artifact.version}
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(state.PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    log = open(outcome.log, "w")
    # Its own session: a Ctrl-C reaches the orchestrator only, which stops workers in order.
    command = [sys.executable, "-m", regeneration_worker.__name__, json.dumps(job)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, cwd=str(state.PROJECT_ROOT), env=env,
                               start_new_session=True)
    self.print(f"  started {artifact.key} ({outcome.reason})")
    return _Worker(outcome, process, result_path, log)

  def execute(self, queue: list) -> bool:
    """Runs the queue, `jobs` workers at a time; True if interrupted."""
    progress = _Progress(self.out, len(queue))
    pending, running, broken = list(queue), [], {}  # broken: variant -> why
    with _SignalFlag() as interrupt:
      try:
        while (pending or running) and not interrupt.received:
          while pending and len(running) < self.options.jobs:
            outcome, inputs, source = pending.pop(0)
            why = broken.get(outcome.artifact.variant)
            if why:  # the checkpoint failed another artifact: do not spend a worker on it
              outcome.status, outcome.reason = state.FAILED, f"not run, unusable checkpoint: {why}"
              progress.finished(outcome)
            else:
              running.append(self.launch(outcome, inputs, source))
          for worker in [w for w in running if w.process.poll() is not None]:
            running.remove(worker)
            outcome = worker.finish()
            if worker.failed_on_checkpoint:
              broken[outcome.artifact.variant] = outcome.reason
            progress.finished(outcome)
          time.sleep(_POLL_SECONDS)
      except BaseException:  # e.g. a closed stdout: leave no worker behind
        self.stop(running, interrupt)
        raise
      if not interrupt.received:
        return False
      self.print(f"interrupted ({interrupt.received[0]}): stopping {len(running)} running "
                 f"workers; nothing partial is left, a rerun resumes")
      self.stop(running, interrupt)
    for outcome, _, _ in pending:
      outcome.reason = "interrupted before it started"
    return True

  def stop(self, running: list, interrupt: _SignalFlag) -> None:
    """Asks each worker to stop (it discards its staging), then waits; kills if it must."""
    for worker in running:
      _signal_group(worker.process, signal.SIGTERM)
    deadline = time.monotonic() + _WORKER_GRACE_SECONDS
    signals_seen = len(interrupt.received)
    while any(w.process.poll() is None for w in running):
      if time.monotonic() > deadline or len(interrupt.received) > signals_seen:
        for worker in running:
          _signal_group(worker.process, signal.SIGKILL)
      time.sleep(_POLL_SECONDS)
    for worker in running:
      outcome = worker.finish()
      if outcome.status != state.MADE:
        outcome.status, outcome.reason = state.NOT_RUN, "interrupted"

  # Results.
  def manifest(self, outcomes: list) -> dict:
    artifacts = {}
    for outcome in outcomes:
      if outcome.status in (state.MADE, state.UP_TO_DATE):
        stamp = state.read_json(outcome.artifact.stamp_path(self.output_dir))
        artifacts[outcome.artifact.key] = stamp["entry"]
    return {"artifacts": artifacts,
            "environment": state.environment(self.tensorflow),
            "format": MANIFEST_FORMAT,
            "format_version": state.FORMAT_VERSION,
            "tensorflow_version": self.tensorflow,
            "tool": {"name": state.TOOL_NAME, "version": self.tool}}

  def run_report(self, outcomes: list, started_at: str, seconds: float,
                 interrupted: bool) -> dict:
    return {
        "artifacts": {o.artifact.key: {"log": o.log, "max_abs_error": o.max_abs_error,
                                       "reason": o.reason, "seconds": o.seconds,
                                       "status": o.status, "timings": o.timings}
                      for o in outcomes},
        "checkpoint_dir": os.path.abspath(self.options.checkpoint_dir),
        "counts": {status: sum(o.status == status for o in outcomes)
                   for status in (state.MADE, state.UP_TO_DATE, state.FAILED, state.NOT_RUN)},
        "interrupted": interrupted,
        "jobs": self.options.jobs,
        "seconds": round(seconds, 1),
        "started_at": started_at,
    }

  def summary(self, outcomes: list) -> None:
    rows = [("artifact", "status", "seconds", "max |diff|")]
    for o in outcomes:
      rows.append((o.artifact.key, o.status, "-" if o.seconds is None else f"{o.seconds:.1f}",
                   "-" if o.max_abs_error is None else f"{o.max_abs_error:.2g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    self.print()
    for row in rows:
      self.print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
                 f"{row[3]:>{widths[3]}}")
    counts = ", ".join(f"{sum(o.status == s for o in outcomes)} {s}"
                       for s in (state.MADE, state.UP_TO_DATE, state.FAILED, state.NOT_RUN)
                       if any(o.status == s for o in outcomes))
    self.print(f"{len(outcomes)} artifacts: {counts}")
    for o in outcomes:
      if o.status in (state.FAILED, state.NOT_RUN):
        self.print(f"{o.status} {o.artifact.key}: {o.reason}")

  def run(self) -> RunResult:
    started, started_at = time.monotonic(), _utc_now()
    artifacts = plan(list(self.options.variants), list(self.options.module_types),
                     list(self.options.versions))
    with _exclusive(self.output_dir):
      for leftover in ("staging", "results"):  # of a run that was killed
        shutil.rmtree(os.path.join(self.state_dir, leftover), ignore_errors=True)
      sources = self.sources(sorted({a.variant for a in artifacts},
                                    key=variants_lib.VARIANTS.index))
      outcomes, queue = self.triage(artifacts, sources)
      self.announce(outcomes, queue, sources)
      manifest_path = os.path.join(self.output_dir, MANIFEST_NAME)
      if queue and os.path.exists(manifest_path):
        os.remove(manifest_path)  # it would describe files about to change
      interrupted = self.execute(queue)
      manifest = None
      if not interrupted:
        manifest = self.manifest(outcomes)
        state.write_atomically(manifest_path, state.to_json(manifest))
      shutil.rmtree(os.path.join(self.state_dir, "results"), ignore_errors=True)
      seconds = time.monotonic() - started
      state.write_atomically(os.path.join(self.output_dir, RUN_REPORT_NAME),
                       state.to_json(self.run_report(outcomes, started_at, seconds, interrupted)))
    self.summary(outcomes)
    if manifest is not None:
      self.print(f"manifest: {manifest_path} ({len(manifest['artifacts'])} of "
                 f"{len(outcomes)} artifacts); {_clock(seconds)} in all")
    return RunResult(outcomes, manifest, interrupted, seconds)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
  if process.poll() is None:
    try:
      os.killpg(process.pid, signum)  # the worker leads its own session
    except ProcessLookupError:
      pass


def _utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")



def regenerate(options: Options, out: TextIO = sys.stdout) -> RunResult:
  """Makes every selected artifact that is missing or stale; see the module docstring.

  Raises RegenerateError if the run cannot start. Per-artifact failures do not raise: they
  are in the result's outcomes (and printed).
  """
  if options.jobs < 1:
    raise state.RegenerateError(f"jobs must be at least 1, got {options.jobs}")
  if not os.path.isdir(options.checkpoint_dir):
    raise state.RegenerateError(f"{options.checkpoint_dir}: checkpoint directory not found")
  return _Run(options, out).run()
