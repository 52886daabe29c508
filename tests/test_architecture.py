"""nets.architecture against the fact sheet: channel counts, sizes, parameters and MACs.

Expected channel counts are recomputed here from the fact sheet's rules (outputs at
multiplier 1.0, rounding to multiples of 8, expansion x6, full-width Conv_1 below 1.0), not
read back from the module under test.
"""

import math
import re

import pytest

from nets import architecture
from nets import variants

RELEASED_MULTIPLIERS = sorted({v.depth_multiplier for v in variants.VARIANTS})
# Outputs at multiplier 1.0 of Conv and the 17 blocks; Conv_1 is handled separately.
OUTPUTS_AT_1 = (32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320)
HEAD_CHANNELS = {0.35: 1280, 0.5: 1280, 0.75: 1280, 1.0: 1280, 1.3: 1664, 1.4: 1792}
# (Conv outputs, expanded_conv_16 outputs) for each released multiplier.
STEM_AND_LAST_BLOCK = {
  0.35: (16, 112),
  0.5: (16, 160),
  0.75: (24, 240),
  1.0: (32, 320),
  1.3: (40, 416),
  1.4: (48, 448),
}

# The fact sheet's mobilenet_v2_0.75_96 table: scope, C in, expand (0: no expand layer,
# None: not a block), C out, output size, residual (None: not a block).
TABLE_075_96 = (
  ("Conv", 3, None, 24, 48, None),
  ("expanded_conv", 24, 0, 16, 48, False),
  ("expanded_conv_1", 16, 96, 24, 24, False),
  ("expanded_conv_2", 24, 144, 24, 24, True),
  ("expanded_conv_3", 24, 144, 24, 12, False),
  ("expanded_conv_4", 24, 144, 24, 12, True),
  ("expanded_conv_5", 24, 144, 24, 12, True),
  ("expanded_conv_6", 24, 144, 48, 6, False),
  ("expanded_conv_7", 48, 288, 48, 6, True),
  ("expanded_conv_8", 48, 288, 48, 6, True),
  ("expanded_conv_9", 48, 288, 48, 6, True),
  ("expanded_conv_10", 48, 288, 72, 6, False),
  ("expanded_conv_11", 72, 432, 72, 6, True),
  ("expanded_conv_12", 72, 432, 72, 6, True),
  ("expanded_conv_13", 72, 432, 120, 3, False),
  ("expanded_conv_14", 120, 720, 120, 3, True),
  ("expanded_conv_15", 120, 720, 120, 3, True),
  ("expanded_conv_16", 120, 720, 240, 3, False),
  ("Conv_1", 240, None, 1280, 3, None),
)


def _round8(value):
  """The fact sheet's rounding rule, written out independently."""
  rounded = max(8, int(value + 4) // 8 * 8)
  return rounded + 8 if rounded < 0.9 * value else rounded


def _expected_outputs(multiplier):
  head = _round8(1280 * multiplier) if multiplier > 1.0 else 1280
  return [_round8(channels * multiplier) for channels in OUTPUTS_AT_1] + [head]


@pytest.mark.parametrize(
  "value,expected",
  [(3, 8), (5.6, 8), (11.2, 16), (12, 16), (18, 24), (72, 72), (99, 96), (100, 104), (1792, 1792)],
)
def test_make_divisible_examples(value, expected):
  assert architecture.make_divisible(value) == expected


@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_channel_counts_per_layer(variant):
  layers = architecture.resolve(variant.depth_multiplier)
  expected = _expected_outputs(variant.depth_multiplier)
  assert [layer.out_channels for layer in layers] == expected
  assert [layer.in_channels for layer in layers] == [3] + expected[:-1]
  blocks = layers[1:-1]
  assert blocks[0].expanded is None  # expansion factor 1: no expand layer at all
  assert [b.expanded for b in blocks[1:]] == [_round8(b.in_channels * 6) for b in blocks[1:]]
  assert layers[-1].out_channels == HEAD_CHANNELS[variant.depth_multiplier]
  stem, last_block = STEM_AND_LAST_BLOCK[variant.depth_multiplier]
  assert (layers[0].out_channels, layers[-2].out_channels) == (stem, last_block)
  assert architecture.num_features(variant.depth_multiplier) == layers[-1].out_channels


def test_layer_table_of_0_75_96_matches_the_fact_sheet():
  rows = []
  for layer, size in zip(architecture.resolve(0.75), architecture.spatial_sizes(96)):
    is_block = layer.kind == "block"
    expand = (layer.expanded or 0) if is_block else None
    rows.append(
      (
        layer.scope,
        layer.in_channels,
        expand,
        layer.out_channels,
        size,
        layer.residual if is_block else None,
      )
    )
  assert tuple(rows) == TABLE_075_96


@pytest.mark.parametrize("image_size,final", [(96, 3), (128, 4), (224, 7)])
def test_final_feature_map_size(image_size, final):
  sizes = architecture.spatial_sizes(image_size)
  assert len(sizes) == 19
  assert sizes[-1] == final


@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_parameter_count_matches_the_readme(variant):
  count = architecture.parameter_count(variant.depth_multiplier)
  assert round(count / 1e6, 2) == variant.params_millions


def test_parameter_counts_of_0_75():
  specs = architecture.variable_specs(0.75)
  assert architecture.parameter_count(0.75) == 2_611_065
  assert sum(math.prod(s.shape) for s in specs if s.trainable) == 2_637_705
  assert architecture.parameter_count(0.75, include_batch_norm=True) == 2_664_345
  assert len(specs) == 262
  assert sum(s.trainable for s in specs) == 158


@pytest.mark.parametrize("variant", variants.VARIANTS, ids=lambda v: v.name)
def test_macs_match_the_readme(variant):
  macs = architecture.multiply_accumulates(variant.depth_multiplier, variant.image_size)
  # The README truncates to whole millions.
  assert int(macs / 1e6) == variant.macs_millions
  # Truncation can lose almost a whole million, which is more than 2 % of a figure below 50
  # (0.35_96 is 11.94 M, printed as 11); from 50 M up the count must be within 2 %.
  if variant.macs_millions >= 50:
    assert macs / 1e6 == pytest.approx(variant.macs_millions, rel=0.02)


def test_macs_of_0_75_96():
  assert round(architecture.multiply_accumulates(0.75, 96) / 1e6, 2) == 39.45


@pytest.mark.parametrize("multiplier", [0.6, 1.1, 0.125, 2.0])
def test_unreleased_multipliers_resolve(multiplier):
  layers = architecture.resolve(multiplier)
  assert len(layers) == 19
  assert [layer.out_channels for layer in layers] == _expected_outputs(multiplier)
  assert all(layer.out_channels % 8 == 0 for layer in layers)
  assert architecture.parameter_count(multiplier) > 0


@pytest.mark.parametrize("multiplier", [0, -0.75, float("nan"), float("inf")])
def test_non_positive_or_non_finite_multiplier_raises(multiplier):
  with pytest.raises(ValueError, match="positive"):
    architecture.resolve(multiplier)


def test_checkpoint_stem_spells_multipliers_as_the_released_names():
  assert [v.name for v in variants.VARIANTS][:3] == [
    "mobilenet_v2_1.4_224",
    "mobilenet_v2_1.3_224",
    "mobilenet_v2_1.0_224",
  ]
  assert variants.checkpoint_stem(0.75, 96) == "mobilenet_v2_0.75_96"
  assert variants.checkpoint_stem(0.5, 128) == "mobilenet_v2_0.5_128"
  assert variants.checkpoint_stem(1, 224) == "mobilenet_v2_1.0_224"
  # Unreleased multipliers keep their digits rather than colliding with a rounded neighbour.
  assert variants.checkpoint_stem(0.125, 96) == "mobilenet_v2_0.125_96"


@pytest.mark.parametrize(
  "arguments,message",
  [
    (dict(module_type="detection"), "module type must be one of classification, feature_vector"),
    (dict(depth_multiplier=-1.0), "depth multiplier must be a positive number, got -1.0"),
    (dict(depth_multiplier=True), "depth multiplier must be a positive number, got True"),
    (dict(image_size=0), "image size must be a positive whole number of pixels, got 0"),
    (dict(image_size=96.0), "image size must be a positive whole number of pixels, got 96.0"),
  ],
)
def test_a_model_spec_is_checked_when_made_with_the_message_users_see(arguments, message):
  fields = dict(depth_multiplier=0.75, image_size=96, module_type="classification")
  with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
    variants.ModelSpec(**dict(fields, **arguments))


def test_a_model_spec_names_its_network_and_released_variant():
  spec = variants.by_name("mobilenet_v2_075_96").spec()
  assert spec == variants.ModelSpec(0.75, 96, "classification")
  assert (spec.name, spec.num_classes, spec.variant.hub_name) == (
    "mobilenet_v2_0.75_96",
    1001,
    "mobilenet_v2_075_96",
  )
  features = spec.with_module_type("feature_vector")
  assert features.num_classes is None and features.variant == spec.variant
  # A network no checkpoint was released of is still a network, with TF-Slim's name for it.
  unreleased = variants.ModelSpec(0.6, 128)
  assert (unreleased.name, unreleased.variant) == ("mobilenet_v2_0.6_128", None)
