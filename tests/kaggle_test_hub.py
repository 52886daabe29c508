"""Small hand-made regeneration outputs, in the manifest schema the publisher reads.

Entries as the regeneration writes them (export/pipeline/manifest.py), with a few bytes standing
in for each file but the real model card. Every file's bytes name the artifact they belong to,
so a test can tell which one was uploaded where.
"""

import hashlib
import json
import os

import manifest_samples

from export.base import files as files_lib
from export.pipeline import manifest as manifest_lib
from export.pipeline import report as regeneration_report
from export.pipeline import state as regeneration_state
from export.publish import model_card
from nets import variants

VARIANT = variants.by_name("mobilenet_v2_0.75_96")
SAVED_MODEL_FILES = (
  "saved_model.pb",
  "variables/variables.data-00000-of-00001",
  "variables/variables.index",
)

TFJS_FILES = ("group1-shard1of1.bin", "model.json")


def _write(root: str, relative: str, data: bytes) -> manifest_lib.File:
  path = os.path.join(root, *relative.split("/"))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)
  return manifest_lib.File(path=relative, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _digest(file: manifest_lib.File) -> manifest_lib.Digest:
  return manifest_lib.Digest(sha256=file.sha256, size=file.size)


def file_bytes(key: str, name: str, salt: str = "") -> bytes:
  """What the hand-made hub holds for `name` of artifact `key`."""
  return f"{name} of {key}{salt}\n".encode()


def write_hub(
  root: str,
  versions=(4, 5),
  module_types=("classification",),
  litert_versions=(),
  litert_types=("float32", "float16", "int8", "uint8"),
  keras=False,
  tfjs_versions=(),
  tfjs_types=("float32", "float16", "uint8"),
  onnx_versions=(),
  salt: str = "",
  checkpoint_sha256: str = "0" * 64,
) -> dict:
  """Writes files, manifest.json and a successful run_report.json under `root`; every
  artifact records `checkpoint_sha256` as its checkpoint's digest. Returns the manifest."""
  artifacts, report = {}, {}
  for module_type in module_types:
    common = manifest_samples.common(module_type, checkpoint_sha256)
    for version in versions:
      key = f"{VARIANT.hub_handle(module_type)}/{version}"
      files = {
        name: _digest(_write(root, f"{key}/{name}", file_bytes(key, name, salt)))
        for name in SAVED_MODEL_FILES
      }
      card = _write(root, f"{key}.md", model_card.render(VARIANT, module_type, version).encode())
      archive = _write(root, f"{key}.tar.gz", file_bytes(key, "archive", salt))
      litert = {}
      for kind in litert_types if version in litert_versions else ():
        path = f"{key}.tflite" if kind == "float32" else f"{key}.{kind}.tflite"
        written = _write(root, path, file_bytes(key, kind, salt))
        litert[kind] = manifest_lib.DerivedFile(agreement={}, **vars(written))
      onnx = {}
      for kind in ("float32", "int8") if version in onnx_versions else ():
        path = f"{key}.onnx" if kind == "float32" else f"{key}.{kind}.onnx"
        written = _write(root, path, file_bytes(key, f"onnx {kind}", salt))
        companions = {
          f"{path}.test_data/test_data_set_0/{name}": _digest(
            _write(root, f"{path}.test_data/test_data_set_0/{name}", file_bytes(path, name, salt))
          )
          for name in ("input_0.pb", "output_0.pb")
        }
        onnx[kind] = manifest_lib.DerivedFile(agreement={}, companions=companions, **vars(written))
      tfjs = {}
      for kind in tfjs_types if version in tfjs_versions else ():
        directory = f"{key}.tfjs" if kind == "float32" else f"{key}.{kind}.tfjs"
        held = {
          name: _digest(
            _write(root, f"{directory}/{name}", file_bytes(key, f"{kind} {name}", salt))
          )
          for name in TFJS_FILES
        }
        tfjs[kind] = manifest_lib.DerivedDirectory(
          path=directory,
          sha256=files_lib.tree_sha256(os.path.join(root, *directory.split("/"))),
          size=sum(digest.size for digest in held.values()),
          files=held,
          agreement={},
        )
      derived = {
        name: by_type
        for name, by_type in (("litert", litert), ("onnx", onnx), ("tfjs", tfjs))
        if by_type
      }
      artifacts[key] = manifest_lib.ModuleVersionEntry(
        version=version,
        saved_model=manifest_lib.SavedModel(path=key, files=files, fingerprint={}),
        card=manifest_lib.Card(static_sha256=card.sha256, **vars(card)),
        archive=manifest_lib.Archive(tar_sha256=archive.sha256, **vars(archive)),
        derived=derived,
        **common,
      )
      report[key] = {"status": regeneration_state.MADE}
    if keras:
      key = f"{VARIANT.hub_handle(module_type)}/keras"
      path = f"{key}/{VARIANT.hub_name}_{module_type}.keras"
      artifacts[key] = manifest_lib.FileEntry(
        format="keras", file=_write(root, path, file_bytes(key, "keras", salt)), **common
      )
      report[key] = {"status": regeneration_state.MADE}
  manifest = manifest_samples.of(artifacts)
  manifest_lib.write(os.path.join(root, manifest_lib.FILE_NAME), manifest)
  with open(os.path.join(root, regeneration_report.RUN_REPORT_NAME), "w") as f:
    json.dump({"artifacts": report, "interrupted": False}, f, indent=2, sort_keys=True)
  return manifest
