r"""Stages a finished regeneration output as Kaggle model instances, and uploads them on request.

  python scripts/publish_kaggle.py --hub_dir=hub --owner=my-team [--model=mobilenet-v2] \
      [--variants=mobilenet_v2_0.75_96,...] [--formats=saved_model,litert,tfjs,keras] \
      [--output_dir=hub/kaggle] [--lock=tests/regeneration.lock.json] [--json] [--upload]

Refuses a hub directory whose manifest is missing, whose last run failed, whose files differ
from the manifest (or the manifest from --lock). Writes the staging tree and plan.json under
--output_dir and prints the plan; only --upload sends anything, through kagglehub. The library
is export/kaggle/publish.py; docs/publishing.md describes it all.

Exit status: 0 done; 1 the work failed: a refused hub directory, missing or rejected
credentials, an upload that failed (the others went on; a rerun resumes); 2 bad flags or a
selection that maps to no publishable version.
"""

import json
import sys

from absl import flags

from export import cli
from export.kaggle import mapping
from export.kaggle import publish as publish_lib
from export.kaggle import staging
from export.kaggle import upload as upload_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_required_string("hub_dir", "The --output_dir of a finished regeneration.")
  cli.define_required_string("owner", "Kaggle user or organization that owns the model.")
  flags.DEFINE_string("model", mapping.DEFAULT_MODEL_SLUG, "The Kaggle model's slug.")
  cli.define_variants_flag("Comma-separated TF-Slim or TF Hub variant names, or 'all'.")
  flags.DEFINE_list(
    "formats",
    ["all"],
    f"Comma-separated formats among {', '.join(mapping.FORMATS)}; 'litert' "
    f"means the four LiteRT types, 'onnx' the two ONNX ones, 'tfjs' the three TF.js ones, "
    f"'all' everything the manifest has.",
  )
  flags.DEFINE_string("output_dir", None, "Where to stage (default: <hub_dir>/kaggle).")
  flags.DEFINE_string("lock", None, "Refuse unless the manifest matches this lock file.")
  flags.DEFINE_bool("public", False, "Create the model public (it is private by default).")
  flags.DEFINE_bool("json", False, "Print the plan (and the upload outcomes) as JSON.")
  flags.DEFINE_bool(
    "upload",
    False,
    "Upload through kagglehub (credentials: KAGGLE_USERNAME and KAGGLE_KEY, or "
    "~/.kaggle/kaggle.json). Without it nothing leaves the machine.",
  )


def _options_from_flags(argv) -> publish_lib.Options:
  cli.reject_positional_arguments(argv)
  return publish_lib.Options(
    hub_dir=FLAGS.hub_dir,
    owner=cli.from_flag("owner", mapping.check_owner),
    model=cli.from_flag("model", mapping.check_model_slug),
    variants=cli.variants_from_flag(),
    formats=cli.from_flag("formats", mapping.select_formats),
    output_dir=FLAGS.output_dir,
    lock=FLAGS.lock,
    private=not FLAGS.public,
    upload=FLAGS.upload,
  )


def _report(result: publish_lib.Result) -> None:
  outcomes = {id(o.planned): o for o in result.outcomes or []}
  if FLAGS.json:
    document = result.plan.to_json()
    if result.outcomes is not None:
      for planned, entry in zip(result.plan.versions, document["versions"], strict=True):
        outcome = outcomes[id(planned)]
        entry["upload"] = {"detail": outcome.detail, "status": outcome.status}
    print(json.dumps(document, indent=2, sort_keys=True))
    return
  if result.outcomes is None:
    status = upload_lib.recorded_status(result.output_dir)
  else:

    def status(planned):
      outcome = outcomes[id(planned)]
      return outcome.status + (f" ({outcome.detail})" if outcome.detail else "")

  print(staging.table(result.plan, status))
  print(
    f"staged in {result.output_dir}" + ("" if FLAGS.upload else "; nothing uploaded (add --upload)")
  )


def main(argv) -> int:
  options = cli.parse_or_exit(_options_from_flags, argv)
  out = sys.stderr if FLAGS.json else sys.stdout
  try:
    result = cli.work_or_exit(publish_lib.publish, options, out)
  except staging.PlanError as error:  # the selection maps to nothing publishable
    cli.fail(str(error), cli.USAGE_ERROR)
  warning = publish_lib.synthetic_warning(result.plan)
  if warning:
    print(warning, file=sys.stderr)
  _report(result)
  return 0 if result.ok else cli.FAILED


if __name__ == "__main__":
  cli.run(main, define_flags)
