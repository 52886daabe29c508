"""A regeneration in every format: the session's regeneration of the 0.75/96 classifier
(conftest.py's `regenerated_075_96`: versions 4 and 5, version 5's LiteRT, ONNX and TF.js
models, the Keras file), what its manifest and lock record, and one rerun that makes version 5
again in every format: with a LiteRT model deleted and the checkpoint changed, it shows both
reruns' behaviours for the price of one.
"""

import hashlib
import json
import os
import pathlib

import pytest
import regeneration_runs

from export.base import files
from export.pipeline import lock as regeneration_lock
from export.pipeline import manifest as manifest_lib
from export.pipeline import plan
from export.pipeline import state as regeneration_state
from export.publish import model_card
from export.testing import synthetic_checkpoint
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")
KEY, KERAS_KEY = regeneration_runs.KEY, regeneration_runs.KERAS_KEY
ONE_ARTIFACT = regeneration_runs.ONE_ARTIFACT


@pytest.mark.slow
def test_every_format_is_made_beside_the_module_and_recorded(regenerated_075_96):
  output_dir, process = regenerated_075_96
  assert process.returncode == 0, process.stdout + process.stderr
  manifest = regeneration_runs.manifest(output_dir)
  assert sorted(manifest["artifacts"]) == sorted([KEY.replace("/5", "/4"), KEY, KERAS_KEY])
  assert "litert" not in manifest["artifacts"][KEY.replace("/5", "/4")]  # the latest only
  entry = manifest["artifacts"][KEY]
  assert sorted(entry["litert"]) == ["float16", "float32", "int8", "uint8"]
  for kind, model in entry["litert"].items():
    suffix = ".tflite" if kind == "float32" else f".{kind}.tflite"
    assert model["path"] == KEY + suffix
    assert model["sha256"] == files.sha256(output_dir / model["path"])
    assert model["agreement"]["passed"], kind
  keras_entry = manifest["artifacts"][KERAS_KEY]
  assert keras_entry["keras"]["path"] == (
    "google/imagenet/mobilenet_v2_075_96/classification/keras/"
    "mobilenet_v2_075_96_classification.keras"
  )
  assert keras_entry["keras"]["sha256"] == files.sha256(output_dir / keras_entry["keras"]["path"])
  assert keras_entry["parity"]["variables_exactly_equal"] == 262
  assert sorted(entry["onnx"]) == ["float32", "int8"]
  for kind, model in entry["onnx"].items():
    path = KEY + (".onnx" if kind == "float32" else f".{kind}.onnx")
    assert model["path"] == path and model["agreement"]["passed"], kind
    assert model["sha256"] == files.sha256(output_dir / path)
    assert sorted(model["companions"]) == [
      f"{path}.test_data/test_data_set_0/input_0.pb",
      f"{path}.test_data/test_data_set_0/output_0.pb",
    ]
    for companion, digest in model["companions"].items():
      assert digest["sha256"] == files.sha256(output_dir / companion)
  card = (output_dir / entry["card"]["path"]).read_text()
  assert "## LiteRT models" in card and "| uint8 | `5.uint8.tflite` |" in card
  assert "## ONNX models" in card and "| int8 | `5.int8.onnx` |" in card
  assert card.index("### Keras 3") < card.index("### TF Hub (tf_keras)")


@pytest.mark.slow
def test_the_lock_keeps_every_format_but_no_measured_figure(regenerated_075_96):
  output_dir, _ = regenerated_075_96
  manifest = regeneration_runs.manifest(output_dir)
  lock = regeneration_lock.lock_from_manifest(manifest_lib.read(str(output_dir / "manifest.json")))
  locked, entry = lock["artifacts"][KEY], manifest["artifacts"][KEY]
  assert locked["litert_sha256"] == {k: m["sha256"] for k, m in entry["litert"].items()}
  # The ONNX models' digests and their test vectors', by their paths beside the version.
  assert locked["onnx_sha256"] == {
    **{k: m["sha256"] for k, m in entry["onnx"].items()},
    **{
      path[len(KEY) - 1 :]: digest["sha256"]  # `5.onnx.test_data/...` after `<handle>/`
      for m in entry["onnx"].values()
      for path, digest in m["companions"].items()
    },
  }
  assert "5.int8.onnx.test_data/test_data_set_0/output_0.pb" in locked["onnx_sha256"]
  assert (
    lock["artifacts"][KERAS_KEY]["keras_sha256"]
    == (manifest["artifacts"][KERAS_KEY]["keras"]["sha256"])
  )
  # The card's measured figures (float kernels) are left out of the digest the lock keeps.
  card = static = (output_dir / entry["card"]["path"]).read_text()
  assert card.count(model_card.MEASURED_BEGIN) == 3  # the LiteRT, ONNX and TF.js figures
  for _ in range(3):
    start, end = static.index(model_card.MEASURED_BEGIN), static.index(model_card.MEASURED_END)
    static = static[:start] + static[end + len(model_card.MEASURED_END) :]
  assert locked["card_sha256"] == hashlib.sha256(static.encode()).hexdigest()
  assert locked["card_sha256"] != entry["card"]["sha256"]
  assert "agreement" not in json.dumps(lock) and "parity" not in json.dumps(lock)


@pytest.mark.slow
def test_a_deleted_litert_model_or_a_changed_checkpoint_remakes_every_format_of_the_version(
  regenerated_075_96, checkpoint_dir_075_96, tmp_path
):
  # One rerun, the expensive part (every format of version 5), shows both: first what the
  # orchestrator plans for a deleted file (the same triage that prints `started KEY (...)`).
  output_dir = regeneration_runs.copy(regenerated_075_96, tmp_path)
  os.remove(output_dir / f"{KEY}.int8.tflite")
  test_vector = output_dir / f"{KEY}.onnx.test_data" / "test_data_set_0" / "output_0.pb"
  os.remove(test_vector)
  planned = plan.artifacts([VARIANT], ["classification"], [5])
  outcomes, _ = plan.triage(
    planned, plan.find_sources(str(checkpoint_dir_075_96), [VARIANT]), str(output_dir)
  )
  assert [(o.artifact.key, o.status, o.reason) for o in outcomes] == [
    (KEY, regeneration_state.NOT_RUN, f"stale: {KEY}.int8.tflite missing"),
    (KERAS_KEY, regeneration_state.UP_TO_DATE, ""),  # the Keras file is not touched
  ]

  changed = tmp_path / "checkpoints"
  synthetic_checkpoint.write_checkpoint(
    str(changed), VARIANT.depth_multiplier, VARIANT.image_size, seed=1
  )
  before = regeneration_runs.manifest(output_dir)["artifacts"][KEY]
  # The Keras file left out: it would be made again from the changed checkpoint too.
  flags = [f for f in ONE_ARTIFACT if not f.startswith("--formats")]
  process = regeneration_runs.run(
    changed, output_dir, *flags, "--formats=saved_model,litert,onnx,tfjs"
  )
  assert process.returncode == 0, process.stdout + process.stderr
  assert f"started {KEY} (stale: checkpoint changed)" in process.stdout
  assert "1 to make, 0 up to date" in process.stdout
  assert (output_dir / f"{KEY}.int8.tflite").is_file() and test_vector.is_file()
  after = regeneration_runs.manifest(output_dir)["artifacts"][KEY]
  assert after["checkpoint"]["sha256"] != before["checkpoint"]["sha256"]
  variables = "variables/variables.data-00000-of-00001"
  assert (
    after["saved_model"]["files"][variables]["sha256"]
    != before["saved_model"]["files"][variables]["sha256"]
  )
  for kind, model in before["litert"].items():  # every LiteRT model made again, from it
    assert after["litert"][kind]["sha256"] != model["sha256"], kind
  # The card does not depend on the weights, but for its measured figures (kept out of locks).
  assert _locked_card_digest(output_dir) == _locked_card_digest(regenerated_075_96[0])


def _locked_card_digest(output_dir) -> str:
  manifest = manifest_lib.read(str(pathlib.Path(output_dir) / "manifest.json"))
  return regeneration_lock.lock_from_manifest(manifest)["artifacts"][KEY]["card_sha256"]
