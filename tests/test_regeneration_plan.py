"""What a regeneration decides without running one: the variants, module types, versions and
formats it selects, the checkpoint it finds, and its lock's cut, merge and differences."""

import dataclasses
import hashlib

import manifest_samples
import pytest

from export.pipeline import lock as regeneration_lock
from export.pipeline import plan
from export.pipeline import state as regeneration_state
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")


# --- selection and checkpoints ----------------------------------------------------------
def test_variants_are_selected_by_either_name_in_table_order():
  chosen = variants.select(["mobilenet_v2_035_96", "mobilenet_v2_1.4_224"])
  assert [v.name for v in chosen] == ["mobilenet_v2_1.4_224", "mobilenet_v2_0.35_96"]
  assert len(variants.select(["all"])) == 22
  with pytest.raises(ValueError, match="unknown variant"):
    variants.select(["mobilenet_v2_0.6_96"])
  with pytest.raises(ValueError, match=r"^no variants selected$"):
    variants.select([])


def test_module_types_versions_and_formats_are_checked_values_in_a_fixed_order():
  with pytest.raises(ValueError, match="cannot be produced"):
    plan.check_versions([3, 5])
  assert plan.check_versions([5, 4, 5]) == (4, 5)
  assert plan.check_module_types(["feature_vector", "classification"]) == (
    "classification",
    "feature_vector",
  )
  with pytest.raises(
    ValueError,
    match=r"^unknown module type detection; expected some of classification,feature_vector$",
  ):
    plan.check_module_types(["detection"])
  assert plan.check_formats(["keras", "saved_model"]) == ("saved_model", "keras")
  with pytest.raises(ValueError, match=r"^litert is made from the saved_model format's module"):
    plan.check_formats(["litert"])
  with pytest.raises(ValueError, match=r"^no format selected; expected some of"):
    plan.check_formats([])


def test_find_checkpoint_prefers_a_prefix_then_the_archive_and_names_what_is_missing(tmp_path):
  with pytest.raises(
    regeneration_state.MissingCheckpoint,
    match=r"expected mobilenet_v2_0\.75_96"
    r"\.ckpt\.index with its data file, or mobilenet_v2_0\.75_96\.tgz",
  ):
    regeneration_state.find_checkpoint(str(tmp_path), VARIANT)
  (tmp_path / "mobilenet_v2_0.75_96.tgz").write_bytes(b"archive")
  assert regeneration_state.find_checkpoint(str(tmp_path), VARIANT).endswith(".tgz")
  (tmp_path / "mobilenet_v2_0.75_96.ckpt.index").write_bytes(b"index")
  with pytest.raises(regeneration_state.MissingCheckpoint, match="has no data file"):
    regeneration_state.find_checkpoint(str(tmp_path), VARIANT)
  (tmp_path / "mobilenet_v2_0.75_96.ckpt.data-00000-of-00001").write_bytes(b"data")
  assert regeneration_state.find_checkpoint(str(tmp_path), VARIANT) == str(
    tmp_path / "mobilenet_v2_0.75_96.ckpt"
  )
  assert regeneration_state.source_digest(str(tmp_path / "mobilenet_v2_0.75_96.ckpt")) == (
    hashlib.sha256(b"indexdata").hexdigest()
  )


# --- the lock ----------------------------------------------------------------------------
def _static_card(entry, static_sha256: str):
  return dataclasses.replace(
    entry, card=dataclasses.replace(entry.card, static_sha256=static_sha256)
  )


def _parameters(entry, with_batch_norm: int):
  parameters = dataclasses.replace(entry.parameters, with_batch_norm=with_batch_norm)
  return dataclasses.replace(entry, parameters=parameters)


def test_a_lock_is_cut_to_the_selection_and_the_cut_is_named():
  entry, with_litert = (
    manifest_samples.module_version(),
    manifest_samples.module_version(litert=True),
  )
  manifest = manifest_samples.of({"a/5": with_litert, "b/5": with_litert})
  lock = regeneration_lock.lock_from_manifest(manifest)
  assert regeneration_lock.selected_part(
    lock, manifest, {"a/5": ("litert",), "b/5": ("litert",)}
  ) == (
    lock,
    lock,
    "",
  )
  one = manifest_samples.of({"a/5": with_litert})
  part, made, cut = regeneration_lock.selected_part(lock, one, {"a/5": ("litert",)})
  assert part["artifacts"] == made["artifacts"] == {"a/5": lock["artifacts"]["a/5"]}
  assert cut == "1 locked artifact outside this selection was not checked"
  # Made without LiteRT models: everything but the card and LiteRT digests is compared.
  plain = manifest_samples.of(
    {"a/5": _static_card(entry, "a card without LiteRT models"), "b/5": _parameters(entry, 3)}
  )
  part, made, cut = regeneration_lock.selected_part(lock, plain, {"a/5": (), "b/5": ()})
  assert regeneration_lock.differences(part, made) == [
    "b/5: parameters.with_batch_norm: lock 2, now 3"
  ]
  assert cut.startswith(
    "the card and LiteRT and ONNX and TF.js digests of 2 locked module versions were not checked"
  )


def test_a_merge_keeps_what_the_run_did_not_select_and_refuses_to_mix_tensorflow_versions():
  entry, with_litert = (
    manifest_samples.module_version(),
    manifest_samples.module_version(litert=True),
  )
  lock = regeneration_lock.lock_from_manifest(
    manifest_samples.of({"a/5": with_litert, "b/5": with_litert}, tensorflow_version="2")
  )
  changed = _static_card(_parameters(entry, 3), "a card without LiteRT models")
  run = manifest_samples.of({"a/5": changed, "c/5": entry}, tensorflow_version="2")
  merged, kept, kept_in_part = regeneration_lock.merged_lock(lock, run, {"a/5": (), "c/5": ()})
  assert (kept, kept_in_part) == (1, 1) and sorted(merged["artifacts"]) == ["a/5", "b/5", "c/5"]
  # The run's parameters; the lock's card and LiteRT digests, which the run did not make.
  assert merged["artifacts"]["a/5"] == dict(
    lock["artifacts"]["a/5"], parameters={"with_batch_norm": 3, "without_batch_norm": 1}
  )
  assert merged["artifacts"]["b/5"] == lock["artifacts"]["b/5"]
  assert merged["artifacts"]["c/5"] == regeneration_lock.lock_from_manifest(run)["artifacts"]["c/5"]
  assert regeneration_lock.merged_lock(None, run, {}) == (
    regeneration_lock.lock_from_manifest(run),
    0,
    0,
  )
  newer = dataclasses.replace(run, tensorflow_version="3")
  with pytest.raises(regeneration_lock.LockError, match="lock is for TensorFlow 2, this run"):
    regeneration_lock.merged_lock(lock, newer, {"a/5": (), "c/5": ()})
  everything = dataclasses.replace(newer, artifacts={"a/5": with_litert, "b/5": with_litert})
  merged, kept, _ = regeneration_lock.merged_lock(
    lock, everything, {"a/5": ("litert",), "b/5": ("litert",)}
  )
  assert kept == 0 and merged["tensorflow_version"] == "3"  # all replaced: nothing mixed


def test_lock_differences_name_missing_and_extra_artifacts_and_top_level_fields():
  entry = manifest_samples.module_version("a/4")
  manifest = manifest_samples.of({"a/4": entry, "b/4": entry}, tensorflow_version="2.21.0")
  lock = regeneration_lock.lock_from_manifest(manifest)
  assert regeneration_lock.lock_differences(lock, manifest) == []
  lock["tensorflow_version"] = "2.20.0"
  lock["artifacts"]["c/4"] = lock["artifacts"].pop("b/4")
  assert regeneration_lock.lock_differences(lock, manifest) == [
    "tensorflow_version: lock 2.20.0, now 2.21.0",
    "b/4: produced, not in the lock",
    "c/4: in the lock, not produced by this run",
  ]
