"""export/pipeline/schedule.py: workers started in order, a few at a time, each in a session of
its own; outcomes read from their result files; an unusable checkpoint spares its variant's
other jobs; Ctrl-C (and a broken callback) stops the running workers. And the progress line
the regeneration prints as each artifact finishes, and what the real maker calls an unusable
checkpoint.

The workers are schedule_fake_worker.py (no TensorFlow): processes, so the tests are `slow`.
test_regenerate.py interrupts a real regeneration.
"""

import io
import json
import os
import pathlib
import signal
import threading
import time
import types

import pytest

from export.pipeline import makers
from export.pipeline import plan
from export.pipeline import report
from export.pipeline import schedule
from export.pipeline import state
from export.testing import synthetic_checkpoint
from nets import variants as variants_lib

TESTS = pathlib.Path(__file__).resolve().parent
SMALL = variants_lib.by_name("mobilenet_v2_0.75_96")
OTHER = variants_lib.by_name("mobilenet_v2_1.0_224")


def _job(variant, version, module_type="classification"):
  artifact = state.Artifact(variant, module_type, version)
  return plan.Job(plan.Outcome(artifact, reason="new"), {}, state.Source("/ckpt", "0" * 64))


class _Run:
  """Runs `schedule.execute` with the fake worker; `events` are the callbacks' calls."""

  def __init__(self, tmp_path, monkeypatch):
    self.directory = tmp_path / "fake"
    self.directory.mkdir()
    self.output_dir, self.state_dir = tmp_path / "out", tmp_path / "out" / ".regenerate"
    self.events = []
    self.on_started = self.on_finished = lambda outcome: None
    monkeypatch.setenv("FAKE_WORKER_DIR", str(self.directory))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setattr(
      schedule, "worker_lib", types.SimpleNamespace(__name__="schedule_fake_worker")
    )

  def __call__(self, script: list, workers: int) -> list:
    """`script`: (job, what its fake worker does) pairs; returns execute's result."""
    (self.directory / "script.json").write_text(
      json.dumps({job.outcome.artifact.key: what for job, what in script})
    )
    return schedule.execute(
      [job for job, _ in script],
      workers,
      str(self.output_dir),
      str(self.state_dir),
      self._started,
      self._finished,
    )

  def _started(self, outcome):
    self.events.append(("started", outcome.artifact.key))
    self.on_started(outcome)

  def _finished(self, outcome):
    self.events.append(("finished", outcome.artifact.key))
    self.on_finished(outcome)

  def seen(self, job) -> dict:
    """What the job's fake worker recorded."""
    path = self.directory / (job.outcome.artifact.key.replace("/", "-") + ".json")
    return json.loads(path.read_text())

  def wait_until(self, job, state_name):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
      try:
        if self.seen(job)["state"] == state_name:
          return
      except (FileNotFoundError, json.JSONDecodeError):
        pass
      time.sleep(0.02)
    raise AssertionError(f"{job.outcome.artifact.key} never reached {state_name}")


@pytest.fixture
def run(tmp_path, monkeypatch):
  return _Run(tmp_path, monkeypatch)


def _most_running(events) -> int:
  running = most = 0
  for kind, _ in events:
    running += 1 if kind == "started" else -1
    most = max(most, running)
  return most


@pytest.mark.slow
def test_jobs_start_in_order_and_run_side_by_side_up_to_the_worker_count(run):
  jobs = [_job(SMALL, 2), _job(SMALL, 3), _job(SMALL, 4), _job(SMALL, 5)]

  interrupted = run(list(zip(jobs, ["pair", "pair", "made", "made"])), 2)

  assert interrupted == []
  assert [key for kind, key in run.events if kind == "started"] == [
    job.outcome.artifact.key for job in jobs
  ]
  assert _most_running(run.events) == 2
  assert run.seen(jobs[0])["had_company"] and run.seen(jobs[1])["had_company"]
  for job in jobs:
    outcome = job.outcome
    assert (outcome.status, outcome.max_abs_error) == (state.MADE, 1.5e-06)
    assert outcome.timings == {"export": 0.25} and outcome.seconds >= 0
    assert outcome.log == str(run.state_dir / "logs" / f"{outcome.artifact.file_stem}.log")
    assert f"stdout of {outcome.artifact.key}" in pathlib.Path(outcome.log).read_text()


@pytest.mark.slow
def test_one_worker_runs_one_job_at_a_time(run):
  jobs = [_job(SMALL, 4), _job(SMALL, 5), _job(SMALL, None)]

  run([(job, "made") for job in jobs], 1)

  assert run.events == [
    (kind, job.outcome.artifact.key) for job in jobs for kind in ("started", "finished")
  ]


@pytest.mark.slow
def test_a_worker_leads_its_own_session_reads_no_stdin_and_imports_the_project(run, monkeypatch):
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  job = _job(SMALL, 5)

  run([(job, "made")], 1)

  seen = run.seen(job)
  assert seen["leads_its_session"]  # so a Ctrl-C in the terminal reaches the orchestrator only
  assert seen["stdin"] == ""
  assert seen["cwd"] == str(state.PROJECT_ROOT)
  assert seen["pythonpath"].split(os.pathsep) == [str(state.PROJECT_ROOT), str(TESTS)]
  assert seen["tf_log_level"] == "2"


@pytest.mark.slow
def test_each_job_runs_in_a_fresh_child_of_a_server_that_imported_the_worker_once(run):
  jobs = [_job(SMALL, 4), _job(SMALL, 5), _job(SMALL, None)]

  run([(job, "made") for job in jobs], 1)

  seen = [run.seen(job) for job in jobs]
  assert len({record["pid"] for record in seen}) == 3
  assert len({record["parent"] for record in seen}) == 1  # one server for the slot
  for record in seen:
    assert record["imported_by_parent"] and record["preloaded_by_parent"]
    assert record["jobs_run_before"] == []  # nothing carries over from one job to the next


@pytest.mark.slow
def test_a_server_that_cannot_start_fails_the_job_and_another_takes_its_place(run, monkeypatch):
  first, second = _job(SMALL, 4), _job(SMALL, 5)
  monkeypatch.setattr(schedule, "worker_lib", types.SimpleNamespace(__name__="no_such_worker"))

  run([(first, "made"), (second, "made")], 1)

  for job in (first, second):
    outcome = job.outcome
    assert outcome.status == state.FAILED
    assert outcome.reason == (
      "worker exited with status 1: ModuleNotFoundError: No module named 'no_such_worker' "
      f"(log: {outcome.log})"
    )
  assert [kind for kind, _ in run.events] == ["started", "finished"] * 2


@pytest.mark.slow
def test_a_worker_without_a_result_fails_with_its_last_log_line(run):
  job = _job(SMALL, 5)

  run([(job, "crash")], 1)

  outcome = job.outcome
  assert outcome.status == state.FAILED
  assert outcome.reason == f"worker exited with status 3: something broke (log: {outcome.log})"


@pytest.mark.slow
def test_an_unusable_checkpoint_spares_its_variants_other_jobs(run):
  broken, spared, other = _job(SMALL, 4), _job(SMALL, 5), _job(OTHER, 5)

  run([(broken, "checkpoint"), (spared, "made"), (other, "made")], 1)

  assert (broken.outcome.status, broken.outcome.reason) == (state.FAILED, "bad checkpoint")
  assert spared.outcome.status == state.FAILED
  assert spared.outcome.reason == "not run, unusable checkpoint: bad checkpoint"
  assert ("started", spared.outcome.artifact.key) not in run.events
  assert ("finished", spared.outcome.artifact.key) in run.events
  assert other.outcome.status == state.MADE


@pytest.mark.slow
def test_a_checkpoint_of_another_variant_is_unusable_for_the_whole_variant(tmp_path):
  # 0.35's weights where 0.75's belong: the export finds it out, and says so as a checkpoint
  # failure, which spares the variant's other jobs (above) instead of failing each in turn.
  prefix = synthetic_checkpoint.write_checkpoint(str(tmp_path / "other"), 0.35, 96, seed=0)
  staging = tmp_path / "staging"
  staging.mkdir()
  artifact = state.Artifact(SMALL, "classification", 5)
  with pytest.raises(makers.ArtifactError, match="looks like another variant") as raised:
    makers.make(artifact, prefix, "0" * 64, str(staging), str(tmp_path / "hub"), {})
  assert raised.value.kind == "checkpoint"


@pytest.mark.slow
def test_an_interrupt_stops_the_running_workers_and_starts_no_other(run):
  first, second, waiting = _job(SMALL, 4), _job(SMALL, 5), _job(SMALL, None)
  handler = signal.getsignal(signal.SIGINT)

  def interrupt_once_both_run(outcome):
    if outcome is second.outcome:
      run.wait_until(first, "ready")
      run.wait_until(second, "ready")
      os.kill(os.getpid(), signal.SIGINT)

  run.on_started = interrupt_once_both_run
  interrupted = run([(first, "wait"), (second, "wait"), (waiting, "made")], 2)

  assert interrupted == ["SIGINT"]
  for job in (first, second):
    assert run.seen(job)["state"] == "stopped by SIGTERM"  # asked, so it discards its staging
    assert (job.outcome.status, job.outcome.reason) == (state.NOT_RUN, "interrupted")
  assert waiting.outcome.status == state.NOT_RUN
  assert waiting.outcome.reason == "interrupted before it started"
  assert ("started", waiting.outcome.artifact.key) not in run.events
  assert signal.getsignal(signal.SIGINT) is handler


@pytest.mark.slow
@pytest.mark.parametrize("how", ["grace period", "second interrupt"])
def test_a_worker_deaf_to_sigterm_is_killed(run, monkeypatch, how):
  monkeypatch.setattr(schedule, "WORKER_GRACE_SECONDS", 0.5 if how == "grace period" else 600)
  job = _job(SMALL, 5)

  def interrupt_again_once_it_ignored_sigterm():
    run.wait_until(job, "ignored SIGTERM")
    os.kill(os.getpid(), signal.SIGINT)

  def interrupt(outcome):
    run.wait_until(job, "ready")
    os.kill(os.getpid(), signal.SIGINT)
    if how == "second interrupt":
      threading.Thread(target=interrupt_again_once_it_ignored_sigterm).start()

  run.on_started = interrupt
  interrupted = run([(job, "stubborn")], 1)

  assert interrupted == ["SIGINT"] * (2 if how == "second interrupt" else 1)
  assert run.seen(job)["state"] == "ignored SIGTERM"  # and was killed before its own end
  assert (job.outcome.status, job.outcome.reason) == (state.NOT_RUN, "interrupted")


@pytest.mark.slow
def test_a_failing_callback_leaves_no_worker_running(run):
  slow, quick = _job(SMALL, 4), _job(SMALL, 5)

  def closed_stdout(outcome):
    run.wait_until(slow, "ready")
    raise BrokenPipeError("stdout closed")

  run.on_finished = closed_stdout
  with pytest.raises(BrokenPipeError):
    run([(slow, "wait"), (quick, "made")], 2)

  assert run.seen(slow)["state"] == "stopped by SIGTERM"
  assert slow.outcome.status == state.NOT_RUN


class _Clock:
  def __init__(self):
    self.now = 100.0

  def monotonic(self):
    return self.now


def test_each_finished_artifact_prints_its_count_elapsed_time_and_time_left(monkeypatch):
  clock, out = _Clock(), io.StringIO()
  monkeypatch.setattr(report, "time", clock)
  printer = report.Printer(out, 12)
  made, failed = _job(SMALL, 5).outcome, _job(OTHER, 5).outcome
  made.status, made.seconds, made.max_abs_error = state.MADE, 9.5, 1.5e-06
  failed.status, failed.reason = state.FAILED, "bad checkpoint"

  printer.started_one(made)  # one at a time: the time left is the flat average
  clock.now += 10
  printer.finished_one(made)
  printer.started_one(failed)
  clock.now += 50
  printer.finished_one(failed)

  assert [line for line in out.getvalue().splitlines() if line.startswith("[")] == [
    f"[ 1/12] made {made.artifact.key} in 9.5 s (max |diff| 1.5e-06); elapsed 0:10, "
    "about 1:50 left",
    f"[ 2/12] FAILED {failed.artifact.key}: bad checkpoint; elapsed 1:00, about 5:00 left",
  ]
