"""The regeneration's worker: makes one artifact in one fresh process.

  python -m export.pipeline.worker JOB_JSON

Run by the orchestrator (export/pipeline/regenerate.py) once per artifact, as `worker_main` in
a child that its slot's fork server (export/pipeline/forkserver.py) forks after `preload`; the
command above does the same in a process of its own. Makes the artifact in a staging directory
(export/pipeline/makers.py: exported, verified against the checkpoint's TF-Slim graph,
documented), moves it into place and writes the artifact's stamp last; then writes its result
file for the orchestrator. TensorFlow is imported only in `preload`, never by the orchestrator.
docs/regeneration.md describes the behaviour.
"""

import json
import os
import pathlib
import sys

from export.base import errors
from export.base import files
from export.pipeline import makers
from export.pipeline import state
from nets import variants as variants_lib


def preload() -> None:
  """Imports what every artifact imports (TensorFlow, the checkpoint reader, verification and
  its shared reference), and runs nothing: no op, no tracing, so TensorFlow's runtime and its
  process-wide counters are as a fresh import leaves them.

  A fork server calls it once before forking the workers; a worker run on its own calls it
  first, so both start from the same state. What only some artifacts import (an exporter, a
  format's converter) is imported as they need it, so each artifact's stamp lists the files
  it ran, whichever way it was made.
  """
  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow  # noqa: F401

  from export.core import checkpoint  # noqa: F401
  from export.pipeline import references  # noqa: F401
  from export.verification import verifier  # noqa: F401


def make_artifact(job: dict) -> dict:
  """Makes one artifact (export/pipeline/makers.py), then moves it into place.

  Runs in the worker process; returns the result the orchestrator reads. Nothing appears
  under the final paths until every file is ready (see `_place`).
  """
  preload()
  from export.core import checkpoint  # pylint: disable=g-import-not-at-top  (see preload)

  artifact = state.Artifact(
    variants_lib.by_name(job["variant"]),
    job["module_type"],
    job["version"],
    tuple((name, tuple(types)) for name, types in job["beside"]),
    job["format"],
  )
  output_dir = job["output_dir"]
  timings = {}
  with files.scratch_directory(
    os.path.join(output_dir, state.STATE_DIR, "staging"), artifact.file_stem
  ) as staging:
    try:
      with checkpoint.opened(job["checkpoint_path"]) as prefix:
        entry, placements = makers.make(
          artifact, prefix, job["inputs"]["checkpoint"]["sha256"], staging, output_dir, timings
        )
    except checkpoint.CheckpointError as error:
      raise makers.ArtifactError(str(error), kind="checkpoint") from None
    stamp = {"code": _code_digests(), "entry": entry.to_json(), "inputs": job["inputs"]}
    result = {
      "max_abs_error": entry.parity.max_abs_error,
      "status": state.MADE,
      "timings": {phase: round(seconds, 3) for phase, seconds in timings.items()},
    }
    _place(artifact, placements, output_dir, staging, stamp, (job["result_path"], result))
  return result


def _code_digests() -> dict:
  """sha256 of every project file this process has run (and the data files it read).

  The exporter's code decides the SavedModel's bytes, so a change to any of it makes the
  artifact stale; recording what was actually imported avoids guessing the list.
  """
  paths = set(state.DATA_FILES)
  for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    if not path:
      continue
    path = pathlib.Path(path).resolve()
    if (
      path.suffix == ".py"
      and path.is_relative_to(state.PROJECT_ROOT)
      and not any(
        part.startswith(".") or part == "site-packages"
        for part in path.relative_to(state.PROJECT_ROOT).parts
      )
    ):
      paths.add(path.relative_to(state.PROJECT_ROOT).as_posix())
  return {name: files.sha256(state.PROJECT_ROOT / name) for name in sorted(paths)}


def _place(
  artifact: state.Artifact,
  placements: list,
  output_dir: str,
  staging: str,
  stamp: dict,
  result: tuple,
) -> None:
  """Moves the staged files to their final paths, then the stamp, which completes them, and the
  result (path, value) for the orchestrator, as one step (`files.place_together`).

  After an interrupt, even one lost on its way, nothing is placed (KeyboardInterrupt); one
  that comes during the step cannot cut it short, and the artifact is made. The old stamp goes
  first, so an artifact half-replaced (only SIGKILL can stop the step) is never taken for
  complete. Every rename stays on one file system.
  """
  moves = [
    (staged, os.path.join(output_dir, *relative.split("/"))) for staged, relative in placements
  ]
  stamp_path, (result_path, result_value) = artifact.stamp_path(output_dir), result
  for name, target, value in (("stamp", stamp_path, stamp), ("result", result_path, result_value)):
    staged = os.path.join(staging, f"{name}.json")
    pathlib.Path(staged).write_text(files.to_json(value))
    moves.append((staged, target))
  errors.raise_if_interrupted()  # before the directories and the old stamp are touched
  for _, target in moves:
    os.makedirs(os.path.dirname(target), exist_ok=True)
  if os.path.exists(stamp_path):
    os.remove(stamp_path)
  try:
    files.place_together(moves)
  except KeyboardInterrupt:
    if os.path.exists(moves[0][0]):  # refused before the first rename: nothing was placed
      raise
    # it came during the renames, too late to stop them: the artifact is made


def worker_main(argv: list) -> int:
  """`python -m export.pipeline.worker JOB_JSON`: makes one artifact, writes its result file.

  SIGINT and SIGTERM (the orchestrator forwards either) interrupt it as they do the binaries
  (`errors.watch_interrupts`): whatever fails after one came is reported as the interrupt,
  and one that TensorFlow lost still stops the worker before anything is placed.
  """
  job = json.loads(argv[1])
  errors.watch_interrupts()
  try:
    result = make_artifact(job)
  except BaseException as error:  # pylint: disable=broad-except  (what the interrupt became)
    if isinstance(error, KeyboardInterrupt) or errors.interrupted():
      print(f"interrupted ({errors.interrupted() or 'SIGINT'}); nothing placed", file=sys.stderr)
      return state.INTERRUPTED_EXIT_CODE
    if not isinstance(error, makers.ArtifactError):
      raise
    result = {"kind": error.kind, "message": str(error), "status": state.FAILED}
    files.write_json(job["result_path"], result)
  print(f"{result['status']}: {result.get('message', job['key'])}", file=sys.stderr)
  return 0 if result["status"] == state.MADE else 1


if __name__ == "__main__":
  sys.exit(worker_main(sys.argv))
