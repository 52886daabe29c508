r"""Regenerates the TF Hub layout of many MobileNet V2 modules from a directory of checkpoints.

  python scripts/regenerate_hub_artifacts.py --checkpoint_dir=checkpoints --output_dir=hub

An *artifact* is one module version, `<handle>/<version>`: its SavedModel directory, model
card and reproducible archive (the layout of `export/hub_layout.py`). Each artifact is made in
its own fresh Python process (`python -m export.regenerate JOB`), which exports the SavedModel
from the checkpoint, verifies it against the checkpoint's TF-Slim graph, writes the card and
the archive into a staging directory, and then moves them into place. A stamp file, written
last, marks the artifact complete and records what it was made from; a rerun redoes only the
artifacts whose stamp is missing or stale. `OUT/manifest.json` describes the complete
artifacts reproducibly (digests, fingerprints, parameter counts, parity figures);
`OUT/run_report.json` holds what varies from run to run (timings, logs, statuses).

This module is the library (the orchestrator runs without importing TensorFlow) and, run as a
module, the worker. docs/regeneration.md describes the behaviour.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import gzip
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Optional, TextIO

from export import hub_layout
from export import versions as versions_lib
from nets import architecture
from nets import variants as variants_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL_NAME = "slim-mobilenet-hub"
MANIFEST_NAME = "manifest.json"
RUN_REPORT_NAME = "run_report.json"
STATE_DIR = ".regenerate"  # inside OUT: stamps, staging, logs and the run lock
MANIFEST_FORMAT = "mobilenet_v2_hub_regeneration_manifest"
LOCK_FORMAT = "mobilenet_v2_hub_regeneration_lock"
FORMAT_VERSION = 1
# What every artifact is exported with: the exporter's defaults, recorded in the stamps.
EXPORT_OPTIONS = {"use_ema": True, "batch_norm_momentum_default": None}
# Non-Python files the worker reads; their contents are part of what an artifact depends on.
DATA_FILES = ("export/assets/ImageNetLabels.txt",)

# Artifact statuses.
MADE = "made"
UP_TO_DATE = "up to date"
FAILED = "FAILED"
NOT_RUN = "not run"

INTERRUPTED_EXIT_CODE = 130
_WORKER_GRACE_SECONDS = 60  # after a forwarded interrupt, before a worker is killed
_POLL_SECONDS = 0.1
WORKER_MEMORY_BYTES = 3 << 29  # 1.5 GiB: a worker's peak (about 1 GB) with some margin


class RegenerateError(Exception):
  """The run cannot start (bad selection, unusable output directory); one line."""


class MissingCheckpoint(Exception):
  """No usable checkpoint file for a variant in the checkpoint directory; one line."""


# --- what to make ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Artifact:
  variant: variants_lib.Variant
  module_type: str
  version: int

  @property
  def key(self) -> str:
    """`<handle>/<version>`: the artifact's path under the output root."""
    return hub_layout.relative_stem(self.variant, self.module_type, self.version)

  def paths(self, output_dir: str) -> hub_layout.ArtifactPaths:
    return hub_layout.artifact_paths(output_dir, self.variant, self.module_type, self.version)

  def stamp_path(self, output_dir: str) -> str:
    return os.path.join(output_dir, STATE_DIR, "stamps", *self.key.split("/")) + ".json"

  @property
  def file_stem(self) -> str:
    """A flat name for logs and staging: mobilenet_v2_075_96-classification-5."""
    return f"{self.variant.hub_name}-{self.module_type}-{self.version}"


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
  return [Artifact(variant, module_type, version) for variant in variants
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


# --- checkpoints -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Source:
  """The checkpoint found for a variant: a prefix or a released .tgz, and its digest."""
  path: str
  sha256: str


def find_checkpoint(checkpoint_dir: str, variant: variants_lib.Variant) -> str:
  """`<dir>/<name>.ckpt` (a prefix with its .index) or else `<dir>/<name>.tgz`.

  Raises MissingCheckpoint naming what was looked for.
  """
  prefix = os.path.join(checkpoint_dir, variant.checkpoint_name)
  archive = os.path.join(checkpoint_dir, f"{variant.name}.tgz")
  if os.path.isfile(prefix + ".index"):
    if not _data_files(prefix):
      raise MissingCheckpoint(f"{prefix}.index has no data file ({variant.checkpoint_name}"
                              f".data-*-of-*) beside it")
    return prefix
  if os.path.isfile(archive):
    return archive
  strays = [name for name in _listdir(checkpoint_dir)
            if name.startswith(variant.checkpoint_name + ".")]
  found = f" (found {', '.join(sorted(strays))} but no .index)" if strays else ""
  raise MissingCheckpoint(f"no checkpoint in {checkpoint_dir}: expected "
                          f"{variant.checkpoint_name}.index with its data file, or "
                          f"{variant.name}.tgz{found}")


def _listdir(directory: str) -> list:
  try:
    return os.listdir(directory)
  except OSError:
    return []


def _data_files(prefix: str) -> list:
  directory, stem = os.path.split(prefix)
  return sorted(os.path.join(directory, name) for name in _listdir(directory)
                if name.startswith(stem + ".data-"))


def source_digest(path: str) -> str:
  """sha256 of the checkpoint's bytes: the .index then the data files, or the .tgz.

  For a prefix this equals the manifest's checkpoint digest (export/verify.py's); for an
  archive it is the archive's own digest, which is cheaper than unpacking it on every run.
  """
  files = [path] if path.endswith(".tgz") else [path + ".index"] + _data_files(path)
  digest = hashlib.sha256()
  for name in files:
    _hash_file(name, digest)
  return digest.hexdigest()


def _hash_file(path: str, digest=None):
  digest = digest or hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest


def file_sha256(path: str) -> str:
  return _hash_file(path).hexdigest()


# --- environment -------------------------------------------------------------------------
def tool_version() -> str:
  """The project's version from setup.cfg (the checkout's, even if installed long ago)."""
  import configparser  # pylint: disable=g-import-not-at-top
  config = configparser.ConfigParser()
  if config.read(PROJECT_ROOT / "setup.cfg") and config.has_option("metadata", "version"):
    return config.get("metadata", "version")
  return importlib.metadata.version(TOOL_NAME)


def tensorflow_version() -> str:
  """TensorFlow's installed version, read without importing it (which takes seconds)."""
  for name in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    try:
      return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      continue
  return "unknown"


def stamp_inputs(artifact: Artifact, source: Source, tool: str, tensorflow: str) -> dict:
  """What an artifact is made from, besides the project's code (recorded by the worker)."""
  return {
      "artifact": {"variant": artifact.variant.name, "module_type": artifact.module_type,
                   "version": artifact.version},
      "checkpoint": {"file": os.path.basename(source.path), "sha256": source.sha256},
      "export_options": dict(EXPORT_OPTIONS),
      "python_version": platform.python_version(),
      "tensorflow_version": tensorflow,
      "tool_version": tool,
      "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
  }


# --- stamps: what is complete and current ------------------------------------------------
def read_json(path: str) -> Optional[dict]:
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, ValueError):
    return None
  return value if isinstance(value, dict) else None


def to_json(value) -> str:
  """Stable JSON: sorted keys, two-space indents, a final newline."""
  return json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_atomically(path: str, text: str) -> None:
  """Writes `text` beside `path` and renames it into place: readers see old or new, whole."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                              dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
    os.chmod(temp, 0o644)  # mkstemp's 0600 would be odd for a published file
    os.replace(temp, path)
  except BaseException:
    if os.path.exists(temp):
      os.remove(temp)
    raise


class CodeDigests:
  """sha256 of project files, each read once per run."""

  def __init__(self):
    self._known = {}

  def __call__(self, relative: str) -> Optional[str]:
    if relative not in self._known:
      try:
        self._known[relative] = file_sha256(str(PROJECT_ROOT / relative))
      except OSError:
        self._known[relative] = None
    return self._known[relative]


def staleness(artifact: Artifact, output_dir: str, inputs: dict,
              code: CodeDigests) -> Optional[str]:
  """None if the artifact is complete and current; otherwise why it must be made."""
  stamp = read_json(artifact.stamp_path(output_dir))
  if stamp is None:
    paths = artifact.paths(output_dir)
    present = any(os.path.exists(p) for p in (paths.saved_model_dir, paths.card_path,
                                              paths.archive_path))
    return "incomplete (no stamp)" if present else "new"
  recorded = stamp.get("inputs", {})
  for name in sorted(set(recorded) | set(inputs)):
    if recorded.get(name) != inputs.get(name):
      return f"stale: {name.replace('_', ' ')} changed"
  changed = [path for path, digest in sorted(stamp.get("code", {}).items())
             if code(path) != digest]
  if changed:
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return f"stale: {changed[0]}{more} changed"
  problem = _output_problem(output_dir, stamp.get("entry") or {})
  return f"stale: {problem}" if problem else None


def _output_problem(output_dir: str, entry: dict) -> Optional[str]:
  """Why the files on disk are not those the stamp's entry records, or None."""
  try:
    recorded = {entry["card"]["path"]: entry["card"]["sha256"],
                entry["archive"]["path"]: entry["archive"]["sha256"]}
    saved_model = entry["saved_model"]
    for name, file_entry in saved_model["files"].items():
      recorded[f"{saved_model['path']}/{name}"] = file_entry["sha256"]
  except (KeyError, TypeError, AttributeError):
    return "unreadable stamp"
  root = os.path.join(output_dir, *saved_model["path"].split("/"))
  if sorted(_tree_files(root)) != sorted(saved_model["files"]):
    return f"{saved_model['path']}/ holds other files than recorded"
  for relative, digest in sorted(recorded.items()):
    path = os.path.join(output_dir, *relative.split("/"))
    if not os.path.isfile(path):
      return f"{relative} missing"
    if file_sha256(path) != digest:
      return f"{relative} modified"
  return None


def _tree_files(root: str) -> list:
  """Paths ('/'-separated, relative to `root`) of the regular files below `root`."""
  found = []
  for directory, _, names in os.walk(root):
    for name in names:
      found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
  return sorted(found)


# --- the worker: one artifact in one fresh process ---------------------------------------
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
  from export import checkpoint  # pylint: disable=g-import-not-at-top

  artifact = Artifact(variants_lib.by_name(job["variant"]), job["module_type"], job["version"])
  output_dir = job["output_dir"]
  staging_root = os.path.join(output_dir, STATE_DIR, "staging")
  os.makedirs(staging_root, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f"{artifact.file_stem}.", dir=staging_root)
  timings = {}
  try:
    try:
      with checkpoint.opened(job["checkpoint_path"]) as prefix:
        report, source = _export_and_verify(artifact, prefix, staging, timings)
    except checkpoint.CheckpointError as error:
      raise ArtifactError(str(error), kind="checkpoint") from None
    if not report.passed:
      report_path = os.path.join(output_dir, STATE_DIR, "logs", f"{artifact.file_stem}.verify.json")
      write_atomically(report_path, report.to_json())
      raise ArtifactError(f"verification failed: {report.first_failure} (report: {report_path})")
    started = time.perf_counter()
    entry = _document_and_archive(artifact, staging, report, source)
    timings["card_archive_digests"] = time.perf_counter() - started
    stamp = {"code": _code_digests(), "entry": entry, "inputs": job["inputs"]}
    result = {"max_abs_error": entry["parity"]["max_abs_error"], "status": MADE,
              "timings": {phase: round(seconds, 3) for phase, seconds in timings.items()}}
    with _signals_deferred():
      _place(artifact, staging, output_dir, stamp)
      # Written with the placement, so an interrupt cannot separate the two.
      write_atomically(job["result_path"], to_json(result))
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return result


def _export_and_verify(artifact: Artifact, prefix: str, staging: str, timings: dict):
  """(verification report, checkpoint source) of the SavedModel exported into staging."""
  from export import export_saved_model as exporter  # pylint: disable=g-import-not-at-top
  from export import verify  # pylint: disable=g-import-not-at-top

  variant = artifact.variant
  started = time.perf_counter()
  try:
    result = exporter.export_saved_model(exporter.ExportOptions(
        checkpoint_path=prefix, export_dir=os.path.join(staging, "saved_model"),
        depth_multiplier=variant.depth_multiplier, image_size=variant.image_size,
        module_type=artifact.module_type, version=artifact.version, **EXPORT_OPTIONS))
  except exporter.ExportError as error:
    raise ArtifactError(f"export failed: {error}") from None
  timings.update({f"export_{phase}": seconds for phase, seconds in result.timings.items()})
  timings["export"] = time.perf_counter() - started
  started = time.perf_counter()
  try:
    expectation = verify.expectation_from_checkpoint(
        prefix, depth_multiplier=variant.depth_multiplier, image_size=variant.image_size,
        module_type=artifact.module_type)
    report = verify.compare(result.export_dir, expectation)
  except verify.VerifyInputError as error:
    raise ArtifactError(f"verification could not run: {error}") from None
  timings["verify"] = time.perf_counter() - started
  source = {"files": expectation.source["files"], "sha256": expectation.source["sha256"]}
  return report, source


def _document_and_archive(artifact: Artifact, staging: str, report, source: dict) -> dict:
  """Writes the card and the archive into staging; returns the artifact's manifest entry."""
  from export import model_card  # pylint: disable=g-import-not-at-top

  saved_model = os.path.join(staging, "saved_model")
  card = os.path.join(staging, "card.md")
  with open(card, "w") as f:
    f.write(model_card.render(artifact.variant, artifact.module_type, artifact.version))
  archive = hub_layout.write_reproducible_archive(saved_model,
                                                  os.path.join(staging, "archive.tar.gz"))
  num_classes = None if artifact.module_type == "feature_vector" else architecture.NUM_CLASSES
  multiplier = artifact.variant.depth_multiplier
  return {
      "archive": {"bytes": os.path.getsize(archive),
                  "path": artifact.key + hub_layout.ARCHIVE_SUFFIX,
                  "sha256": file_sha256(archive), "tar_sha256": _tar_sha256(archive)},
      "card": {"bytes": os.path.getsize(card), "path": artifact.key + hub_layout.CARD_SUFFIX,
               "sha256": file_sha256(card)},
      "checkpoint": source,
      "handle": artifact.variant.hub_handle(artifact.module_type),
      "module_type": artifact.module_type,
      "parameters": {
          "with_batch_norm": architecture.parameter_count(multiplier, num_classes, True),
          "without_batch_norm": architecture.parameter_count(multiplier, num_classes)},
      "parity": parity_figures(report),
      "saved_model": {"files": _saved_model_files(saved_model),
                      "fingerprint": _fingerprint(saved_model),
                      "path": artifact.key},
      "variant": artifact.variant.name,
      "version": artifact.version,
  }


def _tar_sha256(archive: str) -> str:
  """sha256 of the uncompressed tar stream: the archive's content without zlib's encoding."""
  digest = hashlib.sha256()
  with gzip.open(archive, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _saved_model_files(directory: str) -> dict:
  return {name: {"bytes": os.path.getsize(os.path.join(directory, name)),
                 "sha256": file_sha256(os.path.join(directory, *name.split("/")))}
          for name in _tree_files(directory)}


def _fingerprint(directory: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fingerprint = tf.saved_model.experimental.read_fingerprint(directory)
  return {"checkpoint_hash": fingerprint.checkpoint_hash,
          "graph_def_program_hash": fingerprint.graph_def_program_hash,
          "saved_model_checksum": fingerprint.saved_model_checksum,
          "saved_object_graph_hash": fingerprint.saved_object_graph_hash,
          "signature_def_hash": fingerprint.signature_def_hash,
          "singleprint": fingerprint.singleprint()}


def parity_figures(report) -> dict:
  """The verification's figures: worst errors, top-k agreement, and each check's status."""
  checks = {check.name: check for check in report.checks}
  outputs = checks["outputs"].details
  figures = {"checks": {name: check.status for name, check in sorted(checks.items())},
             "evaluations": outputs.get("evaluations"),
             "max_abs_error": outputs.get("max_abs_error"),
             "max_rel_error": outputs.get("max_rel_error"),
             "variables_exactly_equal": checks["variables"].details.get("compared")}
  for name in ("top1", "top5"):
    figures[f"{name}_agree"] = checks[name].details.get("agree") if name in checks else None
  return figures


def _code_digests() -> dict:
  """sha256 of every project file this process has run (and the data files it read).

  The exporter's code decides the SavedModel's bytes, so a change to any of it makes the
  artifact stale; recording what was actually imported avoids guessing the list.
  """
  files = set(DATA_FILES)
  for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    if not path:
      continue
    path = pathlib.Path(path).resolve()
    if path.suffix == ".py" and path.is_relative_to(PROJECT_ROOT) and not any(
        part.startswith(".") or part == "site-packages" for part in
        path.relative_to(PROJECT_ROOT).parts):
      files.add(path.relative_to(PROJECT_ROOT).as_posix())
  return {name: file_sha256(str(PROJECT_ROOT / name)) for name in sorted(files)}


@contextlib.contextmanager
def _signals_deferred():
  """Holds SIGINT and SIGTERM back until the block is done, so renames are not cut short."""
  held = {signal.SIGINT, signal.SIGTERM}
  previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
  try:
    yield
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _place(artifact: Artifact, staging: str, output_dir: str, stamp: dict) -> None:
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
  os.replace(os.path.join(staging, "card.md"), paths.card_path)
  os.replace(os.path.join(staging, "archive.tar.gz"), paths.archive_path)
  if os.path.lexists(paths.saved_model_dir):
    retired = os.path.join(staging, "retired")
    os.rename(paths.saved_model_dir, retired)  # removed with the staging directory
  os.rename(os.path.join(staging, "saved_model"), paths.saved_model_dir)
  write_atomically(stamp_path, to_json(stamp))


class _Interrupted(Exception):
  pass


def _raise_interrupted(signum, unused_frame):
  # A second signal must not cut the cleanup short.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  raise _Interrupted(signal.Signals(signum).name)


def worker_main(argv: list) -> int:
  """`python -m export.regenerate JOB_JSON`: makes one artifact, writes its result file."""
  job = json.loads(argv[1])
  signal.signal(signal.SIGINT, _raise_interrupted)
  signal.signal(signal.SIGTERM, _raise_interrupted)
  try:
    result = make_artifact(job)
  except _Interrupted as error:
    print(f"interrupted ({error}); nothing placed", file=sys.stderr)
    return INTERRUPTED_EXIT_CODE
  except ArtifactError as error:
    result = {"kind": error.kind, "message": str(error), "status": FAILED}
    write_atomically(job["result_path"], to_json(result))
  print(f"{result['status']}: {result.get('message', job['key'])}", file=sys.stderr)
  return 0 if result["status"] == MADE else 1


# --- the orchestrator --------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
  """One artifact's fate in a run."""
  artifact: Artifact
  status: str = NOT_RUN
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
    return [o for o in self.outcomes if o.status in (FAILED, NOT_RUN)]

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
    if outcome.status == MADE:
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
  state = os.path.join(output_dir, STATE_DIR)
  try:
    os.makedirs(state, exist_ok=True)
  except OSError as error:
    raise RegenerateError(f"{output_dir}: cannot create the output directory "
                          f"({error.strerror})") from None
  with open(os.path.join(state, "lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      raise RegenerateError(f"{output_dir}: another regeneration is writing there") from None
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
    result = read_json(self.result_path) or {}
    if result.get("status") == MADE:
      outcome.status, outcome.max_abs_error = MADE, result["max_abs_error"]
      outcome.timings = result.get("timings", {})
    else:
      outcome.status = FAILED
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
    self.state_dir = os.path.join(self.output_dir, STATE_DIR)
    self.tool, self.tensorflow = tool_version(), tensorflow_version()

  def print(self, text: str = "") -> None:
    print(text, file=self.out, flush=True)

  # Planning.
  def sources(self, variants: list) -> dict:
    """Variant -> Source, or the one-line reason it has none (its artifacts then fail)."""
    found = {}
    for variant in variants:
      try:
        path = find_checkpoint(self.options.checkpoint_dir, variant)
        found[variant] = Source(os.path.abspath(path), source_digest(path))
      except MissingCheckpoint as error:
        found[variant] = f"{variant.name}: {error}"
      except OSError as error:
        found[variant] = f"{variant.name}: {error.filename}: cannot read ({error.strerror})"
    return found

  def triage(self, artifacts: list, sources: dict):
    """(outcome per artifact, [(outcome, job inputs, source)] of those to make)."""
    outcomes, queue, code = [], [], CodeDigests()
    for artifact in artifacts:
      outcome = Outcome(artifact)
      outcomes.append(outcome)
      source = sources[artifact.variant]
      if isinstance(source, str):
        outcome.status, outcome.reason = FAILED, source
        continue
      inputs = stamp_inputs(artifact, source, self.tool, self.tensorflow)
      outcome.reason = staleness(artifact, self.output_dir, inputs, code)
      if outcome.reason is None:
        stamp = read_json(artifact.stamp_path(self.output_dir))
        outcome.status, outcome.reason = UP_TO_DATE, ""
        outcome.max_abs_error = stamp["entry"]["parity"]["max_abs_error"]
      else:
        queue.append((outcome, inputs, source))
    return outcomes, queue

  def announce(self, outcomes: list, queue: list, sources: dict) -> None:
    for variant, source in sources.items():
      if isinstance(source, str):
        count = sum(o.artifact.variant == variant for o in outcomes)
        self.print(f"FAILED {source}; its {count} artifacts are not made")
    up_to_date = sum(o.status == UP_TO_DATE for o in outcomes)
    failed = sum(o.status == FAILED for o in outcomes)
    self.print(f"{len(outcomes)} artifacts in {self.output_dir}: {len(queue)} to make, "
               f"{up_to_date} up to date, {failed} without a checkpoint; "
               f"{self.options.jobs} at a time")

  # Workers.
  def launch(self, outcome: Outcome, inputs: dict, source: Source) -> _Worker:
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
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    log = open(outcome.log, "w")
    # Its own session: a Ctrl-C reaches the orchestrator only, which stops workers in order.
    process = subprocess.Popen([sys.executable, "-m", "export.regenerate", json.dumps(job)],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               cwd=str(PROJECT_ROOT), env=env, start_new_session=True)
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
              outcome.status, outcome.reason = FAILED, f"not run, unusable checkpoint: {why}"
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
      if outcome.status != MADE:
        outcome.status, outcome.reason = NOT_RUN, "interrupted"

  # Results.
  def manifest(self, outcomes: list) -> dict:
    artifacts = {}
    for outcome in outcomes:
      if outcome.status in (MADE, UP_TO_DATE):
        stamp = read_json(outcome.artifact.stamp_path(self.output_dir))
        artifacts[outcome.artifact.key] = stamp["entry"]
    return {"artifacts": artifacts,
            "environment": environment(self.tensorflow),
            "format": MANIFEST_FORMAT,
            "format_version": FORMAT_VERSION,
            "tensorflow_version": self.tensorflow,
            "tool": {"name": TOOL_NAME, "version": self.tool}}

  def run_report(self, outcomes: list, started_at: str, seconds: float,
                 interrupted: bool) -> dict:
    return {
        "artifacts": {o.artifact.key: {"log": o.log, "max_abs_error": o.max_abs_error,
                                       "reason": o.reason, "seconds": o.seconds,
                                       "status": o.status, "timings": o.timings}
                      for o in outcomes},
        "checkpoint_dir": os.path.abspath(self.options.checkpoint_dir),
        "counts": {status: sum(o.status == status for o in outcomes)
                   for status in (MADE, UP_TO_DATE, FAILED, NOT_RUN)},
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
                       for s in (MADE, UP_TO_DATE, FAILED, NOT_RUN)
                       if any(o.status == s for o in outcomes))
    self.print(f"{len(outcomes)} artifacts: {counts}")
    for o in outcomes:
      if o.status in (FAILED, NOT_RUN):
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
        write_atomically(manifest_path, to_json(manifest))
      shutil.rmtree(os.path.join(self.state_dir, "results"), ignore_errors=True)
      seconds = time.monotonic() - started
      write_atomically(os.path.join(self.output_dir, RUN_REPORT_NAME),
                       to_json(self.run_report(outcomes, started_at, seconds, interrupted)))
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


def environment(tensorflow: str) -> dict:
  """What the artifacts' bytes depend on besides the project and the checkpoints."""
  return {"python": platform.python_version(), "tensorflow": tensorflow,
          "zlib": zlib.ZLIB_RUNTIME_VERSION}


def regenerate(options: Options, out: TextIO = sys.stdout) -> RunResult:
  """Makes every selected artifact that is missing or stale; see the module docstring.

  Raises RegenerateError if the run cannot start. Per-artifact failures do not raise: they
  are in the result's outcomes (and printed).
  """
  if options.jobs < 1:
    raise RegenerateError(f"jobs must be at least 1, got {options.jobs}")
  if not os.path.isdir(options.checkpoint_dir):
    raise RegenerateError(f"{options.checkpoint_dir}: checkpoint directory not found")
  return _Run(options, out).run()


# --- the lock file -----------------------------------------------------------------------
def lock_from_manifest(manifest: dict) -> dict:
  """What must be reproducible: digests, fingerprints, parameter counts (docs/regeneration.md)."""
  return {"artifacts": {key: _locked(entry) for key, entry in manifest["artifacts"].items()},
          "format": LOCK_FORMAT,
          "format_version": FORMAT_VERSION,
          "tensorflow_version": manifest["tensorflow_version"]}


def _locked(entry: dict) -> dict:
  saved_model = entry["saved_model"]
  return {"archive_tar_sha256": entry["archive"]["tar_sha256"],
          "card_sha256": entry["card"]["sha256"],
          "checkpoint_sha256": entry["checkpoint"]["sha256"],
          "fingerprint": saved_model["fingerprint"],
          "parameters": entry["parameters"],
          "saved_model_files": {name: f["sha256"] for name, f in saved_model["files"].items()}}


def write_lock(path: str, manifest: dict) -> None:
  write_atomically(path, to_json(lock_from_manifest(manifest)))


def read_lock(path: str) -> dict:
  lock = read_json(path)
  if lock is None or lock.get("format") != LOCK_FORMAT:
    raise RegenerateError(f"{path}: not a readable regeneration lock file")
  if lock.get("format_version") != FORMAT_VERSION:
    raise RegenerateError(f"{path}: lock format version {lock.get('format_version')}, this "
                          f"tool reads {FORMAT_VERSION}")
  return lock


def lock_differences(lock: dict, manifest: dict) -> list:
  """Readable lines, one per difference between a lock and a produced manifest."""
  produced = lock_from_manifest(manifest)
  lines = []
  for field in sorted((set(lock) | set(produced)) - {"artifacts"}):
    if lock.get(field) != produced.get(field):
      lines.append(f"{field}: lock {_short(lock.get(field))}, now {_short(produced.get(field))}")
  locked, made = lock.get("artifacts", {}), produced["artifacts"]
  for key in sorted(set(locked) | set(made)):
    if key not in made:
      lines.append(f"{key}: in the lock, not produced by this run")
    elif key not in locked:
      lines.append(f"{key}: produced, not in the lock")
    else:
      lines += [f"{key}: {field}: lock {_short(old)}, now {_short(new)}"
                for field, old, new in _field_differences(locked[key], made[key])]
  return lines


def _field_differences(old: dict, new: dict) -> list:
  old, new = _flatten(old), _flatten(new)
  return [(_field_name(path), old.get(path), new.get(path))
          for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)]


def _flatten(value, path=()) -> dict:
  if isinstance(value, dict) and value:
    flat = {}
    for key, item in value.items():
      flat.update(_flatten(item, path + (key,)))
    return flat
  return {path: value}


def _field_name(path: tuple) -> str:
  name = path[0]
  for part in path[1:]:
    name += f"[{part}]" if ("/" in part or "." in part) else f".{part}"
  return name


def _short(value) -> str:
  if value is None:
    return "(none)"
  if isinstance(value, str):
    return value[:12] + "…" if len(value) == 64 else value  # sha256s: enough to tell apart
  return json.dumps(value, sort_keys=True)


if __name__ == "__main__":
  sys.exit(worker_main(sys.argv))
