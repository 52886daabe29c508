"""The formats an export writes beside the SavedModel (LiteRT, ...), and the checks of what is
asked of them, made before TensorFlow is imported.

Each is a registry entry with `made_with="saved_model"`: the export binary's `--<flag>` and
`--<flag>_types` and the ExportOptions fields of the same names ask for it
(`Format.export_flag`). Its files are converted and checked before anything is placed, and
placed together with the SavedModel (export/formats/saved_model/exporter.py).
"""

import os

from export.base import errors
from export.base import versions
from export.core import options as options_lib
from export.formats import registry

FORMATS = tuple(fmt for fmt in registry.FORMATS if fmt.made_with == registry.PRIMARY.name)


def check_types(fmt, types) -> tuple:
  """`types` in the format's order; ValueError naming an unknown one."""
  return errors.check_subset(types, fmt.types, f"{fmt.export_flag} type")


def calibrated(options: options_lib.ExportOptions) -> bool:
  """Whether the export makes a model calibrated on images (LiteRT's int8 or uint8, ...)."""
  return any(set(fmt.calibrated_types) & set(fmt.requested_types(options)) for fmt in FORMATS)


def paths_beside(export_dir: str) -> list:
  """Every file and directory an export at `export_dir` may have beside it: each type of each
  format, with its companion (ONNX's test vectors)."""
  paths = []
  for fmt in FORMATS:
    for kind in fmt.types:
      path = fmt.path_beside(export_dir, kind)
      paths += [path, path + fmt.companion_suffix] if fmt.companion_suffix else [path]
  return paths


def check_request(options: options_lib.ExportOptions, flag_prefix: str = "") -> versions.Version:
  """The version to produce; ValueError (a usage error) for options that cannot work.

  `flag_prefix` ("--" from the binary) makes the messages name flags rather than fields.
  """
  version = options_lib.check_export(options)
  if not options.overwrite:  # what an earlier export left beside it belongs to that export
    export_dir = os.path.abspath(options.export_dir)
    for path in paths_beside(export_dir):
      if os.path.lexists(path):
        raise ValueError(
          f"{path}: an earlier export's file beside {export_dir} (pass {flag_prefix}overwrite "
          "to replace that export)"
        )
  for fmt in FORMATS:
    flag = fmt.export_flag
    types = check_types(fmt, getattr(options, f"{flag}_types"))
    if not getattr(options, flag) and types != fmt.types[:1]:
      raise ValueError(f"{flag_prefix}{flag}_types needs {flag_prefix}{flag}")
  if options.calibration_images is not None and not calibrated(options):
    needs = calibrated_types_text(flag_prefix)
    raise ValueError(f"{flag_prefix}calibration_images needs {needs}")
  return version


def calibrated_types_text(flag_prefix: str = "") -> str:
  """ "int8/uint8 in tflite_types or ...": what asks for a calibration, in a sentence."""
  return " or ".join(
    f"{'/'.join(fmt.calibrated_types)} in {flag_prefix}{fmt.export_flag}_types"
    for fmt in FORMATS
    if fmt.calibrated_types
  )
