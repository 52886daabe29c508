"""How long a regeneration has left: the expected cost of the artifacts left, at the run's pace.

Artifacts differ severalfold in time (a 1.4/224 module version with its LiteRT models against a
0.35/96 Keras file), and the plan starts with the largest variants, so a flat average per
artifact would be far off for most of a run. `cost` weighs an artifact by its kind and its
variant's multiply-adds, in units of an artifact's former fixed cost; `TimeLeft` prices the units
with the run's own pace (each finished artifact's own seconds per unit, from its start to its
end), so no machine's seconds are written here. The pace is a worker's: the work left is spread
over the workers, and an artifact still running is charged only what it has not yet spent. (A
pace from the run's wall clock instead charged the first artifact to finish with the start-up
and with the others' work meanwhile, which made short runs' estimates several times too long.)
"""

from typing import Iterable
from typing import Optional

from export.formats import registry
from export.pipeline import state

# The weights, in units of what one artifact's fixed cost was when each artifact had a fresh
# process of its own (a process start, TensorFlow's import, tracing, saving, verifying against
# a reference of its own, the card): ratios of the timings in docs/regeneration.md and
# docs/litert.md. They need to be right only roughly; the rate absorbs the machine.
# Forked from a fork server, with the variant's reference shared, what is left of it is about
# 0.7 for a module version (tracing, saving, verifying, the card and archive) and 0.3 for a
# Keras file (building and saving a Keras model, verifying).
MODULE_VERSION_FIXED = 0.7
MODULE_FILE_FIXED = 0.3
# Exporting and verifying run the network: 1.4/224 (0.58 billion multiply-adds per image)
# costs about 0.6 of a unit more than 0.35/96.
PER_BILLION_MACS = 1.0
# The files of the formats made with a module version (the LiteRT models) cost what their
# registry entry says (`Format.cost_per_type`, `Format.cost_per_billion_macs`).


def cost(artifact: state.Artifact) -> float:
  """The artifact's expected time, in the units above."""
  billion_macs = artifact.variant.macs_millions / 1000
  fixed = MODULE_FILE_FIXED if artifact.per_module else MODULE_VERSION_FIXED
  units = fixed + PER_BILLION_MACS * billion_macs
  for name, types in artifact.beside:
    fmt = registry.by_name(name)
    units += fmt.cost_per_type * len(types) + fmt.cost_per_billion_macs * billion_macs
  return units


class TimeLeft:
  """Seconds left: what waits, plus what the running artifacts have yet to spend, at the pace
  the finished ones showed, over `workers`. With equal costs and one worker it is the flat
  average: the time so far per artifact, times the artifacts left."""

  def __init__(self, costs: Iterable[float], workers: int = 1):
    self.cost_waiting, self.workers = float(sum(costs)), max(1, workers)
    self.running = {}  # key -> (cost, started at)
    self.seconds_measured = self.cost_measured = 0.0

  def started(self, key: str, cost_of_one: float, now: float) -> None:
    self.running[key] = (cost_of_one, now)
    self.cost_waiting = max(0.0, self.cost_waiting - cost_of_one)

  def finished(self, key: str, cost_of_one: float, now: float) -> None:
    """An artifact done, made or failed; one never started (its checkpoint failed) is only no
    longer waiting."""
    if key in self.running:
      cost_of_one, started = self.running.pop(key)
      self.seconds_measured += now - started
      self.cost_measured += cost_of_one
    else:
      self.cost_waiting = max(0.0, self.cost_waiting - cost_of_one)

  def seconds(self, now: float) -> Optional[float]:
    """None until an artifact that ran has finished: there is no pace yet."""
    if not self.cost_measured:
      return None
    pace = self.seconds_measured / self.cost_measured
    running = [max(0.0, cost * pace - (now - started)) for cost, started in self.running.values()]
    spread = (self.cost_waiting * pace + sum(running)) / self.workers
    return max([spread, *running])
