"""Shared test setup: quiet TensorFlow, one synthetic checkpoint and one export of each kind
for the whole run.

Exports are the slow part of most tests (seconds each), so `exported(**options)` makes each
distinct export of the run's checkpoint once and hands the same directory to every test
that asks for it; tests treat it as read-only. A test that must change an export copies it,
and a test of exporting itself calls `export_checkpoint`, which always exports afresh.
Under pytest-xdist (scripts/run_tests.sh) the workers share these: the first that needs one
makes it while the others wait (`_once_per_run`).
"""

import dataclasses
import fcntl
import hashlib
import os
import pathlib
import pickle
import shutil
import signal

# Read when TensorFlow's native library loads, so set before any test module imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import doc_runner  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import regeneration_runs  # pylint: disable=g-import-not-at-top
import warm_python  # pylint: disable=g-import-not-at-top

from export.testing import synthetic_checkpoint  # pylint: disable=g-import-not-at-top

# pytest-xdist's loadgroup keeps each test file on one worker (its module fixtures are made
# once); the files named here spread their tests over the workers instead: each test makes
# what it needs, and the session fixtures they share are made once per run (`_once_per_run`).
_SPREAD_FILES = frozenset({"test_doc_pages.py"})


# A test that exports or regenerates, itself or through another fixture, is slow: seconds of
# TensorFlow work. Tests that run binaries or pipelines in subprocesses are marked by hand.
_SLOW_FIXTURES = frozenset(
  {"exported", "export_checkpoint", "regenerated_075_96", "quickstart", "synthetic_archive_075_96"}
)


def pytest_configure(config):
  # Started as a background job (`cmd &` in a script, nohup), the run would have SIGINT ignored,
  # and so would every command it starts: the interrupt tests need it delivered, as in a
  # terminal's foreground job.
  if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
  config.addinivalue_line(
    "markers",
    "slow: seconds or more: an export, a subprocess or a whole pipeline; "
    "`-m 'not slow'` runs the fast set",
  )


def pytest_itemcollected(item):
  # Marked as each test is collected, before pytest-xdist reads the groups.
  name = item.path.name
  if name not in _SPREAD_FILES:
    item.add_marker(pytest.mark.xdist_group(name))
  if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
    item.add_marker(pytest.mark.slow)


def _once_per_run(tmp_path_factory, name: str, make):
  """`make(directory)`, run once for the whole test run in a fresh `directory`: by the first
  pytest-xdist worker that asks, while the others wait for it. Returns (directory, what `make`
  returned, passed between workers by pickle)."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # the run's directory, above each worker's own
  directory, result = root / name, root / f"{name}.pickle"
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not result.exists():
      shutil.rmtree(directory, ignore_errors=True)  # left by a worker that failed
      directory.mkdir()
      made = make(directory)
      result.write_bytes(pickle.dumps(made))
      return directory, made
  return directory, pickle.loads(result.read_bytes())


@pytest.fixture(scope="session", autouse=True)
def _warm_python(tmp_path_factory):
  """The worker's warm `python` (tests/warm_python.py) for the commands the tests run."""
  warm_python.setup(str(tmp_path_factory.getbasetemp() / "warm"))


@pytest.fixture(scope="session")
def synthetic_checkpoint_075_96(tmp_path_factory) -> str:
  """Prefix of a seed-0 synthetic mobilenet_v2_0.75_96 checkpoint (random weights).

  Shared by every test that needs one; treat it as read-only.
  """
  _, prefix = _once_per_run(
    tmp_path_factory,
    "synthetic_checkpoint",
    lambda directory: synthetic_checkpoint.write_checkpoint(str(directory), 0.75, 96, seed=0),
  )
  return prefix


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
def exported(synthetic_checkpoint_075_96, tmp_path_factory):
  """`exported(**ExportOptions fields)`: the run's export of the seed-0 0.75/96 checkpoint
  with these options, made on first use by whichever worker asks first. Read-only."""
  from export.core import options as options_lib  # pylint: disable=g-import-not-at-top
  from export.formats.saved_model import exporter  # pylint: disable=g-import-not-at-top

  cache = {}

  def export(**options):
    # Options that spell the defaults out name the same export.
    key = options_lib.ExportOptions(checkpoint_path="", export_dir="", **options)
    if key not in cache:
      name = "export-" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
      where = dataclasses.replace(key, checkpoint_path=synthetic_checkpoint_075_96)
      cache[key] = _once_per_run(
        tmp_path_factory,
        name,
        lambda directory: exporter.export_saved_model(
          dataclasses.replace(where, export_dir=str(directory / "module"))
        ),
      )[1]
    return cache[key]

  return export


@pytest.fixture(scope="session")
def exported_with_every_format(exported):
  """`exported_with_every_format(module_type="classification")`: the run's export of the
  0.75/96 checkpoint with every type of every format beside the SavedModel (LiteRT, ONNX,
  TF.js), as one export writes them; each format's tests read theirs. One export per module
  type shares the SavedModel, its outputs and the folded network among the formats. Read-only."""
  from export.formats import beside  # pylint: disable=g-import-not-at-top
  from nets import variants  # pylint: disable=g-import-not-at-top

  request = {}
  for fmt in beside.FORMATS:
    request.update(fmt.export_request(fmt.types))

  def export(module_type="classification"):
    return exported(spec=variants.ModelSpec(0.75, 96, module_type), **request)

  return export


@pytest.fixture(scope="session")
def other_variant(tmp_path_factory):
  """`other_variant(multiplier, size, module_type, calibration_size)`: (checkpoint prefix,
  images, TF-Slim graph outputs) for a seed-3 synthetic checkpoint of another variant, its
  statistics calibrated at `calibration_size`, and two seed-1 images of `size`. Made once per
  run: the SavedModel and the Keras tests compare with the same reference. Read-only."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from export.verification import reference  # pylint: disable=g-import-not-at-top
  from nets import variants  # pylint: disable=g-import-not-at-top

  def make(multiplier, size, module_type, calibration_size, directory):
    prefix = synthetic_checkpoint.write_checkpoint(
      str(directory), multiplier, calibration_size, seed=3
    )
    images = np.random.default_rng(1).uniform(size=(2, size, size, 3)).astype(np.float32)
    spec = variants.ModelSpec(multiplier, size, module_type)
    with reference.SlimReference(prefix, spec) as slim_graph:
      return prefix, images, slim_graph(images)

  def made(*key):
    name = "other_variant-" + "-".join(map(str, key))
    return _once_per_run(tmp_path_factory, name, lambda directory: make(*key, directory))[1]

  return made


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
  flags = [
    "--variants=mobilenet_v2_0.75_96",
    "--module_types=classification",
    "--versions=4,5",
    "--jobs=2",
  ]

  def regenerate(directory):
    return regeneration_runs.run(checkpoint_dir_075_96, directory / "hub", *flags)

  directory, run = _once_per_run(tmp_path_factory, "regenerated_075_96", regenerate)
  return directory / "hub", run


@pytest.fixture(scope="session")
def synthetic_archive_075_96(tmp_path_factory) -> pathlib.Path:
  """A seed-0 synthetic mobilenet_v2_0.75_96.tgz laid out like the released archive, as
  `scripts/make_synthetic_checkpoint.py --archive` writes it. Read-only."""
  _, prefix = _once_per_run(
    tmp_path_factory,
    "synthetic_archive",
    lambda directory: synthetic_checkpoint.write_checkpoint(
      str(directory), 0.75, 96, seed=0, archive=True
    ),
  )
  return pathlib.Path(prefix[: -len(".ckpt")] + ".tgz")


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory):
  """(checkout, CompletedProcess): `bash scripts/quickstart.sh`, the README's first command,
  run once per session in a fresh scratch checkout (tests/doc_runner.py) as a reader runs it;
  what it wrote is in `checkout / "quickstart_out"`. Read-only."""

  def run(directory):
    return doc_runner.run_quickstart(doc_runner.scratch_checkout(directory / "checkout"))

  directory, run = _once_per_run(tmp_path_factory, "quickstart", run)
  return directory / "checkout", run


@pytest.fixture(scope="session")
def fresh_process_export(tmp_path_factory, synthetic_checkpoint_075_96):
  """(export_dir, CompletedProcess) of the export binary run once per run in a fresh process
  with one thread and without oneDNN (TF_NUM_INTRAOP_THREADS=1, TF_ENABLE_ONEDNN_OPTS=0),
  every type of every format beside the SavedModel: one TensorFlow start serves each format's
  same-bytes test (test_litert, test_onnx, test_tfjs) and the quiet binary's. Read-only."""
  import binaries  # pylint: disable=g-import-not-at-top

  from export.formats import beside  # pylint: disable=g-import-not-at-top

  formats = [
    flag
    for fmt in beside.FORMATS
    for flag in (f"--{fmt.export_flag}", f"--{fmt.export_flag}_types={','.join(fmt.types)}")
  ]

  def export(directory):
    return binaries.run(
      "export.export_saved_model",
      f"--checkpoint_path={synthetic_checkpoint_075_96}",
      f"--export_dir={directory / 'module'}",
      *formats,
      environment={"TF_NUM_INTRAOP_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0"},
      fresh=True,
    )

  directory, run = _once_per_run(tmp_path_factory, "fresh_process_export", export)
  return str(directory / "module"), run
