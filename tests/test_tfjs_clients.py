"""Clients no one here wrote, running our TF.js model: @tensorflow-models/mobilenet in Node,
and the demo page (export.serve_tfjs) in Debian's headless Chromium.

The package (2.1.1) hard-codes 224-pixel inputs, so the judge is a 224 export: a seed-0
synthetic 0.35/224 classifier (the smallest at that size), converted once for this file.
"""

import json
import urllib.error
import urllib.request

import binaries
import numpy as np
import pytest

from export.core import images as images_lib
from export.core import options as options_lib
from export.formats.saved_model import exporter
from export.formats.tfjs import node as tfjs_node
from export.formats.tfjs import server as tfjs_server
from export.runtime import classifier
from export.testing import synthetic_checkpoint
from nets import variants

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export_224(tmp_path_factory):
  """(SavedModel dir, TF.js model dir) of a synthetic 0.35/224 classifier, as --tfjs writes it."""
  parent = tmp_path_factory.mktemp("tfjs_224")
  prefix = synthetic_checkpoint.write_checkpoint(str(parent / "checkpoint"), 0.35, 224, seed=0)
  export_dir = str(parent / "module")
  result = exporter.export_saved_model(
    options_lib.ExportOptions(
      checkpoint_path=prefix, export_dir=export_dir, spec=variants.ModelSpec(0.35, 224), tfjs=True
    )
  )
  return export_dir, result.written["tfjs"][0].path


@pytest.mark.parametrize("kind", ["landscape", "discs"])
def test_mobilenet_package_classifies_as_we_do(export_224, tmp_path, kind):
  export_dir, model_dir = export_224
  picture = images_lib.write_example_image(str(tmp_path / f"{kind}.png"), size=224, kind=kind)
  (ours,) = classifier.classify(export_dir, [picture], top_k=3)
  ours = [prediction.class_index for prediction in ours.predictions]
  assert 0 not in ours, "background is among our top 3: the package cannot return it"
  pixels = images_lib.decode_image_file(picture).numpy()
  theirs = tfjs_node.mobilenet_classify(model_dir, pixels, top_k=3)
  assert [prediction["class_index"] for prediction in theirs] == ours


def test_without_input_range_the_package_is_silently_wrong(export_224, tmp_path):
  # What the docs warn about: the package's default [-1, 1] feeds our [0, 1] model other
  # inputs. Its outputs then differ from ours, though nothing fails.
  _, model_dir = export_224
  picture = images_lib.write_example_image(str(tmp_path / "p.png"), size=224, kind="landscape")
  pixels = images_lib.decode_image_file(picture).numpy()
  right = tfjs_node.mobilenet_classify(model_dir, pixels, top_k=5)
  wrong = tfjs_node.mobilenet_classify(model_dir, pixels, top_k=5, input_range=None)
  assert [p["probability"] for p in right] != [p["probability"] for p in wrong]
  assert np.isfinite([p["probability"] for p in wrong]).all()


# --- the demo page in a real browser -----------------------------------------------------
def test_the_page_in_chromium_shows_our_top_label(export_224, tmp_path):
  export_dir, model_dir = export_224
  picture = images_lib.write_example_image(str(tmp_path / "rings.png"), size=224, kind="rings")
  (ours,) = classifier.classify(export_dir, [picture], top_k=5)
  server = tfjs_server.start_in_thread(model_dir)
  try:
    shown = tfjs_node.browser_classify(tfjs_server.url_of(server), picture)
  finally:
    server.shutdown()
    server.server_close()
  assert shown["backend"] == "wasm"
  assert shown["shown"][0] == ours.predictions[0].label
  assert shown["top"][0]["index"] == ours.predictions[0].class_index
  assert abs(shown["top"][0]["probability"] - ours.predictions[0].probability) < 1e-3


def test_the_server_serves_only_what_the_page_needs(export_224):
  _, model_dir = export_224
  server = tfjs_server.start_in_thread(model_dir)
  try:
    url = tfjs_server.url_of(server)
    with urllib.request.urlopen(url + "model/model.json") as response:
      assert json.loads(response.read())["format"] == "graph-model"
    with pytest.raises(urllib.error.HTTPError, match="404"):
      urllib.request.urlopen(url + "../setup.cfg")
  finally:
    server.shutdown()
    server.server_close()


def test_the_server_refuses_a_directory_without_a_model(tmp_path):
  with pytest.raises(tfjs_server.ServeError, match=r"no model\.json; expected a TF\.js graph"):
    tfjs_server.make_server(str(tmp_path))


def test_a_port_out_of_range_is_a_usage_error(tmp_path):
  run = binaries.run(
    "export.serve_tfjs", f"--model_dir={tmp_path}", "--port=70000", blocked=("tensorflow",)
  )
  assert (run.returncode, run.stderr.splitlines()) == (
    2,
    ["error: flag --port=70000: 70000 is not an integer in the range [0, 65535]"],
  )


def test_the_server_refuses_a_model_without_a_shard_it_lists_and_ignores_the_rest(tmp_path):
  manifest = {"format": "graph-model", "weightsManifest": [{"paths": ["group1-shard1of1.bin"]}]}
  (tmp_path / "model.json").write_text(json.dumps(manifest))
  (tmp_path / "notes").mkdir()  # neither served nor in the way
  with pytest.raises(
    tfjs_server.ServeError, match=r"group1-shard1of1\.bin: missing \(model\.json lists it\)$"
  ):
    tfjs_server.routes(str(tmp_path))
  (tmp_path / "group1-shard1of1.bin").write_bytes(b"weights")
  served = tfjs_server.routes(str(tmp_path))
  assert sorted(p for p in served if p.startswith("/model/")) == [
    "/model/group1-shard1of1.bin",
    "/model/model.json",
  ]
  (tmp_path / "model.json").write_text("{}")
  with pytest.raises(tfjs_server.ServeError, match=r"model\.json: not a TF\.js model\.json"):
    tfjs_server.routes(str(tmp_path))
