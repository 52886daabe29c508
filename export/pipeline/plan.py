"""Planning a regeneration: which artifacts, from which checkpoints, and which to make again.

Nothing here imports TensorFlow; the orchestrator plans in milliseconds.
"""

import dataclasses
import os
from typing import Optional

from export.base import errors
from export.base import versions as versions_lib
from export.formats import registry
from export.pipeline import state
from nets import architecture

WORKER_MEMORY_BYTES = 3 << 29  # 1.5 GiB: a worker's peak (about 1 GB) with some margin


def check_module_types(module_types) -> tuple:
  """The module types in their table's order; ValueError naming an unknown one."""
  return errors.check_subset(module_types, architecture.MODULE_TYPES, "module type")


def check_versions(numbers) -> tuple:
  """The version numbers, sorted; ValueError for one this pipeline cannot produce."""
  if not numbers:
    raise ValueError("no versions selected")
  return tuple(sorted({versions_lib.producible(number).number for number in numbers}))


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


# What a regeneration makes: the registry's formats, in its order (export/formats/registry.py).
FORMATS = registry.NAMES


def check_formats(formats) -> tuple:
  """The formats in FORMATS order; ValueError naming an unknown one, or one made with another
  format's module (LiteRT, with the SavedModel's) without it."""
  chosen = errors.check_subset(formats, FORMATS, "format")
  for name in chosen:
    made_with = registry.by_name(name).made_with
    if made_with and made_with not in chosen:
      raise ValueError(f"{name} is made from the {made_with} format's module: select both")
  return chosen


def artifacts(variants: list, module_types: list, versions: list, formats: tuple = FORMATS) -> list:
  """The module versions of each variant and module type, then its file of each format made
  per module (Keras); the formats made with the SavedModel go with the latest version."""
  selected = [registry.by_name(name) for name in FORMATS if name in formats]
  beside = tuple((fmt.name, fmt.types) for fmt in selected if fmt.made_with)
  planned = []
  for variant in variants:
    for module_type in module_types:
      if registry.PRIMARY in selected:
        planned += [
          state.Artifact(variant, module_type, version, beside if version == max(versions) else ())
          for version in versions
        ]
      planned += [
        state.Artifact(variant, module_type, None, format=fmt.name)
        for fmt in selected
        if not fmt.per_version
      ]
  return planned


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


@dataclasses.dataclass(frozen=True)
class Job:
  """An artifact to make: its outcome (filled in as it runs), stamp inputs and checkpoint."""

  outcome: Outcome
  inputs: dict
  source: state.Source


def find_sources(checkpoint_dir: str, variants: list) -> dict:
  """Variant -> Source, or the one-line reason it has none (its artifacts then fail)."""
  found = {}
  for variant in variants:
    try:
      path = state.find_checkpoint(checkpoint_dir, variant)
      found[variant] = state.Source(os.path.abspath(path), state.source_digest(path))
    except state.MissingCheckpoint as error:
      found[variant] = f"{variant.name}: {error}"
    except OSError as error:
      found[variant] = f"{variant.name}: {error.filename}: cannot read ({error.strerror})"
  return found


def triage(planned: list, sources: dict, output_dir: str) -> tuple:
  """(an Outcome per artifact, the Jobs of those missing or stale), in the planned order."""
  tool, tensorflow = state.tool_version(), state.tensorflow_version()
  outcomes, jobs, code = [], [], state.CodeDigests()
  for artifact in planned:
    outcome = Outcome(artifact)
    outcomes.append(outcome)
    source = sources[artifact.variant]
    if isinstance(source, str):
      outcome.status, outcome.reason = state.FAILED, source
      continue
    inputs = state.stamp_inputs(artifact, source, tool, tensorflow)
    outcome.reason = state.staleness(artifact, output_dir, inputs, code)
    if outcome.reason is None:
      outcome.status, outcome.reason = state.UP_TO_DATE, ""
      outcome.max_abs_error = state.recorded_entry(artifact, output_dir).parity.max_abs_error
    else:
      jobs.append(Job(outcome, inputs, source))
  return outcomes, jobs
