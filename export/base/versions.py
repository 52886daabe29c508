"""The published versions of the MobileNet V2 TF Hub modules: the changelog as data.

Each `Version` records what changed in that version (model-card prose), its TF Hub format and
the behaviour switches the exporter reads. The model cards render their changelog from this
registry, and the exporter asks it how a version must behave, so nothing else in the project
spells out what a version number means.

The rule: a new behaviour change means a new `Version` entry appended to `VERSIONS`, with the
next number. An existing entry never changes what it produces; fixing a published version in
place would silently give two different modules the same handle.
"""

import dataclasses

from nets import architecture

# Format metadata strings of TF Hub model cards.
FORMAT_TF1_HUB = "hub"  # TF1 Hub module, loaded with hub.Module
FORMAT_TF2_SAVED_MODEL = "saved_model_2"  # TF2 SavedModel, loaded with hub.load / KerasLayer

# TF Hub's batch-norm momentum since version 3; the first versions used TF-Slim's training value.
HUB_BATCH_NORM_MOMENTUM = 0.99


@dataclasses.dataclass(frozen=True)
class Version:
  """One published version of the modules and the behaviour it stands for."""

  number: int
  changes: tuple  # of str: the model card's changelog entries, Markdown
  hub_format: str  # FORMAT_TF1_HUB or FORMAT_TF2_SAVED_MODEL
  produced: bool  # whether this pipeline can regenerate it
  batch_norm_momentum_default: float
  momentum_configurable: bool  # a `batch_norm_momentum` call argument exists
  updates_batch_norm_in_training: bool  # training calls update the moving statistics
  tf2_saved_model: bool
  serving_signature: bool  # a `serving_default` signature is exported


VERSIONS = (
  Version(
    number=1,
    changes=("Initial release.",),
    hub_format=FORMAT_TF1_HUB,
    produced=False,
    batch_norm_momentum_default=architecture.SLIM_BATCH_NORM_DECAY,
    momentum_configurable=False,
    updates_batch_norm_in_training=False,
    tf2_saved_model=False,
    serving_signature=False,
  ),
  Version(
    number=2,
    changes=(
      "Fine-tuning now updates the batch-norm moving mean and variance; before, the "
      "update ops were not run during training, so the statistics silently stayed "
      "frozen (tensorflow/hub issue 86).",
    ),
    hub_format=FORMAT_TF1_HUB,
    produced=False,
    batch_norm_momentum_default=architecture.SLIM_BATCH_NORM_DECAY,
    momentum_configurable=False,
    updates_batch_norm_in_training=True,
    tf2_saved_model=False,
    serving_signature=False,
  ),
  Version(
    number=3,
    changes=(
      f"The batch-norm momentum used when fine-tuning defaults to "
      f"{HUB_BATCH_NORM_MOMENTUM} (was {architecture.SLIM_BATCH_NORM_DECAY}) and can be "
      f"set with the `batch_norm_momentum` argument.",
      "Requires tensorflow-hub 0.2.0 or newer.",
    ),
    hub_format=FORMAT_TF1_HUB,
    produced=False,
    batch_norm_momentum_default=HUB_BATCH_NORM_MOMENTUM,
    momentum_configurable=True,
    updates_batch_norm_in_training=True,
    tf2_saved_model=False,
    serving_signature=False,
  ),
  Version(
    number=4,
    changes=(
      "Published in the TF2 SavedModel format, for `hub.load()` and `hub.KerasLayer`; "
      "the TF1 `hub.Module` API can no longer load it.",
    ),
    hub_format=FORMAT_TF2_SAVED_MODEL,
    produced=True,
    batch_norm_momentum_default=HUB_BATCH_NORM_MOMENTUM,
    momentum_configurable=True,
    updates_batch_norm_in_training=True,
    tf2_saved_model=True,
    serving_signature=False,
  ),
  Version(
    number=5,
    changes=(
      "Adds a `serving_default` signature.",
      "Computing gradients inside `tf.GradientTape(persistent=True)` no longer fails.",
    ),
    hub_format=FORMAT_TF2_SAVED_MODEL,
    produced=True,
    batch_norm_momentum_default=HUB_BATCH_NORM_MOMENTUM,
    momentum_configurable=True,
    updates_batch_norm_in_training=True,
    tf2_saved_model=True,
    serving_signature=True,
  ),
)

LATEST_VERSION = VERSIONS[-1].number
PRODUCED_VERSIONS = tuple(version.number for version in VERSIONS if version.produced)


def _names(numbers) -> str:
  return ", ".join(str(number) for number in numbers)


def get(number: int) -> Version:
  """The published version `number`; ValueError listing the published ones otherwise."""
  # bool is an int subclass, and True must not quietly mean version 1.
  if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(VERSIONS):
    return VERSIONS[number - 1]
  raise ValueError(
    f"unknown module version {number!r}; published versions are "
    f"{_names(version.number for version in VERSIONS)}"
  )


def producible(number: int) -> Version:
  """Like `get`, but only for versions this pipeline can regenerate (ValueError otherwise)."""
  version = get(number)
  if not version.produced:
    raise ValueError(
      f"version {number} ({version.hub_format!r} format) cannot be produced by this pipeline; "
      f"it produces versions {_names(PRODUCED_VERSIONS)}"
    )
  return version


def changelog_until(number: int) -> tuple:
  """Versions 1 … `number`, oldest first: the changelog a card of version `number` shows."""
  return VERSIONS[: get(number).number]
