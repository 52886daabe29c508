"""Shared test setup: quiet TensorFlow, one synthetic checkpoint and one export of each kind
for the whole session.

Exports are the slow part of most tests (seconds each), so `exported(**options)` makes each
distinct export of the session's checkpoint once and hands the same directory to every test
that asks for it; tests treat it as read-only. A test that must change an export copies it,
and a test of exporting itself calls `export_checkpoint`, which always exports afresh.
"""

import os
import pathlib
import shutil

# Read when TensorFlow's native library loads, so set before any test module imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top
import regeneration_runs  # pylint: disable=g-import-not-at-top

from export.testing import synthetic_checkpoint  # pylint: disable=g-import-not-at-top

# Test files that share a session fixture too slow to make twice; pytest-xdist's loadgroup
# keeps each group (else each file) on one worker.
_SHARED_GROUPS = {
  "test_regenerate.py": "regeneration",
  "test_kaggle_publish.py": "regeneration",
  "test_doc_pages.py": "quickstart",
  "test_quickstart.py": "quickstart",
}


# A test that exports or regenerates, itself or through another fixture, is slow: seconds of
# TensorFlow work. Tests that run binaries or pipelines in subprocesses are marked by hand.
_SLOW_FIXTURES = frozenset(
  {"exported", "export_checkpoint", "regenerated_075_96", "quickstart", "synthetic_archive_075_96"}
)


def pytest_configure(config):
  config.addinivalue_line(
    "markers",
    "slow: seconds or more: an export, a subprocess or a whole pipeline; "
    "`-m 'not slow'` runs the fast set",
  )


def pytest_itemcollected(item):
  # Marked as each test is collected, before pytest-xdist reads the groups.
  name = item.path.name
  item.add_marker(pytest.mark.xdist_group(_SHARED_GROUPS.get(name, name)))
  if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
    item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def synthetic_checkpoint_075_96(tmp_path_factory) -> str:
  """Prefix of a seed-0 synthetic mobilenet_v2_0.75_96 checkpoint (random weights).

  Shared by every test that needs one; treat it as read-only.
  """
  output_dir = tmp_path_factory.mktemp("synthetic_checkpoint")
  return synthetic_checkpoint.write_checkpoint(str(output_dir), 0.75, 96, seed=0)


@pytest.fixture(scope="session")
def export_checkpoint(tmp_path_factory):
  """`export_checkpoint(prefix, **ExportOptions fields)` exports into a fresh directory and
  returns the ExportResult (`.export_dir`, `.restored`)."""
  from export.core import options as options_lib  # pylint: disable=g-import-not-at-top
  from export.formats.saved_model import exporter  # pylint: disable=g-import-not-at-top

  def export(checkpoint_path, **options):
    export_dir = tmp_path_factory.mktemp("export") / "module"
    return exporter.export_saved_model(
      options_lib.ExportOptions(
        checkpoint_path=checkpoint_path, export_dir=str(export_dir), **options
      )
    )

  return export


@pytest.fixture(scope="session")
def exported(synthetic_checkpoint_075_96, export_checkpoint):
  """`exported(**ExportOptions fields)`: the session's export of the seed-0 0.75/96 checkpoint
  with these options, made on first use. Read-only."""
  from export.core import options as options_lib  # pylint: disable=g-import-not-at-top

  cache = {}

  def export(**options):
    # Options that spell the defaults out name the same export.
    key = options_lib.ExportOptions(checkpoint_path="", export_dir="", **options)
    if key not in cache:
      cache[key] = export_checkpoint(synthetic_checkpoint_075_96, **options)
    return cache[key]

  return export


@pytest.fixture(scope="session")
def checkpoint_dir_075_96(tmp_path_factory, synthetic_checkpoint_075_96):
  """A directory holding only the session's checkpoint, as --checkpoint_dir wants it."""
  directory = tmp_path_factory.mktemp("checkpoints")
  prefix = pathlib.Path(synthetic_checkpoint_075_96)
  for path in prefix.parent.glob(prefix.name + ".*"):
    shutil.copy(path, directory)
  return directory


@pytest.fixture(scope="session")
def regenerated_075_96(tmp_path_factory, checkpoint_dir_075_96):
  """(output_dir, CompletedProcess) of the regeneration binary for the 0.75/96 classifier in
  every format: versions 4 and 5, version 5's LiteRT models, the Keras file. Read-only."""
  output_dir = tmp_path_factory.mktemp("regenerated") / "hub"
  flags = [
    "--variants=mobilenet_v2_0.75_96",
    "--module_types=classification",
    "--versions=4,5",
    "--jobs=2",
  ]
  return output_dir, regeneration_runs.run(checkpoint_dir_075_96, output_dir, *flags)


@pytest.fixture(scope="session")
def synthetic_archive_075_96(tmp_path_factory) -> pathlib.Path:
  """A seed-0 synthetic mobilenet_v2_0.75_96.tgz laid out like the released archive, as
  `scripts/make_synthetic_checkpoint.py --archive` writes it. Read-only."""
  output_dir = tmp_path_factory.mktemp("synthetic_archive")
  prefix = synthetic_checkpoint.write_checkpoint(str(output_dir), 0.75, 96, seed=0, archive=True)
  return pathlib.Path(prefix[: -len(".ckpt")] + ".tgz")


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory):
  """(checkout, CompletedProcess): `bash scripts/quickstart.sh`, the README's first command,
  run once per session in a fresh scratch checkout (tests/doc_runner.py) as a reader runs it;
  what it wrote is in `checkout / "quickstart_out"`. Read-only."""
  import doc_runner  # pylint: disable=g-import-not-at-top

  checkout = doc_runner.scratch_checkout(tmp_path_factory.mktemp("quickstart") / "checkout")
  return checkout, doc_runner.run_quickstart(checkout)
