"""The regeneration's workers are pure: an artifact forked from a fork server that has made
others is, byte for byte, what a fresh `python -m export.pipeline.worker` process makes.

TensorFlow's counters are process-wide (a traced function's name in `saved_model.pb` carries
one), so a worker that inherited an earlier export's state would write other bytes. The server
only imports (`worker.preload`), and each artifact is made in a child forked from that state.
And the reference a variant's workers share (export/pipeline/references.py) is computed once,
the same bits as each module type's own.
"""

import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from export.pipeline import plan
from export.pipeline import references
from export.pipeline import schedule
from export.pipeline import state
from export.verification import expectation as expectation_lib
from nets import architecture
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")
_SCRATCH = (
  ".regenerate/logs/",
  ".regenerate/results/",
  ".regenerate/references/",
  ".regenerate/lock",
)

_TENSORFLOW_AFTER = """
import sys, threading
{imports}
from tensorflow.python.eager import context
from tensorflow.python.framework import ops
print(ops.uid(), context.context()._context_handle is None, threading.active_count())
"""


def _tensorflow_after(imports: str) -> list:
  """(next uid, runtime not started, Python threads) after `imports` in a fresh process."""
  process = subprocess.run(
    [sys.executable, "-c", _TENSORFLOW_AFTER.format(imports=imports)],
    capture_output=True,
    text=True,
    cwd=state.PROJECT_ROOT,
    env=schedule.worker_environment(),
    timeout=300,
  )
  assert process.returncode == 0, process.stderr
  return process.stdout.split()


@pytest.mark.slow
def test_preload_only_imports_leaving_tensorflow_as_a_bare_import_does():
  bare = _tensorflow_after("import tensorflow")
  preloaded = _tensorflow_after("from export.pipeline import worker\nworker.preload()")
  # uid names traced functions: the same next uid means nothing was traced or built.
  assert preloaded == bare
  assert preloaded[1:] == ["True", "1"]  # no runtime, no thread: safe to fork


def _files(root: pathlib.Path) -> dict:
  """Relative path -> sha256 of every file the run leaves (logs and scratch aside); the
  stamps as JSON, to compare the code they list."""
  found = {}
  for path in sorted(p for p in root.rglob("*") if p.is_file()):
    relative = path.relative_to(root).as_posix()
    if relative.startswith(_SCRATCH):
      continue
    if relative.startswith(".regenerate/stamps/"):
      found[relative] = json.loads(path.read_text())
    else:
      found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
  return found


# The SavedModels alone: tracing one advances TensorFlow's process-wide counters, which is all
# a worker holding on to an earlier artifact's state needs to write other names. (The formats
# made beside a SavedModel are pure functions of it, each proven so in its own tests.)
_FORMATS = ("saved_model",)


def _jobs(checkpoint_dir, output_dir: pathlib.Path, keys: list) -> list:
  planned = plan.artifacts([VARIANT], ["classification", "feature_vector"], [4, 5], _FORMATS)
  sources = plan.find_sources(str(checkpoint_dir), [VARIANT])
  _, jobs = plan.triage(planned, sources, str(output_dir))
  by_key = {job.outcome.artifact.key: job for job in jobs}
  return [by_key[key] for key in keys]


def _fresh_process(job: plan.Job, output_dir: pathlib.Path) -> None:
  result_path = output_dir / ".regenerate" / "results" / "result.json"
  description = schedule.job_description(job, str(output_dir), str(result_path))
  process = subprocess.run(
    [sys.executable, "-m", "export.pipeline.worker", json.dumps(description)],
    capture_output=True,
    text=True,
    cwd=state.PROJECT_ROOT,
    env=schedule.worker_environment(),
    timeout=600,
  )
  assert process.returncode == 0, process.stdout + process.stderr


@pytest.mark.slow
def test_an_artifact_forked_after_another_is_that_of_a_fresh_process(
  checkpoint_dir_075_96, tmp_path
):
  # What the first artifact's tracing left in TensorFlow would show in the names of the next
  # artifact's saved_model.pb. (The first child starts from the server's state, a bare
  # import's: the test above.)
  keys = [
    "google/imagenet/mobilenet_v2_075_96/classification/5",
    "google/imagenet/mobilenet_v2_075_96/feature_vector/4",
  ]
  served = tmp_path / "served"
  jobs = _jobs(checkpoint_dir_075_96, served, keys)
  interrupted = schedule.execute(
    jobs, 1, str(served), str(served / ".regenerate"), lambda _: None, lambda _: None
  )
  assert interrupted == []
  assert [job.outcome.status for job in jobs] == [state.MADE] * 2, [
    job.outcome.reason for job in jobs
  ]
  # The second artifact in a fresh process, in a directory of its own: it computes the
  # reference itself, where the second child read the one the first left.
  fresh_dir = tmp_path / "fresh"
  _fresh_process(_jobs(checkpoint_dir_075_96, tmp_path / "unused", keys[1:])[0], fresh_dir)
  fresh = _files(fresh_dir)

  made = _files(served)
  assert any(name.endswith("/classification/5/saved_model.pb") for name in made)  # made first
  assert any(name.endswith("/4/saved_model.pb") for name in fresh)
  assert fresh and set(fresh) <= set(made)
  for name, value in fresh.items():
    if name.startswith(".regenerate/stamps/"):
      # The child also ran the fork server's code: its stamp lists it besides the rest.
      server_code = made[name]["code"].pop("export/pipeline/forkserver.py")
      assert server_code and "export/pipeline/forkserver.py" not in value["code"]
    assert made[name] == value, name


@pytest.mark.slow
def test_one_classifier_graph_gives_each_module_types_reference_bit_for_bit(
  synthetic_checkpoint_075_96,
):
  specs = [VARIANT.spec(module_type) for module_type in architecture.MODULE_TYPES]
  shared = expectation_lib.expectations_from_checkpoint(synthetic_checkpoint_075_96, specs)
  for spec, found in zip(specs, shared):
    alone = expectation_lib.expectation_from_checkpoint(synthetic_checkpoint_075_96, spec)
    assert found.spec == spec and found.source == alone.source
    np.testing.assert_array_equal(found.outputs, alone.outputs)  # exactly, not within a tolerance
    assert sorted(found.variables) == sorted(alone.variables)


def test_a_variants_reference_is_computed_once_and_read_by_its_other_artifacts(
  tmp_path, monkeypatch
):
  computed = []

  def compute(prefix, specs):
    computed.append((prefix, [spec.module_type for spec in specs]))
    return [
      expectation_lib.Expectation(spec, [], None, None, None, {"path": prefix}) for spec in specs
    ]

  monkeypatch.setattr(expectation_lib, "expectations_from_checkpoint", compute)
  found = [
    references.expectation(
      state.Artifact(VARIANT, module_type, version), f"/unpacked/{n}", "ab" * 32, str(tmp_path)
    )
    for n, (module_type, version) in enumerate([("classification", 4), ("feature_vector", 5)])
  ]

  assert computed == [("/unpacked/0", list(architecture.MODULE_TYPES))]
  assert [e.spec.module_type for e in found] == ["classification", "feature_vector"]
  assert [e.source["path"] for e in found] == ["/unpacked/0", "/unpacked/1"]  # each its own
  other_checkpoint = state.Artifact(VARIANT, "classification", 5)
  references.expectation(other_checkpoint, "/unpacked/2", "cd" * 32, str(tmp_path))
  assert len(computed) == 2
