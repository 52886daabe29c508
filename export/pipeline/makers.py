"""What the regeneration's worker makes, per kind of artifact, inside a staging directory.

`make(artifact, prefix, checkpoint_sha256, staging, output_dir, timings)` returns the artifact's manifest entry
(export/pipeline/manifest.py) and its placements, (staged path, final path relative to the
output root) pairs that the worker moves into place (under `output_dir`, the output root, only
a failed verification's report is written, in `.regenerate/logs/`):

  a module version  the SavedModel, its card and reproducible archive, and the files of the
                    formats selected with it (`beside`: the LiteRT models of its inference
                    function), each checked against the SavedModel before it is written;
  a module's file   a format made per module (`Format.write_module_file`: the Keras 3 file).

What a format needs is asked of its registry entry (export/formats/format.py): the export's
options that make it, the files it wrote, its writer and where its files go.

Each is verified against the checkpoint (export/verification) before anything is placed, with
the reference outputs its variant's artifacts share (export/pipeline/references.py); a
failure raises ArtifactError. TensorFlow is imported only here, in the worker process.
"""

import contextlib
import os

from export.base import errors
from export.base import files
from export.base import timing
from export.core import checkpoint
from export.formats import registry
from export.pipeline import manifest
from export.pipeline import state
from export.publish import hub_layout
from nets import architecture


class ArtifactError(errors.Failure):
  """The artifact cannot be made; `kind` is "checkpoint" when its checkpoint is unusable."""

  def __init__(self, message: str, kind: str = "artifact"):
    super().__init__(message)
    self.kind = kind


def make(
  artifact: state.Artifact,
  prefix: str,
  checkpoint_sha256: str,
  staging: str,
  output_dir: str,
  timings: dict,
) -> tuple:
  """(manifest entry, placements) of `artifact`, made from the checkpoint at `prefix` (whose
  `checkpoint_sha256`, the job's, names the reference outputs its variant's artifacts share)."""
  source = _Source(prefix, checkpoint_sha256, os.path.join(output_dir, state.STATE_DIR))
  if artifact.per_module:
    return _module_file(artifact, source, staging, timings)
  return _module_version(artifact, source, staging, timings)


class _Source:
  """The checkpoint an artifact is made from, and where its run keeps state and logs."""

  def __init__(self, prefix: str, sha256: str, state_dir: str):
    self.prefix, self.sha256, self.state_dir = prefix, sha256, state_dir
    self.logs_dir = os.path.join(state_dir, "logs")


def _verify(artifact: state.Artifact, source: _Source, export_path: str) -> tuple:
  """(report, checkpoint record) of the export at `export_path`; ArtifactError if it fails."""
  # pylint: disable=g-import-not-at-top
  from export.pipeline import references
  from export.verification import expectation as expectation_lib
  from export.verification import verifier
  # pylint: enable=g-import-not-at-top

  try:
    expectation = references.expectation(artifact, source.prefix, source.sha256, source.state_dir)
    report = verifier.compare(export_path, expectation)
  except expectation_lib.VerifyInputError as error:
    raise ArtifactError(f"verification could not run: {error}") from None
  if not report.passed:
    report_path = os.path.join(source.logs_dir, f"{artifact.file_stem}.verify.json")
    files.write_file(report_path, report.to_json())
    raise ArtifactError(f"verification failed: {report.first_failure} (report: {report_path})")
  source = expectation.source
  return report, manifest.Checkpoint(files=tuple(source["files"]), sha256=source["sha256"])


def _common_fields(artifact: state.Artifact, report, checkpoint: manifest.Checkpoint) -> dict:
  """The fields every manifest entry has (export/pipeline/manifest.py)."""
  num_classes = architecture.num_classes(artifact.module_type)
  multiplier = artifact.variant.depth_multiplier
  return {
    "checkpoint": checkpoint,
    "handle": artifact.variant.hub_handle(artifact.module_type),
    "module_type": artifact.module_type,
    "parameters": manifest.Parameters(
      with_batch_norm=architecture.parameter_count(multiplier, num_classes, True),
      without_batch_norm=architecture.parameter_count(multiplier, num_classes),
    ),
    "parity": parity_figures(report),
    "variant": artifact.variant.name,
  }


@contextlib.contextmanager
def _exporting(timings: dict):
  """Times the export and reports its usage errors and failures as ArtifactError; a checkpoint
  the export finds unusable (of another variant, say) as one that fails its variant's other
  artifacts too."""
  with timing.phase(timings, "export"):
    try:
      yield
    except checkpoint.CheckpointError as error:
      raise ArtifactError(f"export failed: {error}", kind="checkpoint") from None
    except (ValueError, errors.Failure) as error:
      raise ArtifactError(f"export failed: {error}") from None


# --- a module version ------------------------------------------------------------------------
def _module_version(artifact, source, staging, timings) -> tuple:
  from export.core import options  # pylint: disable=g-import-not-at-top
  from export.formats.saved_model import exporter  # pylint: disable=g-import-not-at-top

  saved_model = os.path.join(staging, "saved_model")
  beside = {}  # the options that make the formats selected with this version (LiteRT's)
  for name, types in artifact.beside:
    beside.update(registry.by_name(name).export_request(types))
  with _exporting(timings):
    result = exporter.export_saved_model(
      options.ExportOptions(
        checkpoint_path=source.prefix,
        export_dir=saved_model,
        spec=artifact.spec,
        version=artifact.version,
        **beside,
        **state.EXPORT_OPTIONS,
      )
    )
    timings.update({f"export_{phase}": seconds for phase, seconds in result.timings.items()})
  with timing.phase(timings, "verify"):
    report, checkpoint = _verify(artifact, source, saved_model)
  with timing.phase(timings, "card_archive_digests"):
    return _module_files(artifact, report, checkpoint, staging, saved_model, result)


def _module_files(artifact, report, checkpoint, staging, saved_model, result) -> tuple:
  """The entry and placements of an exported, verified module version: its SavedModel, card,
  archive and the files of the formats made with it, with their digests."""
  from export.publish import model_card  # pylint: disable=g-import-not-at-top

  variant = artifact.variant
  placements, derived = [], {}
  for name, _ in artifact.beside:
    fmt = registry.by_name(name)
    for kind, path, extra in fmt.files_written(result):
      relative = hub_layout.relative_path(
        fmt, variant, artifact.module_type, artifact.version, kind
      )
      fields = _file_fields(path, relative)
      if fmt.companion_suffix:  # a directory beside the file (ONNX's test vectors)
        companion, companion_relative = path + fmt.companion_suffix, relative + fmt.companion_suffix
        fields["companions"] = {
          f"{companion_relative}/{name}": digest
          for name, digest in _directory_files(companion).items()
        }
        placements.append((companion, companion_relative))
      derived.setdefault(name, {})[kind] = manifest.derived(**extra, **fields)
      placements.append((path, relative))
  card = os.path.join(staging, "card.md")
  derived_json = {
    name: {kind: file.to_json() for kind, file in by_type.items()}
    for name, by_type in derived.items()
  }
  files.write_file(
    card, model_card.render(variant, artifact.module_type, artifact.version, **derived_json)
  )
  archive = files.write_reproducible_archive(saved_model, os.path.join(staging, "archive.tar.gz"))
  entry = manifest.ModuleVersionEntry(
    version=artifact.version,
    saved_model=manifest.SavedModel(
      path=artifact.key,
      files=_directory_files(saved_model),
      fingerprint=_fingerprint(saved_model),
    ),
    card=manifest.Card(
      static_sha256=model_card.static_sha256(card),
      **_file_fields(card, artifact.key + hub_layout.CARD_SUFFIX),
    ),
    archive=manifest.Archive(
      tar_sha256=files.tar_sha256(archive),
      **_file_fields(archive, artifact.key + hub_layout.ARCHIVE_SUFFIX),
    ),
    derived=derived,
    **_common_fields(artifact, report, checkpoint),
  )
  placements += [
    (card, entry.card.path),
    (archive, entry.archive.path),
    (saved_model, artifact.key),
  ]
  return entry, placements


def _file_fields(path: str, relative: str) -> dict:
  """The fields of a manifest.File: `path` is made at `relative` under the output root. A
  directory's (a TF.js model's) also list its files, with its tree digest and total size."""
  if not os.path.isdir(path):
    return {"path": relative, "sha256": files.sha256(path), "size": os.path.getsize(path)}
  listed = _directory_files(path)
  return {
    "path": relative,
    "sha256": files.tree_sha256(path),
    "size": sum(digest.size for digest in listed.values()),
    "files": listed,
  }


def _directory_files(directory: str) -> dict:
  """Relative name -> Digest of each file in `directory`."""
  return {
    name: manifest.Digest(
      sha256=files.sha256(os.path.join(directory, *name.split("/"))),
      size=os.path.getsize(os.path.join(directory, name)),
    )
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


# --- a file per module ------------------------------------------------------------------------
def _module_file(artifact, source, staging, timings) -> tuple:
  fmt = registry.by_name(artifact.format)
  variant = artifact.variant
  relative = hub_layout.relative_path(fmt, variant, artifact.module_type)
  path = os.path.join(staging, os.path.basename(relative))
  with _exporting(timings):
    fmt.write_module_file(
      source.prefix, path, spec=artifact.spec, use_ema=state.EXPORT_OPTIONS["use_ema"]
    )
  with timing.phase(timings, "verify"):
    report, checkpoint = _verify(artifact, source, path)
  entry = manifest.FileEntry(
    format=fmt.name,
    file=manifest.File(**_file_fields(path, relative)),
    **_common_fields(artifact, report, checkpoint),
  )
  return entry, [(path, relative)]


def parity_figures(report) -> manifest.Parity:
  """The verification's figures: worst errors, top-k agreement, and each check's status."""
  checks = {check.name: check for check in report.checks}
  outputs = checks["outputs"].details
  agree = {
    f"{name}_agree": checks[name].details.get("agree") if name in checks else None
    for name in ("top1", "top5")
  }
  return manifest.Parity(
    checks={name: check.status for name, check in sorted(checks.items())},
    evaluations=outputs.get("evaluations"),
    max_abs_error=outputs.get("max_abs_error"),
    max_rel_error=outputs.get("max_rel_error"),
    variables_exactly_equal=checks["variables"].details.get("compared"),
    **agree,
  )
