r"""Regenerates the TF Hub MobileNet V2 modules from a directory of TF-Slim checkpoints.

  python scripts/regenerate_hub_artifacts.py --checkpoint_dir=checkpoints --output_dir=hub \
      [--variants=mobilenet_v2_0.75_96,...] [--module_types=classification,feature_vector] \
      [--versions=4,5] [--formats=...] [--jobs=N] [--check=LOCK | --update_lock=LOCK [--prune_lock]]

Each artifact (one module version) is exported, verified, documented and archived in its own
process, forked fresh from a server that imported TensorFlow once per job; `hub/manifest.json` describes the result. A rerun redoes only what is missing
or stale. A lock is checked and updated on the run's selection only: --update_lock merges,
and only --prune_lock removes what the run did not make. The library is
export/pipeline/regenerate.py; docs/regeneration.md describes it all.

Exit status: 0 everything made (and the lock matches); 1 an artifact failed, the lock
differs, or a directory or lock file cannot be used; 2 bad flags; 130 interrupted (nothing
partial is left).
"""

import os

from absl import flags

from export import cli
from export.base import files
from export.base import versions
from export.pipeline import lock as lock_lib
from export.pipeline import plan
from export.pipeline import regenerate
from export.pipeline import report
from export.pipeline import state
from nets import architecture

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_required_string(
    "checkpoint_dir",
    "Directory of checkpoints: <name>.ckpt.index with its data file, or the "
    "released <name>.tgz (TF-Slim names, e.g. mobilenet_v2_0.75_96).",
  )
  cli.define_required_string(
    "output_dir",
    "Root of the TF Hub layout: <handle>/<version>/ (SavedModel), "
    "<version>.md, <version>.tar.gz, and manifest.json.",
  )
  cli.define_variants_flag("Comma-separated TF-Slim or TF Hub variant names, or 'all' (22).")
  flags.DEFINE_list(
    "module_types", list(architecture.MODULE_TYPES), "Comma-separated module types."
  )
  flags.DEFINE_list(
    "formats",
    list(plan.FORMATS),
    "Comma-separated formats: saved_model (module versions with card and archive), litert "
    "(the latest version's LiteRT models; needs saved_model), onnx (the latest version's ONNX "
    "models and test vectors; needs saved_model), tfjs (the latest version's TF.js model "
    "directories; needs saved_model), keras (a .keras file per module).",
  )
  flags.DEFINE_list(
    "versions",
    [str(number) for number in versions.PRODUCED_VERSIONS],
    "Comma-separated TF Hub versions to produce.",
  )
  flags.DEFINE_integer(
    "jobs",
    None,
    f"Artifacts made at a time, each in its own process (default: one per "
    f"core as memory allows, here {plan.default_jobs()}).",
  )
  flags.DEFINE_string(
    "check",
    None,
    "Compare the selected artifacts with this lock file; print the differences and exit 1 if "
    "there are any. Locked artifacts outside the selection are not checked (and counted).",
  )
  flags.DEFINE_string(
    "update_lock",
    None,
    "Put the selected artifacts into this lock file, created if missing (only when every "
    "artifact is made); its other entries are kept.",
  )
  flags.DEFINE_boolean(
    "prune_lock",
    False,
    "With --update_lock: write the lock with this run's artifacts only, removing the others.",
  )


def options_from_flags(argv) -> regenerate.Options:
  cli.reject_positional_arguments(argv)
  if FLAGS.check and FLAGS.update_lock:
    raise ValueError("give at most one of --check and --update_lock")
  if FLAGS.prune_lock and not FLAGS.update_lock:
    raise ValueError("--prune_lock needs --update_lock=LOCK")
  jobs = plan.default_jobs() if FLAGS.jobs is None else FLAGS.jobs
  if jobs < 1:
    raise ValueError(f"--jobs must be at least 1, got {jobs}")
  return regenerate.Options(
    checkpoint_dir=FLAGS.checkpoint_dir,
    output_dir=FLAGS.output_dir,
    variants=cli.variants_from_flag(),
    module_types=cli.from_flag("module_types", plan.check_module_types),
    versions=cli.from_flag("versions", lambda words: plan.check_versions(list(map(int, words)))),
    formats=cli.from_flag("formats", plan.check_formats),
    jobs=jobs,
  )


def _check(lock_path: str, result: regenerate.RunResult) -> int:
  selected = lock_lib.selection([o.artifact for o in result.outcomes])
  part, made, not_checked = lock_lib.selected_part(
    lock_lib.read_lock(lock_path), result.manifest, selected
  )
  differences = lock_lib.differences(part, made)
  if not differences:
    count = len(made["artifacts"])
    print(
      f"lock check: {report.plural(count, 'artifact')} match{'es' if count == 1 else ''} "
      f"{lock_path}"
    )
  else:
    print(f"lock check: {report.plural(len(differences), 'difference')} from {lock_path}:")
    for line in differences:
      print(f"  {line}")
  if not_checked:
    print(f"lock check: {not_checked}")
  if differences:
    print(
      f"(if the change is intended, rerun with --update_lock={lock_path} instead of --check: "
      f"it replaces the selected artifacts' entries and keeps the others)"
    )
    return cli.FAILED
  return 0


def _update(lock_path: str, prune: bool, result: regenerate.RunResult) -> int:
  if result.failed:
    print(f"lock not updated: {len(result.failed)} artifacts were not made")
    return cli.FAILED
  old = (
    lock_lib.read_lock(lock_path, any_format_version=prune) if os.path.exists(lock_path) else None
  )
  made = report.plural(len(result.manifest.artifacts), "artifact")
  if prune:
    new = lock_lib.lock_from_manifest(result.manifest)
    removed = len(set(old["artifacts"]) - set(new["artifacts"])) if old else 0
    what = f"{made} of this run; {removed} others removed by --prune_lock"
  else:
    selected = lock_lib.selection([o.artifact for o in result.outcomes])
    try:
      new, kept, kept_in_part = lock_lib.merged_lock(old, result.manifest, selected)
    except lock_lib.LockError as error:
      print(f"lock not updated: {error}")
      return cli.FAILED
    what = f"{made} of this run, {kept} others kept"
    if kept_in_part:
      what += (
        f"; the lock's card and {lock_lib.BESIDE_LABELS} digests kept for {kept_in_part} of "
        "this run's"
      )
  if old == new:
    print(f"lock {lock_path} unchanged ({what})")
  else:
    files.write_json(lock_path, new)
    print(f"wrote lock {lock_path} ({what})")
  return 0


def run_options(options: regenerate.Options) -> int:
  # A lock that cannot be used should fail before the work, not after.
  if FLAGS.check:
    lock_lib.read_lock(FLAGS.check)
  elif FLAGS.update_lock and os.path.exists(FLAGS.update_lock):
    lock_lib.read_lock(FLAGS.update_lock, any_format_version=FLAGS.prune_lock)
  elif FLAGS.update_lock:
    files.check_writable(FLAGS.update_lock)
  result = regenerate.regenerate(options)
  if result.interrupted:
    return state.INTERRUPTED_EXIT_CODE
  status = 0 if result.ok else cli.FAILED
  if FLAGS.check:
    status = max(status, _check(FLAGS.check, result))
  elif FLAGS.update_lock:
    status = max(status, _update(FLAGS.update_lock, FLAGS.prune_lock, result))
  return status


def main(argv) -> int:
  return cli.work_or_exit(run_options, cli.parse_or_exit(options_from_flags, argv))


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the workers inherit it
  cli.run(main, define_flags)
