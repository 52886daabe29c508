"""export/pipeline/estimate.py: the regeneration's time left weighs each artifact left by its
expected cost (kind and variant size), priced at the run's own pace; the progress line prints
it. Fake clocks, no workers."""

import io

import pytest

from export.pipeline import estimate
from export.pipeline import plan
from export.pipeline import report
from export.pipeline import state
from nets import variants as variants_lib

LARGE = variants_lib.by_name("mobilenet_v2_1.4_224")
SMALL = variants_lib.by_name("mobilenet_v2_0.35_96")


def _planned(variant) -> dict:
  """The variant's classification artifacts as the regeneration plans them, by version."""
  found = plan.artifacts([variant], ["classification"], [4, 5])
  return {artifact.version or "keras": artifact for artifact in found}


def test_nothing_done_gives_no_estimate_and_equal_costs_give_the_flat_average():
  time_left = estimate.TimeLeft([2.0, 2.0, 2.0])
  time_left.started("a", 2.0, now=0.0)
  assert time_left.seconds(30.0) is None

  time_left.finished("a", 2.0, now=30.0)

  assert time_left.seconds(30.0) == pytest.approx(60.0)  # 30 s per artifact, two left


def test_after_a_cheap_artifact_an_expensive_one_left_is_priced_at_its_cost():
  time_left = estimate.TimeLeft([1.0, 4.0])
  time_left.started("cheap", 1.0, now=0.0)
  time_left.finished("cheap", 1.0, now=10.0)

  # 10 s for one unit, four units left: the flat average (10 s) would be 4 times short.
  assert time_left.seconds(10.0) == pytest.approx(40.0)
  time_left.started("dear", 4.0, now=10.0)
  assert time_left.seconds(25.0) == pytest.approx(25.0)  # what it has not yet spent
  time_left.finished("dear", 4.0, now=50.0)
  assert time_left.seconds(50.0) == 0.0


def test_side_by_side_the_pace_is_each_artifacts_own_and_the_work_left_is_shared():
  # Two workers: a cheap artifact and a dear one start together after a start-up of 8 s.
  time_left = estimate.TimeLeft([1.0, 3.0, 3.0, 3.0], workers=2)
  time_left.started("cheap", 1.0, now=8.0)
  time_left.started("dear", 3.0, now=8.0)
  time_left.finished("cheap", 1.0, now=18.0)
  # 10 s a unit, from the cheap one's own 10 s (not the 18 s since the run began, nor as if
  # nothing else had run meanwhile): the dear one has 20 s left, the two waiting 60 s, on two
  # workers.
  assert time_left.seconds(18.0) == pytest.approx((20.0 + 60.0) / 2)
  # The last one running alone: what it has left, not spread over the idle worker.
  time_left.finished("dear", 3.0, now=38.0)
  time_left.started("next", 3.0, now=38.0)
  time_left.finished("next", 3.0, now=68.0)
  time_left.started("last", 3.0, now=68.0)
  assert time_left.seconds(70.0) == pytest.approx(28.0)


def test_an_artifact_never_started_only_stops_waiting():
  time_left = estimate.TimeLeft([1.0, 1.0, 1.0])
  time_left.finished("spared", 1.0, now=5.0)  # its variant's checkpoint failed
  assert time_left.seconds(5.0) is None
  time_left.started("a", 1.0, now=5.0)
  time_left.finished("a", 1.0, now=9.0)
  assert time_left.seconds(9.0) == pytest.approx(4.0)


def test_an_artifact_costs_more_with_a_larger_variant_and_with_its_litert_models():
  large, small = _planned(LARGE), _planned(SMALL)
  assert large[5].beside and not large[4].beside  # the latest version has its LiteRT models

  assert estimate.cost(large[5]) > estimate.cost(large[4]) > estimate.cost(small[4])
  assert estimate.cost(small[5]) > estimate.cost(small[4])
  assert estimate.cost(large[5]) - estimate.cost(large[4]) > (
    estimate.cost(small[5]) - estimate.cost(small[4])
  )  # the LiteRT calibration runs the network
  # A Keras file costs less than a module version: no tracing, no card or archive.
  assert estimate.cost(small[4]) > estimate.cost(small["keras"])
  assert estimate.cost(large[4]) - estimate.cost(large["keras"]) == pytest.approx(
    estimate.cost(small[4]) - estimate.cost(small["keras"])
  )  # the network costs the same in both
  assert estimate.cost(large[5]) >= 2 * estimate.cost(small["keras"])


class _Clock:
  def __init__(self):
    self.now = 100.0

  def monotonic(self):
    return self.now


def _left_after_first(monkeypatch, first: state.Artifact, then: state.Artifact) -> str:
  """The progress line's time left once `first` is made, 12 s into a run of the two."""
  clock, out = _Clock(), io.StringIO()
  monkeypatch.setattr(report, "time", clock)
  jobs = [plan.Job(plan.Outcome(a, reason="new"), {}, None) for a in (first, then)]
  printer = report.Printer(out, len(jobs))
  printer.announce("/out", [job.outcome for job in jobs], jobs, {}, 1)
  done = jobs[0].outcome
  done.status, done.seconds, done.max_abs_error = state.MADE, 12.0, 1e-06

  printer.started_one(done)
  clock.now += 12
  printer.finished_one(done)

  line = out.getvalue().splitlines()[-1]
  assert line.startswith(f"[1/2] made {first.key} in 12.0 s (max |diff| 1e-06); elapsed 0:12")
  return line.rsplit("about ", 1)[1]


def test_the_progress_line_prices_the_artifacts_left_by_their_cost(monkeypatch):
  cheap, expensive = _planned(SMALL)["keras"], _planned(LARGE)[5]
  ratio = estimate.cost(expensive) / estimate.cost(cheap)

  assert _left_after_first(monkeypatch, cheap, cheap) == "0:12 left"  # the flat average
  assert _left_after_first(monkeypatch, cheap, expensive) == f"{report.clock(12 * ratio)} left"
  assert _left_after_first(monkeypatch, expensive, cheap) == f"{report.clock(12 / ratio)} left"
