"""Artifact paths of TF Hub's layout."""

import os

import pytest

from export.publish import hub_layout
from nets import variants


def test_artifact_paths(tmp_path):
  variant = variants.default()
  paths = hub_layout.artifact_paths(str(tmp_path), variant, "classification", 4)
  stem = os.path.join(
    str(tmp_path), "google", "imagenet", "mobilenet_v2_075_96", "classification", "4"
  )
  assert paths.handle == "google/imagenet/mobilenet_v2_075_96/classification"
  assert paths.version == 4
  assert paths.saved_model_dir == stem
  assert paths.card_path == stem + ".md"
  assert paths.archive_path == stem + ".tar.gz"
  assert (
    hub_layout.relative_archive_path(variants.by_name("mobilenet_v2_1.4_224"), "feature_vector", 5)
    == "google/imagenet/mobilenet_v2_140_224/feature_vector/5.tar.gz"
  )


def test_artifact_paths_reject_bad_input(tmp_path):
  with pytest.raises(ValueError):
    hub_layout.artifact_paths(str(tmp_path), variants.default(), "segmentation", 4)
  with pytest.raises(ValueError):
    hub_layout.artifact_paths(str(tmp_path), variants.default(), "classification", 9)
