"""Shared test setup: quiet TensorFlow, and one synthetic checkpoint for the whole session."""

import os

# Read when TensorFlow's native library loads, so set before any test module imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top

from nets import synthetic  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope="session")
def synthetic_checkpoint_075_96(tmp_path_factory) -> str:
  """Prefix of a seed-0 synthetic mobilenet_v2_0.75_96 checkpoint (random weights).

  Shared by every test that needs one; treat it as read-only.
  """
  output_dir = tmp_path_factory.mktemp("synthetic_checkpoint")
  return synthetic.write_checkpoint(str(output_dir), 0.75, 96, seed=0)


@pytest.fixture(scope="session")
def export_checkpoint(tmp_path_factory):
  """`export_checkpoint(prefix, **ExportOptions fields)` exports into a fresh directory and
  returns the ExportResult (`.export_dir`, `.restored`)."""
  from export import export_saved_model as export_lib  # pylint: disable=g-import-not-at-top

  def export(checkpoint_path, **options):
    export_dir = tmp_path_factory.mktemp("export") / "module"
    return export_lib.export_saved_model(export_lib.ExportOptions(
        checkpoint_path=checkpoint_path, export_dir=str(export_dir), **options))
  return export
