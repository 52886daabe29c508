"""Manifest entries for tests that need one without regenerating (export/pipeline/manifest.py).

Every value is a placeholder of the right type; tests replace the ones they look at.
"""

import dataclasses

from export.pipeline import manifest

VARIANT = "mobilenet_v2_0.75_96"
HANDLE = "google/imagenet/mobilenet_v2_075_96/classification"


def common(module_type: str = "classification", checkpoint_sha256: str = "k") -> dict:
  """The fields every entry has."""
  return dict(
    checkpoint=manifest.Checkpoint(
      files=("x.ckpt.index", "x.ckpt.data-00000-of-00001"), sha256=checkpoint_sha256
    ),
    handle=HANDLE.replace("classification", module_type),
    module_type=module_type,
    parameters=manifest.Parameters(with_batch_norm=2, without_batch_norm=1),
    parity=manifest.Parity(
      checks={"outputs": "passed", "variables": "passed"},
      evaluations=17,
      max_abs_error=2.5e-05,
      max_rel_error=0.001,
      top1_agree=17 if module_type == "classification" else None,
      top5_agree=17 if module_type == "classification" else None,
      variables_exactly_equal=262,
    ),
    variant=VARIANT,
  )


def module_version(key: str = f"{HANDLE}/5", litert: bool = False, **fields):
  """A module version's entry at `key` (with a float32 LiteRT model if `litert`); `fields`
  replace its own."""
  entry = manifest.ModuleVersionEntry(
    version=int(key.rsplit("/", 1)[1]) if key[-1].isdigit() else 5,
    saved_model=manifest.SavedModel(
      path=key,
      files={"saved_model.pb": manifest.Digest(sha256="s", size=3)},
      fingerprint={"checkpoint_hash": 1, "singleprint": "1/2/3/4"},
    ),
    card=manifest.Card(path=f"{key}.md", sha256="c", size=5, static_sha256="cs"),
    archive=manifest.Archive(path=f"{key}.tar.gz", sha256="a", size=7, tar_sha256="t"),
    derived={"litert": {"float32": litert_model(key)}} if litert else {},
    **common(),
  )
  return dataclasses.replace(entry, **fields)


def litert_model(key: str, kind: str = "float32", sha256: str = "l") -> manifest.DerivedFile:
  suffix = ".tflite" if kind == "float32" else f".{kind}.tflite"
  return manifest.DerivedFile(
    path=key + suffix,
    sha256=sha256,
    size=11,
    agreement={"passed": True, "max_abs_error": 1e-06, "threshold": 1e-05},
  )


def keras_file(key: str = f"{HANDLE}/keras", **fields) -> manifest.FileEntry:
  entry = manifest.FileEntry(
    format="keras",
    file=manifest.File(path=f"{key}/mobilenet_v2_075_96_classification.keras", sha256="k", size=13),
    **common(),
  )
  return dataclasses.replace(entry, **fields)


def of(artifacts: dict, tensorflow_version: str = "2.21.0") -> manifest.Manifest:
  """A manifest of `artifacts` (key -> entry)."""
  return manifest.Manifest(
    artifacts=artifacts,
    environment={"python": "3.11.2", "tensorflow": tensorflow_version, "zlib": "1.2.13"},
    tensorflow_version=tensorflow_version,
    tool={"name": "slim-mobilenet-hub", "version": "0.1.0"},
  )
