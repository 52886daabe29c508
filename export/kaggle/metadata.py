"""The metadata Kaggle's tooling reads, written from the model cards.

The cards are those export/publish/model_card.py renders: staging.py reads each from the hub
directory, or renders one for a Keras file, which has no card there.

`model-metadata.json` describes the model (`kaggle models create -p DIR` reads it) and
`model-instance-metadata.json` one instance (`kaggle models instances create -p DIR`); the
field names are those of the Kaggle CLI's templates (`kaggle models init`, `kaggle models
instances init`). The prose comes from the regenerated model cards, so the pages on Kaggle say
what the cards say: the model's description is the family's overview, the instances and the
changelog; an instance's overview is its card's overview and training sections, its usage a
snippet for its framework followed by the card's own usage notes. Every value is a pure
function of its inputs, so the same regeneration stages the same bytes.
"""

from typing import Optional

from export.formats import registry
from export.kaggle import mapping
from export.publish import model_card
from nets import variants as variants_lib

MODEL_METADATA_FILE = "model-metadata.json"
INSTANCE_METADATA_FILE = "model-instance-metadata.json"
METADATA_FILES = (MODEL_METADATA_FILE, INSTANCE_METADATA_FILE)

MODEL_TITLE = "MobileNet V2"
MODEL_SUBTITLE = (
  "ImageNet classifiers and feature vectors from the TF-Slim checkpoints: "
  "TF2 SavedModels, LiteRT, ONNX, TF.js and Keras files"
)


# --- the model card, in sections ---------------------------------------------------------
def card_sections(card: str) -> dict:
  """`{"": intro, "Overview": text, ...}`: a card split at its `## ` headings.

  The intro is the card's one-line description, without its `# Module` title and its
  `<!-- key: value -->` metadata lines, which only tfhub.dev read.
  """
  sections, name, lines = {}, "", []
  for line in card.splitlines():
    if line.startswith("## "):
      sections[name] = "\n".join(lines).strip()
      name, lines = line[3:].strip(), []
    elif not line.startswith(("# ", "<!--")):
      lines.append(line)
  sections[name] = "\n".join(lines).strip()
  return sections


def _prose(text: str) -> str:
  """`text` without its fenced code blocks (they load tfhub.dev handles)."""
  kept, inside = [], False
  for line in text.splitlines():
    if line.startswith("```"):
      inside = not inside
    elif not inside:
      kept.append(line)
  return "\n".join(kept).strip().replace("\n\n\n", "\n\n")


def _join(*parts: str) -> str:
  return "\n\n".join(part for part in parts if part) + "\n"


# --- model-metadata.json -----------------------------------------------------------------
def model_metadata(
  owner: str, model: str, card: str, instances: list, private: bool = True
) -> dict:
  """The model's metadata; `card` is one of the published cards, `instances` the
  InstanceVersions (with their Publishables) being published: [(InstanceVersion, item)]."""
  sections = card_sections(card)
  family = sections.get("Overview", "").split("\n\n")[0]
  rows = [
    "| Instance | Kaggle version | From | Depth multiplier | Input size | Top-1 | Top-5 |",
    "|---|---|---|---|---|---|---|",
  ]
  for instance, item in instances:
    variant = item.variant
    rows.append(
      f"| `{instance.handle}` | {instance.version} | `{item.key}` | "
      f"{variant.multiplier_text} | {variant.image_size} | {variant.top1:.1f} % | "
      f"{variant.top5:.1f} % |"
    )
  description = _join(
    f"# {MODEL_TITLE}",
    family,
    "The modules of TF Hub's `google/imagenet/mobilenet_v2_*` handles, regenerated from the "
    "released TF-Slim checkpoints and verified against them. Accuracy figures are TF-Slim's "
    "for the classifier on the ImageNet validation set.",
    "\n".join(rows),
    "## Changelog\n\n" + sections.get("Changelog", ""),
  )
  return {
    "description": description,
    "isPrivate": private,
    "licenseName": mapping.LICENSE_NAME,
    "ownerSlug": owner,
    "provenanceSources": variants_lib.ARCHIVE_URL_TEMPLATE.format(name="<name>"),
    "publishTime": "",
    "slug": model,
    "subtitle": MODEL_SUBTITLE,
    "title": MODEL_TITLE,
  }


# --- model-instance-metadata.json --------------------------------------------------------
def instance_metadata(instance: mapping.InstanceVersion, item, card: str) -> dict:
  """The instance's metadata, the same for each of its versions: `item` is the Publishable of
  its latest version, `card` that item's model card (the one with the longest changelog)."""
  format_rule = mapping.rule(item.format)
  sections = card_sections(card)
  overview = _join(
    sections.get(""),
    f"Format: {format_rule.summary}.",
    "## Overview\n\n" + sections.get("Overview", ""),
    "## Training\n\n" + sections.get("Training", ""),
  )
  usage_notes = ""
  if item.format == mapping.SAVED_MODEL:
    usage_notes = _join(
      sections.get("TF2 SavedModel"),
      _prose(sections.get("Usage", "")),
      "## Fine-tuning\n\n" + sections.get("Fine-tuning", ""),
      "## Changelog\n\n" + sections.get("Changelog", ""),
    )
  usage = _join(
    "\n".join(
      ["```python"]
      + registry.by_name(format_rule.format).kaggle_usage(
        instance.handle, item.files[0].name, item.variant.image_size
      )
      + ["```"]
    ),
    f"Without a version the handle means the latest one; append `/<version>` for a "
    f"fixed one, such as `{instance.handle}/1`.",
    usage_notes,
  )
  return {
    "baseModelInstance": "",
    "externalBaseModelUrl": "",
    "fineTunable": format_rule.fine_tunable,
    "framework": instance.framework,
    "instanceSlug": instance.variation,
    "licenseName": mapping.LICENSE_NAME,
    "modelInstanceType": "Unspecified",
    "modelSlug": instance.model,
    "overview": overview,
    "ownerSlug": instance.owner,
    "trainingData": [model_card.DATASET],
    "usage": usage,
  }


def card_text(path: Optional[str]) -> Optional[str]:
  if path is None:
    return None
  with open(path, encoding="utf-8") as f:
    return f.read()
