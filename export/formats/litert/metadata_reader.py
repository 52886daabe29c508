"""A LiteRT file's TFLite Model Metadata read back, and held to the convention the project's
files follow (`metadata`), for everything that loads a `.tflite` (`loader`: classify, verify).

`read(model)` returns None for a bare file (no `TFLITE_METADATA` entry), else a `Described`:
the fields a client acts on, and the lines of the labels file the output names, read from the
packed zip. `contradictions(described, input_details, num_outputs)` lists, one line each,
what would make a client that follows the metadata feed or name the model wrongly:

- the input's NormalizationOptions, which must map pixels 0..255 to the [0, 1] the SavedModel
  takes (mean 0, std 255, one value or one per channel);
- its stats, which must be the input tensor's range ([0, 1], or [0, 255] for uint8);
- a uint8 input's quantization, which must turn the raw pixels a client feeds into that same
  normalized value (scale 1/255, zero point 0);
- the image's colour space (RGB), when stated;
- the labels file: packed in the file, with one line per output.

What is not stated is not checked: the metadata is a description for clients, and a field
left out contradicts nothing.
"""

import dataclasses
import io
import struct
from typing import Optional
import zipfile
import zlib

import numpy as np

from export.formats.litert import flatbuffers as fb
from export.formats.litert import metadata as metadata_lib


@dataclasses.dataclass(frozen=True)
class Described:
  """What a file's metadata says that classify and verify act on."""

  name: Optional[str]
  version: Optional[str]
  mean: tuple  # NormalizationOptions of the input; () when it has none
  std: tuple
  stats: Optional[tuple]  # (min, max) of the input, when stated
  color_space: Optional[str]  # of the input image, when stated
  labels_file: Optional[str]  # the output's TENSOR_AXIS_LABELS file
  labels: Optional[tuple]  # its lines; None when it is not packed in the file


def read(model: bytes) -> Optional[Described]:
  """The metadata of `model`, or None if it has none; ValueError (one line) if it is corrupt."""
  try:
    content = fb.metadata_content(model, metadata_lib.METADATA_NAME)
    if content is None:
      return None
    return _described(fb.TableReader.root(content), model)
  except (struct.error, IndexError, UnicodeDecodeError, ValueError) as error:
    raise ValueError(
      f"its {metadata_lib.METADATA_NAME} entry is not TFLite Model Metadata ({error})"
    ) from None


def _described(root: fb.TableReader, model: bytes) -> Described:
  subgraphs = root.tables("subgraph_metadata", "SubGraphMetadata")
  inputs = subgraphs[0].tables("input_tensor_metadata", "TensorMetadata") if subgraphs else ()
  outputs = subgraphs[0].tables("output_tensor_metadata", "TensorMetadata") if subgraphs else ()
  mean = std = ()
  stats = color_space = None
  if inputs:
    for unit in inputs[0].tables("process_units", "ProcessUnit"):
      if unit.byte("options_type") == fb.PROCESS_UNIT_NORMALIZATION:
        options = unit.table("options", "NormalizationOptions")
        mean, std = options.floats("mean"), options.floats("std")
    found = inputs[0].table("stats", "Stats")
    if found is not None and found.floats("min") and found.floats("max"):
      stats = (found.floats("min"), found.floats("max"))
    content = inputs[0].table("content", "Content")
    if content is not None and content.byte("content_properties_type") == fb.CONTENT_IMAGE:
      image = content.table("content_properties", "ImageProperties")
      value = image.byte("color_space")
      color_space = fb.COLOR_SPACES[value] if value < len(fb.COLOR_SPACES) else str(value)
  labels_file = None
  for associated in outputs[0].tables("associated_files", "AssociatedFile") if outputs else ():
    if associated.byte("type") == fb.TENSOR_AXIS_LABELS:
      labels_file = associated.string("name")
      break
  return Described(
    name=root.string("name"),
    version=root.string("version"),
    mean=mean,
    std=std,
    stats=stats,
    color_space=color_space,
    labels_file=labels_file,
    labels=_packed_lines(model, labels_file) if labels_file else None,
  )


def _packed_lines(model: bytes, name: str) -> Optional[tuple]:
  """The lines of the file `name` in the zip appended to the model; None if it is not there."""
  try:
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
      return tuple(archive.read(name).decode("utf-8").splitlines())
  except (zipfile.BadZipFile, KeyError, EOFError, NotImplementedError, zlib.error):
    return None  # no zip, no such member, or one that cannot be read: not packed as it must be


def _numbers(values) -> str:
  return "[" + ", ".join(f"{value:g}" for value in values) + "]"


def contradictions(described: Described, input_details: dict, num_outputs: int) -> list:
  """One line per field that contradicts the convention (see the module docstring)."""
  mean, std = metadata_lib.NORMALIZATION_MEAN, metadata_lib.NORMALIZATION_STD
  found = []
  if described.mean or described.std:
    if not (
      described.mean
      and described.std
      and all(value == mean for value in described.mean)
      and all(value == std for value in described.std)
    ):
      maps = ""
      if described.mean and described.std and described.std[0]:
        low, high = ((pixel - described.mean[0]) / described.std[0] for pixel in (0, 255))
        maps = f", which maps pixels 0..255 to [{low:g}, {high:g}]"
      found.append(
        f"input NormalizationOptions: expected mean [{mean:g}] and std [{std:g}] (pixels "
        f"0..255 to [0, 1], the SavedModel's input), found mean {_numbers(described.mean)} "
        f"and std {_numbers(described.std)}{maps}"
      )
  model_type = "uint8" if input_details["dtype"] == np.uint8 else "float32"
  expected_range = metadata_lib.input_range(model_type)
  if described.stats is not None:
    stated = tuple(values[0] for values in described.stats)
    if any(len(values) != 1 for values in described.stats) or stated != expected_range:
      found.append(
        f"input stats: expected min {expected_range[0]:g} and max {expected_range[1]:g} "
        f"(the {np.dtype(input_details['dtype']).name} input's range), found min "
        f"{_numbers(described.stats[0])} and max {_numbers(described.stats[1])}"
      )
  if model_type == "uint8":
    scale, zero_point = input_details["quantization"]
    want_scale, want_zero_point = metadata_lib.pixel_quantization()
    if not (np.float32(scale) == np.float32(want_scale) and zero_point == want_zero_point):
      found.append(
        f"uint8 input quantization: expected scale 1/{metadata_lib.NORMALIZATION_STD:g} and "
        f"zero point {want_zero_point:g} (raw pixels as the normalization states them), found "
        f"scale {scale:g} and zero point {zero_point}"
      )
  if described.color_space not in (None, "RGB"):
    found.append(f"input colour space: expected RGB, found {described.color_space}")
  if described.labels_file is not None:
    if described.labels is None:
      found.append(
        f"output labels file {described.labels_file}: expected packed in the file, found "
        f"no such file in it"
      )
    elif len(described.labels) != num_outputs:
      found.append(
        f"output labels file {described.labels_file}: expected {num_outputs} lines (one per "
        f"output), found {len(described.labels)}"
      )
  return found
