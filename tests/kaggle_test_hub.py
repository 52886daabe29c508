"""Small hand-made regeneration outputs, in the manifest schema the publisher reads.

SavedModel artifacts carry today's entries (with a few bytes standing in for each file and
the real model card), LiteRT and Keras entries as the regeneration writes them
(export/pipeline/makers.py). Every file's bytes name the artifact they belong to, so
a test can tell which one was uploaded where.
"""

import hashlib
import json
import os

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


def _write(root: str, relative: str, data: bytes) -> dict:
  path = os.path.join(root, *relative.split("/"))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)
  return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


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
  salt: str = "",
  checkpoint_sha256: str = "0" * 64,
) -> dict:
  """Writes files, manifest.json and a successful run_report.json under `root`; every
  artifact records `checkpoint_sha256` as its checkpoint's digest."""
  checkpoint = {
    "files": ["x.ckpt.index", "x.ckpt.data-00000-of-00001"],
    "sha256": checkpoint_sha256,
  }
  artifacts, report = {}, {}
  for module_type in module_types:
    for version in versions:
      key = f"{VARIANT.hub_handle(module_type)}/{version}"
      files = {
        name: _write(root, f"{key}/{name}", file_bytes(key, name, salt))
        for name in SAVED_MODEL_FILES
      }
      card = _write(root, f"{key}.md", model_card.render(VARIANT, module_type, version).encode())
      entry = {
        "card": dict(card, path=f"{key}.md"),
        "checkpoint": checkpoint,
        "handle": VARIANT.hub_handle(module_type),
        "module_type": module_type,
        "saved_model": {"files": files, "path": key},
        "variant": VARIANT.name,
        "version": version,
      }
      if version in litert_versions:
        entry["litert"] = {}
        for kind in litert_types:
          path = f"{key}.tflite" if kind == "float32" else f"{key}.{kind}.tflite"
          entry["litert"][kind] = dict(
            _write(root, path, file_bytes(key, kind, salt)), path=path, agreement={}
          )
      artifacts[key] = entry
      report[key] = {"status": regeneration_state.MADE}
    if keras:
      key = f"{VARIANT.hub_handle(module_type)}/keras"
      path = f"{key}/{VARIANT.hub_name}_{module_type}.keras"
      artifacts[key] = {
        "checkpoint": checkpoint,
        "format": "keras",
        "keras": dict(_write(root, path, file_bytes(key, "keras", salt)), path=path),
        "module_type": module_type,
        "variant": VARIANT.name,
      }
      report[key] = {"status": regeneration_state.MADE}
  manifest = {
    "artifacts": artifacts,
    "format": regeneration_report.MANIFEST_FORMAT,
    "format_version": regeneration_state.FORMAT_VERSION,
    "tensorflow_version": "2.21.0",
  }
  for name, value in (
    (regeneration_report.MANIFEST_NAME, manifest),
    (regeneration_report.RUN_REPORT_NAME, {"artifacts": report, "interrupted": False}),
  ):
    with open(os.path.join(root, name), "w") as f:
      json.dump(value, f, indent=2, sort_keys=True)
  return manifest
