"""The version registry: contiguous, monotone, and strict about what it can produce."""

import pytest

from export.base import versions

_SWITCHES = (
  "momentum_configurable",
  "updates_batch_norm_in_training",
  "tf2_saved_model",
  "serving_signature",
)


def test_numbers_are_contiguous_from_one():
  assert [v.number for v in versions.VERSIONS] == list(range(1, len(versions.VERSIONS) + 1))
  assert versions.LATEST_VERSION == 5 == versions.VERSIONS[-1].number


def test_only_tf2_versions_four_and_five_are_produced():
  assert versions.PRODUCED_VERSIONS == (4, 5)
  for version in versions.VERSIONS:
    assert version.produced == (version.number in versions.PRODUCED_VERSIONS)
    expected_format = "saved_model_2" if version.number >= 4 else "hub"
    assert version.hub_format == expected_format
    assert version.tf2_saved_model == (version.hub_format == "saved_model_2")


def test_switches_turn_on_at_their_version_and_stay_on():
  first_on = {
    "updates_batch_norm_in_training": 2,
    "momentum_configurable": 3,
    "tf2_saved_model": 4,
    "serving_signature": 5,
  }
  for switch in _SWITCHES:
    values = [getattr(v, switch) for v in versions.VERSIONS]
    assert values == sorted(values), f"{switch} turns off again"
    assert values.index(True) + 1 == first_on[switch]


def test_momentum_default():
  defaults = [v.batch_norm_momentum_default for v in versions.VERSIONS]
  assert defaults == [0.997, 0.997, 0.99, 0.99, 0.99]


def test_every_version_documents_its_changes():
  for version in versions.VERSIONS:
    assert version.changes and all(isinstance(c, str) and c.strip() for c in version.changes)


def test_versions_are_immutable():
  with pytest.raises(AttributeError):
    versions.VERSIONS[0].number = 7


def test_get_and_changelog():
  assert versions.get(3).number == 3
  assert [v.number for v in versions.changelog_until(4)] == [1, 2, 3, 4]
  assert [v.number for v in versions.changelog_until(1)] == [1]


@pytest.mark.parametrize("bad", [0, 6, -1, True, "4", 4.0, None])
def test_get_rejects_unknown_versions(bad):
  with pytest.raises(ValueError, match="published versions are 1, 2, 3, 4, 5"):
    versions.get(bad)
  with pytest.raises(ValueError):
    versions.changelog_until(bad)


def test_producible():
  assert versions.producible(4) is versions.get(4)
  assert versions.producible(5).serving_signature
  for number in (1, 2, 3):
    with pytest.raises(ValueError, match="produces versions 4, 5"):
      versions.producible(number)
  with pytest.raises(ValueError, match="published versions"):
    versions.producible(6)
