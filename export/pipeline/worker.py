"""The regeneration's worker: makes one artifact in one fresh Python process.

  python -m export.pipeline.worker JOB_JSON

Started by the orchestrator (export/pipeline/regenerate.py), once per artifact: exports the SavedModel
from the checkpoint, verifies it against the checkpoint's TF-Slim graph, writes the card and
the archive into a staging directory, moves them into place and writes the artifact's stamp
last; then writes its result file for the orchestrator. TensorFlow is imported only here, and
only once a job runs. docs/regeneration.md describes the behaviour.
"""

import contextlib
import json
import os
import pathlib
import signal
import sys
import time

from export.base import files
from export.pipeline import state
from export.publish import hub_layout
from nets import architecture
from nets import variants as variants_lib


class ArtifactError(Exception):
  """The artifact cannot be made; `kind` is "checkpoint" when its checkpoint is unusable."""

  def __init__(self, message: str, kind: str = "artifact"):
    super().__init__(message)
    self.kind = kind


def make_artifact(job: dict) -> dict:
  """Exports, verifies, documents and archives one artifact, then moves it into place.

  Runs in the worker process; returns the result the orchestrator reads. Nothing appears
  under the final paths until every file is ready (see `_place`).
  """
  # TensorFlow is imported here, in the worker only: the orchestrator never needs it.
  from export.core import checkpoint  # pylint: disable=g-import-not-at-top

  artifact = state.Artifact(
    variants_lib.by_name(job["variant"]), job["module_type"], job["version"]
  )
  output_dir = job["output_dir"]
  timings = {}
  with files.scratch_directory(
    os.path.join(output_dir, state.STATE_DIR, "staging"), artifact.file_stem
  ) as staging:
    try:
      with checkpoint.opened(job["checkpoint_path"]) as prefix:
        report, source = _export_and_verify(artifact, prefix, staging, timings)
    except checkpoint.CheckpointError as error:
      raise ArtifactError(str(error), kind="checkpoint") from None
    if not report.passed:
      report_path = os.path.join(
        output_dir, state.STATE_DIR, "logs", f"{artifact.file_stem}.verify.json"
      )
      files.write_file(report_path, report.to_json())
      raise ArtifactError(f"verification failed: {report.first_failure} (report: {report_path})")
    started = time.perf_counter()
    entry = _document_and_archive(artifact, staging, report, source)
    timings["card_archive_digests"] = time.perf_counter() - started
    stamp = {"code": _code_digests(), "entry": entry, "inputs": job["inputs"]}
    result = {
      "max_abs_error": entry["parity"]["max_abs_error"],
      "status": state.MADE,
      "timings": {phase: round(seconds, 3) for phase, seconds in timings.items()},
    }
    with _signals_deferred():
      _place(artifact, staging, output_dir, stamp)
      # Written with the placement, so an interrupt cannot separate the two.
      files.write_json(job["result_path"], result)
  return result


def _export_and_verify(artifact: state.Artifact, prefix: str, staging: str, timings: dict):
  """(verification report, checkpoint source) of the SavedModel exported into staging."""
  # pylint: disable=g-import-not-at-top
  from export.core import exporter
  from export.verification import expectation as expectation_lib
  from export.verification import verifier
  # pylint: enable=g-import-not-at-top

  variant = artifact.variant
  started = time.perf_counter()
  try:
    result = exporter.export_saved_model(
      exporter.ExportOptions(
        checkpoint_path=prefix,
        export_dir=os.path.join(staging, "saved_model"),
        depth_multiplier=variant.depth_multiplier,
        image_size=variant.image_size,
        module_type=artifact.module_type,
        version=artifact.version,
        **state.EXPORT_OPTIONS,
      )
    )
  except (ValueError, exporter.ExportError) as error:
    raise ArtifactError(f"export failed: {error}") from None
  timings.update({f"export_{phase}": seconds for phase, seconds in result.timings.items()})
  timings["export"] = time.perf_counter() - started
  started = time.perf_counter()
  try:
    expectation = expectation_lib.expectation_from_checkpoint(
      prefix,
      depth_multiplier=variant.depth_multiplier,
      image_size=variant.image_size,
      module_type=artifact.module_type,
    )
    report = verifier.compare(result.export_dir, expectation)
  except expectation_lib.VerifyInputError as error:
    raise ArtifactError(f"verification could not run: {error}") from None
  timings["verify"] = time.perf_counter() - started
  source = {"files": expectation.source["files"], "sha256": expectation.source["sha256"]}
  return report, source


def _document_and_archive(artifact: state.Artifact, staging: str, report, source: dict) -> dict:
  """Writes the card and the archive into staging; returns the artifact's manifest entry."""
  from export.publish import model_card  # pylint: disable=g-import-not-at-top

  saved_model = os.path.join(staging, "saved_model")
  card = os.path.join(staging, "card.md")
  files.write_file(
    card, model_card.render(artifact.variant, artifact.module_type, artifact.version)
  )
  archive = files.write_reproducible_archive(saved_model, os.path.join(staging, "archive.tar.gz"))
  num_classes = architecture.num_classes(artifact.module_type)
  multiplier = artifact.variant.depth_multiplier
  return {
    "archive": {
      "bytes": os.path.getsize(archive),
      "path": artifact.key + hub_layout.ARCHIVE_SUFFIX,
      "sha256": files.sha256(archive),
      "tar_sha256": files.tar_sha256(archive),
    },
    "card": {
      "bytes": os.path.getsize(card),
      "path": artifact.key + hub_layout.CARD_SUFFIX,
      "sha256": files.sha256(card),
    },
    "checkpoint": source,
    "handle": artifact.variant.hub_handle(artifact.module_type),
    "module_type": artifact.module_type,
    "parameters": {
      "with_batch_norm": architecture.parameter_count(multiplier, num_classes, True),
      "without_batch_norm": architecture.parameter_count(multiplier, num_classes),
    },
    "parity": parity_figures(report),
    "saved_model": {
      "files": _saved_model_files(saved_model),
      "fingerprint": _fingerprint(saved_model),
      "path": artifact.key,
    },
    "variant": artifact.variant.name,
    "version": artifact.version,
  }


def _saved_model_files(directory: str) -> dict:
  return {
    name: {
      "bytes": os.path.getsize(os.path.join(directory, name)),
      "sha256": files.sha256(os.path.join(directory, *name.split("/"))),
    }
    for name in files.tree_files(directory)
  }


def _fingerprint(directory: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  fingerprint = tf.saved_model.experimental.read_fingerprint(directory)
  return {
    "checkpoint_hash": fingerprint.checkpoint_hash,
    "graph_def_program_hash": fingerprint.graph_def_program_hash,
    "saved_model_checksum": fingerprint.saved_model_checksum,
    "saved_object_graph_hash": fingerprint.saved_object_graph_hash,
    "signature_def_hash": fingerprint.signature_def_hash,
    "singleprint": fingerprint.singleprint(),
  }


def parity_figures(report) -> dict:
  """The verification's figures: worst errors, top-k agreement, and each check's status."""
  checks = {check.name: check for check in report.checks}
  outputs = checks["outputs"].details
  figures = {
    "checks": {name: check.status for name, check in sorted(checks.items())},
    "evaluations": outputs.get("evaluations"),
    "max_abs_error": outputs.get("max_abs_error"),
    "max_rel_error": outputs.get("max_rel_error"),
    "variables_exactly_equal": checks["variables"].details.get("compared"),
  }
  for name in ("top1", "top5"):
    figures[f"{name}_agree"] = checks[name].details.get("agree") if name in checks else None
  return figures


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


@contextlib.contextmanager
def _signals_deferred():
  """Holds SIGINT and SIGTERM back until the block is done, so renames are not cut short."""
  held = {signal.SIGINT, signal.SIGTERM}
  previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
  try:
    yield
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _place(artifact: state.Artifact, staging: str, output_dir: str, stamp: dict) -> None:
  """Moves the staged files to their final paths; the stamp, written last, completes them.

  The caller holds signals back meanwhile. The old stamp goes first, so an artifact
  half-replaced (only a SIGKILL can stop this between two renames) is never taken for
  complete. Every rename stays on one file system.
  """
  paths = artifact.paths(output_dir)
  stamp_path = artifact.stamp_path(output_dir)
  if os.path.exists(stamp_path):
    os.remove(stamp_path)
  os.makedirs(os.path.dirname(paths.saved_model_dir), exist_ok=True)
  files.place_file(os.path.join(staging, "card.md"), paths.card_path)
  files.place_file(os.path.join(staging, "archive.tar.gz"), paths.archive_path)
  files.place_directory(os.path.join(staging, "saved_model"), paths.saved_model_dir)
  files.write_json(stamp_path, stamp)


class _Interrupted(Exception):
  pass


def _raise_interrupted(signum, unused_frame):
  # A second signal must not cut the cleanup short.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  raise _Interrupted(signal.Signals(signum).name)


def worker_main(argv: list) -> int:
  """`python -m export.pipeline.worker JOB_JSON`: makes one artifact, writes its result file."""
  job = json.loads(argv[1])
  signal.signal(signal.SIGINT, _raise_interrupted)
  signal.signal(signal.SIGTERM, _raise_interrupted)
  try:
    result = make_artifact(job)
  except _Interrupted as error:
    print(f"interrupted ({error}); nothing placed", file=sys.stderr)
    return state.INTERRUPTED_EXIT_CODE
  except ArtifactError as error:
    result = {"kind": error.kind, "message": str(error), "status": state.FAILED}
    files.write_json(job["result_path"], result)
  print(f"{result['status']}: {result.get('message', job['key'])}", file=sys.stderr)
  return 0 if result["status"] == state.MADE else 1


if __name__ == "__main__":
  sys.exit(worker_main(sys.argv))
