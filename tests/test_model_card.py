"""Every card (22 variants x 2 module types x versions 4 and 5) against the variants table."""

import os
import re
import subprocess
import sys

import pytest

from export.base import versions
from export.publish import model_card
from nets import variants

_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SECTIONS = ["TF2 SavedModel", "Overview", "Training", "Usage", "Fine-tuning", "Changelog"]
_CASES = [
  (variant, module_type, number)
  for variant in variants.VARIANTS
  for module_type in variants.MODULE_TYPES
  for number in versions.PRODUCED_VERSIONS
]


def _feature_size(multiplier):
  """Independent of nets.architecture: 1280 up to 1.0, the last conv scaled above."""
  return {1.3: 1664, 1.4: 1792}.get(multiplier, 1280)


def _changelog_blocks(card):
  """{version number: text under its heading} of the Changelog section."""
  changelog = card.split("## Changelog", 1)[1]
  parts = re.split(r"^#### Version (\d+)$", changelog, flags=re.M)
  return [(int(number), text) for number, text in zip(parts[1::2], parts[2::2])]


def test_covers_all_88_cards():
  assert len(_CASES) == 88


@pytest.mark.parametrize(
  "variant,module_type,number", _CASES, ids=[f"{v.hub_name}-{t}-{n}" for v, t, n in _CASES]
)
def test_card_facts(variant, module_type, number):
  card = model_card.render(variant, module_type, number)
  lines = card.splitlines()
  handle = variant.hub_handle(module_type)
  size = variant.image_size

  assert lines[0] == f"# Module {handle}/{number}"
  description = lines[2]
  assert description and not description.startswith(("#", "<!--"))

  metadata = dict(re.findall(r"^<!-- ([a-z-]+): (.*) -->$", card, flags=re.M))
  assert metadata == {
    "asset-path": f"{handle}/{number}.tar.gz",
    "dataset": "imagenet-ilsvrc-2012-cls",
    "fine-tunable": "true",
    "format": "saved_model_2",
    "module-type": {
      "classification": "image-classification",
      "feature_vector": "image-feature-vector",
    }[module_type],
    "network-architecture": "mobilenet-v2",
  }
  assert list(metadata) == sorted(metadata)  # in the order the cards list them

  headings = re.findall(r"^## (.+)$", card, flags=re.M)
  assert headings == _SECTIONS

  assert f"depth multiplier {variant.multiplier_text}" in card
  assert f"{size}x{size}" in card
  assert f"build([None, {size}, {size}, 3])" in card
  assert f"[batch_size, {size}, {size}, 3]" in card
  assert "[0, 1]" in card
  assert f"| {variant.macs_millions} million |" in card
  assert f"| {variant.params_millions:.2f} million |" in card
  assert f"| {variant.top1:.1f} % |" in card
  assert f"| {variant.top5:.1f} % |" in card
  assert f"`{variant.checkpoint_name}`" in card
  assert variant.archive_url in card
  assert "MobileNetV2: Inverted Residuals and Linear Bottlenecks" in card

  if module_type == "classification":
    assert "[batch_size, 1001]" in card
    assert "ImageNetLabels.txt" in card
  else:
    assert f"[batch_size, {_feature_size(variant.depth_multiplier)}]" in card
    assert "ImageNetLabels.txt" not in card
  assert f"{_feature_size(variant.depth_multiplier)} channels" in card

  version = versions.get(number)
  assert f"momentum {version.batch_norm_momentum_default} by default" in card
  assert "arguments=dict(batch_norm_momentum=0.997)" in card
  assert ("serving_default` signature, for serving" in card) == version.serving_signature

  blocks = _changelog_blocks(card)
  assert [n for n, _ in blocks] == list(range(1, number + 1))
  for n, text in blocks:
    for change in versions.get(n).changes:
      assert change in text

  # Nothing left unformatted.
  assert "{" not in card and "}" not in card


def test_cards_differ_per_version():
  variant = variants.default()
  assert model_card.render(variant, "classification", 4) != model_card.render(
    variant, "classification", 5
  )
  assert model_card.render(variant, "classification", versions.get(5)) == model_card.render(
    variant, "classification", 5
  )


def _tfjs_model(kind: str, max_abs_difference: float) -> dict:
  """A TF.js model's manifest entry, as the regeneration passes it (type -> entry)."""
  infix = "" if kind == "float32" else f".{kind}"
  return {
    "path": f"google/imagenet/mobilenet_v2_075_96/classification/5{infix}.tfjs",
    "bytes": 10_570_000,
    "sha256": "d",
    "files": {"model.json": {"bytes": 1, "sha256": "j"}},
    "agreement": {
      "max_abs_difference": max_abs_difference,
      "min_cosine": 1.0,
      "mean_cosine": 1.0,
      "top1_agreement": 1.0,
      "top5_overlap": 1.0,
      "threshold": {"max_relative_difference": 1e-4},
    },
  }


def test_a_card_with_tfjs_models_shows_them_and_the_javascript_that_loads_one(tmp_path):
  variant = variants.default()
  card = model_card.render(
    variant, "classification", 5, tfjs={"float32": _tfjs_model("float32", 5e-5)}
  )
  section = card.split("## TF.js graph models", 1)[1].split("\n## ", 1)[0]
  assert (
    "| float32 | `5.tfjs/` | 10.6 MB | max |diff| / (1 + max |output|) at most 0.0001 |" in section
  )
  assert "await tf.loadGraphModel('https://<your host>/5.tfjs/model.json');" in section
  assert "tf.zeros([1, 96, 96, 3])" in section
  assert (
    re.findall(r"^## (.+)$", card, flags=re.M)
    == _SECTIONS[:4] + ["TF.js graph models"] + _SECTIONS[4:]
  )
  # The measured figures vary by machine: the card's static digest leaves them out.
  other = model_card.render(
    variant, "classification", 5, tfjs={"float32": _tfjs_model("float32", 6e-5)}
  )
  assert other != card
  for name, text in (("a.md", card), ("b.md", other)):
    (tmp_path / name).write_text(text)
  assert model_card.static_sha256(tmp_path / "a.md") == model_card.static_sha256(tmp_path / "b.md")


@pytest.mark.parametrize("number", [1, 2, 3, 6, 0])
def test_no_card_for_versions_not_produced(number):
  with pytest.raises(ValueError):
    model_card.render(variants.default(), "classification", number)


def test_bad_module_type():
  with pytest.raises(ValueError, match="module type"):
    model_card.render(variants.default(), "segmentation", 4)


def _litert_models(kinds):
  """The manifest's entries of LiteRT models (placeholders where the section reads none)."""
  agreement = {
    "threshold": {"max_relative_difference": 5e-5},
    "max_abs_difference": 1e-6,
    "min_cosine": 1.0,
    "mean_cosine": 1.0,
    "top1_agreement": None,
    "top5_overlap": None,
  }
  return {
    kind: {"path": f"x/5.{kind}.tflite", "bytes": 3e6, "agreement": agreement} for kind in kinds
  }


def _metadata_rows(card):
  """{field: value} of the LiteRT section's metadata table."""
  table = card.split("| metadata | value |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
  return dict(line[2:-2].split(" | ", 1) for line in table.splitlines())


@pytest.mark.parametrize("module_type", variants.MODULE_TYPES)
def test_the_litert_section_lists_each_files_metadata(module_type):
  variant = variants.find(1.4, 224)
  kinds = ("float32", "float16", "int8", "uint8")
  card = model_card.render(variant, module_type, 5, litert=_litert_models(kinds))
  assert card == model_card.render(variant, module_type, 5, litert=_litert_models(kinds))
  rows = _metadata_rows(card)
  classifier = module_type == "classification"
  assert rows == {
    "name": f"google/imagenet/mobilenet_v2_140_224/{module_type}",
    "version": "5",
    "author": "Google (TF-Slim MobileNet V2 checkpoints), exported by slim-mobilenet-hub",
    "licence": "Apache-2.0",
    "input": "`image`, an RGB image",
    "input normalization": "mean 0, std 255: pixels 0-255 become [0, 1]",
    "input tensor": "float32, float16, int8: float32 in [0, 1]; uint8: uint8 pixels in "
    "[0, 255] as they are, which its quantization (scale 1/255, zero point 0) makes the "
    "normalized values",
    "output": "`logits`" if classifier else "`feature_vector`",
    "labels": "`ImageNetLabels.txt`, packed in the file" if classifier else "none",
  }
  # A float32 file alone: one value per field, and nothing said of uint8.
  alone = model_card.render(variant, module_type, 5, litert=_litert_models(("float32",)))
  assert _metadata_rows(alone)["input tensor"] == "float32 in [0, 1]"
  assert "uint8" not in alone
  assert "TFLite Model Metadata" not in model_card.render(variant, module_type, 5)


def _run_cli(*args):
  return subprocess.run(
    [sys.executable, "-m", "export.model_card", *args],
    cwd=_PROJECT_ROOT,
    capture_output=True,
    text=True,
    timeout=60,
  )


def test_cli_prints_the_card():
  result = _run_cli(
    "--depth_multiplier=0.75", "--image_size=96", "--module_type=classification", "--version=4"
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines()[0] == (
    "# Module google/imagenet/mobilenet_v2_075_96/classification/4"
  )
  assert result.stdout == model_card.render(variants.default(), "classification", 4)


def test_cli_help_lists_the_flags_the_binaries_share():
  result = _run_cli("--help")  # absl's --help exits 1 after printing
  listed = {line.split(":")[0].strip() for line in result.stdout.splitlines() if ": " in line}
  assert {"--variant", "--depth_multiplier", "--image_size", "--module_type", "--version"} <= listed


def test_cli_on_a_full_disk_says_so_in_one_line():
  with open("/dev/full", "w") as full:
    result = subprocess.run(
      [sys.executable, "-m", "export.model_card"],
      cwd=_PROJECT_ROOT,
      stdout=full,
      stderr=subprocess.PIPE,
      text=True,
      timeout=60,
    )
  assert (result.returncode, result.stderr) == (
    1,
    "error: cannot write to standard output (No space left on device)\n",
  )


@pytest.mark.parametrize(
  "args,message",
  [
    (["--no_such_flag=1"], "no_such_flag"),
    (["--variant=mobilenet_v2_075_96", "--version=3"], "produces versions 4, 5"),
  ],
)
def test_cli_bad_flags(args, message):
  result = _run_cli(*args)
  assert result.returncode == 2
  assert result.stdout == ""
  assert len(result.stderr.strip().splitlines()) == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr
