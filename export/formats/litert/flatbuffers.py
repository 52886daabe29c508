"""The bytes of TFLite Model Metadata: a small table writer and reader, splicing into a model,
the zip.

Written against the public schemas by field id, with `flatbuffers` (the pinned runtime that
TensorFlow also uses) and nothing generated: `tensorflow/lite/schema/schema.fbs` for the model
(`Model`, `Buffer`, `Metadata`) and `metadata_schema.fbs` (file identifier "M001", schema
1.5.0) for the metadata, whose tables are listed in METADATA_TABLES with their fields in id
order. A union field takes two ids: its type, then its value.

Three steps, each a pure function of its inputs:
- `serialize(table)`: a metadata flatbuffer of nested `Table`s.
- `with_metadata_buffer(model, name, content)`: the model with one more buffer holding
  `content` and one more metadata entry `name` pointing at it. The model's own bytes are kept
  verbatim: the result is a new 8-byte header, a new root `Model` table (and the new vectors
  and buffer) that refer to the old tables, then the old file itself, starting at a multiple
  of 16 bytes so that every alignment inside it holds. Flatbuffer offsets are relative and
  point forward, so the old tables need no change; the old root table and its header stay in
  the file unreferenced. Subgraphs, operators, tensors and weights are the same bytes.
- `append_zip(data, files)`: the files as an uncompressed zip appended to the model, with
  offsets counted from the start of the file (the whole file is a valid zip), at the fixed
  date 1980-01-01 and Unix attributes, so that the same files give the same bytes.

And back: `metadata_content(model, name)` finds an entry's buffer, `TableReader` reads the
metadata tables by the same field names (`export/formats/litert/metadata_reader.py`).
"""

import dataclasses
import io
import struct
from typing import Optional
import zipfile

import flatbuffers

MODEL_IDENTIFIER = b"TFL3"
METADATA_IDENTIFIER = b"M001"
MODEL_ALIGNMENT = 16  # the largest alignment schema.fbs asks for (`Buffer.data`)
# Field ids of schema.fbs's `Model` table, in id order.
MODEL_FIELDS = (
  "version",
  "operator_codes",
  "subgraphs",
  "description",
  "buffers",
  "metadata_buffer",
  "metadata",
  "signature_defs",
)
_BUFFER_OFFSET_FIELD = 1  # `Buffer.offset`: data outside the flatbuffer, at a file position
METADATA_TABLES = {
  "ModelMetadata": (
    "name",
    "description",
    "version",
    "subgraph_metadata",
    "author",
    "license",
    "associated_files",
    "min_parser_version",
  ),
  "SubGraphMetadata": (
    "name",
    "description",
    "input_tensor_metadata",
    "output_tensor_metadata",
    "associated_files",
  ),
  "TensorMetadata": (
    "name",
    "description",
    "dimension_names",
    "content",
    "process_units",
    "stats",
    "associated_files",
  ),
  "Content": ("content_properties_type", "content_properties", "range"),
  "FeatureProperties": (),
  "ImageProperties": ("color_space", "default_size"),
  "ProcessUnit": ("options_type", "options"),
  "NormalizationOptions": ("mean", "std"),
  "Stats": ("max", "min"),
  "AssociatedFile": ("name", "description", "type", "locale", "version"),
}
# Enum and union values of metadata_schema.fbs that the writer uses.
CONTENT_FEATURE, CONTENT_IMAGE = 1, 2  # ContentProperties
PROCESS_UNIT_NORMALIZATION = 1  # ProcessUnitOptions
COLOR_SPACES = ("UNKNOWN", "RGB", "GRAYSCALE")  # ColorSpaceType, by value
COLOR_SPACE_RGB = COLOR_SPACES.index("RGB")
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: no build time leaks in
_ZIP_UNIX = 3


class Byte(int):
  """A one-byte field: an enum value or a union's type."""


class Floats(tuple):
  """A `[float]` field."""


@dataclasses.dataclass(frozen=True)
class Table:
  """One metadata table: `kind` names it in METADATA_TABLES, `fields` {name: value}; a value
  is a str, Byte, Floats, Table or a tuple of Tables."""

  kind: str
  fields: dict

  def __post_init__(self):
    unknown = set(self.fields) - set(METADATA_TABLES[self.kind])
    if unknown:
      raise ValueError(f"{self.kind} has no field {', '.join(sorted(unknown))}")


def table(kind: str, **fields) -> Table:
  """A Table of the fields given and not None."""
  return Table(kind, {name: value for name, value in fields.items() if value is not None})


def serialize(root: Table) -> bytes:
  """The metadata flatbuffer of `root` (a ModelMetadata), with its file identifier."""
  builder = flatbuffers.Builder(1024)
  builder.Finish(_write(builder, root), file_identifier=METADATA_IDENTIFIER)
  return bytes(builder.Output())


def _write(builder: flatbuffers.Builder, value: Table) -> int:
  slots = {METADATA_TABLES[value.kind].index(name): field for name, field in value.fields.items()}
  offsets = {}
  for slot, field in sorted(slots.items()):  # children first: a table refers forward
    if isinstance(field, str):
      offsets[slot] = builder.CreateString(field)
    elif isinstance(field, Floats):
      builder.StartVector(4, len(field), 4)
      for number in reversed(field):
        builder.PrependFloat32(number)
      offsets[slot] = builder.EndVector()
    elif isinstance(field, Table):
      offsets[slot] = _write(builder, field)
    elif isinstance(field, tuple):
      offsets[slot] = _vector(builder, [_write(builder, item) for item in field])
  builder.StartObject(len(METADATA_TABLES[value.kind]))
  for slot, field in sorted(slots.items()):
    if isinstance(field, Byte):
      builder.PrependUint8Slot(slot, field, 0)
    else:
      builder.PrependUOffsetTRelativeSlot(slot, offsets[slot], 0)
  return builder.EndObject()


def _vector(builder: flatbuffers.Builder, offsets: list) -> int:
  """A vector of the objects at `offsets` (builder offsets), in that order."""
  builder.StartVector(4, len(offsets), 4)
  for offset in reversed(offsets):
    builder.PrependUOffsetTRelative(offset)
  return builder.EndVector()


def _prepend_raw(builder: flatbuffers.Builder, data: bytes) -> None:
  """Places `data` as it is in front of what the builder holds (the builder writes back to
  front). `Prep` with alignment 1 only makes room; `head` and `Bytes` are the builder's own
  fields, as its `CreateByteVector` uses them (flatbuffers is pinned)."""
  builder.Prep(1, len(data))
  builder.head -= len(data)
  builder.Bytes[builder.head : builder.head + len(data)] = data


# --- reading the model ---------------------------------------------------------------------
def _u32(data: bytes, position: int) -> int:
  return struct.unpack_from("<I", data, position)[0]


def _target(data: bytes, position: int) -> int:
  """Where the offset stored at `position` points."""
  return position + _u32(data, position)


def _table_fields(data: bytes, table_position: int) -> dict:
  """{field id: position of its value} of the fields present in the table."""
  vtable = table_position - struct.unpack_from("<i", data, table_position)[0]
  vtable_size = struct.unpack_from("<H", data, vtable)[0]
  fields = {}
  for field_id in range((vtable_size - 4) // 2):
    offset = struct.unpack_from("<H", data, vtable + 4 + 2 * field_id)[0]
    if offset:
      fields[field_id] = table_position + offset
  return fields


def _vector_items(data: bytes, vector_position: int) -> list:
  """Positions of the tables a vector of offsets refers to."""
  count = _u32(data, vector_position)
  return [_target(data, vector_position + 4 + 4 * index) for index in range(count)]


def _string(data: bytes, position: int) -> bytes:
  return data[position + 4 : position + 4 + _u32(data, position)]


def _metadata_entries(model: bytes) -> list:
  """[(name as stored, buffer index)] of the model's metadata entries, in order."""
  fields = _table_fields(model, _u32(model, 0))
  metadata = MODEL_FIELDS.index("metadata")
  if metadata not in fields:
    return []
  entries = []
  for entry in _vector_items(model, _target(model, fields[metadata])):
    entry_fields = _table_fields(model, entry)  # name, buffer (absent when it is 0)
    buffer = _u32(model, entry_fields[1]) if 1 in entry_fields else 0
    entries.append((_string(model, _target(model, entry_fields[0])), buffer))
  return entries


def metadata_names(model: bytes) -> list:
  """The names of the model's metadata entries, in order (bytes, as stored)."""
  return [name for name, _ in _metadata_entries(model)]


def metadata_content(model: bytes, name: str) -> Optional[bytes]:
  """The bytes of the buffer that the model's metadata entry `name` points at; None if the
  model has no such entry. ValueError for a file that is not a TFLite flatbuffer; a corrupt
  one raises ValueError, IndexError or struct.error."""
  if len(model) < 8 or model[4:8] != MODEL_IDENTIFIER:
    raise ValueError(f"not a TFLite model: no file identifier {MODEL_IDENTIFIER.decode()}")
  found = [buffer for entry, buffer in _metadata_entries(model) if entry == name.encode()]
  if not found:
    return None
  fields = _table_fields(model, _u32(model, 0))
  buffers = _vector_items(model, _target(model, fields[MODEL_FIELDS.index("buffers")]))
  buffer = _table_fields(model, buffers[found[0]])
  if _BUFFER_OFFSET_FIELD in buffer:  # outside the flatbuffer: offset and size, uint64 each
    start, size = (struct.unpack_from("<Q", model, buffer[field])[0] for field in (1, 2))
    content = model[start : start + size]
  elif 0 in buffer:
    vector = _target(model, buffer[0])
    content = model[vector + 4 : vector + 4 + _u32(model, vector)]
  else:
    content = b""
  return bytes(content)


@dataclasses.dataclass(frozen=True)
class TableReader:
  """One metadata table read back by field name (METADATA_TABLES), the way `serialize` wrote
  it; a field that is absent reads as None, 0 or ()."""

  data: bytes
  kind: str
  position: int

  @classmethod
  def root(cls, data: bytes, kind: str = "ModelMetadata") -> "TableReader":
    """The root table of a metadata flatbuffer; ValueError without its file identifier."""
    if len(data) < 8 or data[4:8] != METADATA_IDENTIFIER:
      raise ValueError(f"no file identifier {METADATA_IDENTIFIER.decode()}")
    return cls(data, kind, _u32(data, 0))

  def _field(self, name: str) -> Optional[int]:
    return _table_fields(self.data, self.position).get(METADATA_TABLES[self.kind].index(name))

  def string(self, name: str) -> Optional[str]:
    position = self._field(name)
    return None if position is None else _string(self.data, _target(self.data, position)).decode()

  def byte(self, name: str) -> int:
    position = self._field(name)
    return 0 if position is None else self.data[position]

  def floats(self, name: str) -> tuple:
    position = self._field(name)
    if position is None:
      return ()
    vector = _target(self.data, position)
    return struct.unpack_from(f"<{_u32(self.data, vector)}f", self.data, vector + 4)

  def table(self, name: str, kind: str) -> Optional["TableReader"]:
    position = self._field(name)
    return None if position is None else TableReader(self.data, kind, _target(self.data, position))

  def tables(self, name: str, kind: str) -> tuple:
    position = self._field(name)
    if position is None:
      return ()
    items = _vector_items(self.data, _target(self.data, position))
    return tuple(TableReader(self.data, kind, item) for item in items)


# --- writing the model ---------------------------------------------------------------------
def with_metadata_buffer(model: bytes, name: str, content: bytes) -> bytes:
  """`model` plus a buffer holding `content` and a metadata entry `name` that points at it,
  with the model's own bytes kept verbatim (see the module docstring). ValueError for a file
  that is not a TFLite flatbuffer, has fields this writer does not know, keeps weights
  outside the flatbuffer, or has an entry `name` already."""
  if len(model) < 8 or model[4:8] != MODEL_IDENTIFIER:
    raise ValueError(f"not a TFLite model: no file identifier {MODEL_IDENTIFIER.decode()}")
  root = _u32(model, 0)
  fields = _table_fields(model, root)
  unknown = sorted(set(fields) - set(range(len(MODEL_FIELDS))))
  if unknown:
    raise ValueError(f"the model has Model fields {unknown} that this writer does not know")
  buffers_field, metadata_field = MODEL_FIELDS.index("buffers"), MODEL_FIELDS.index("metadata")
  buffers = []
  if buffers_field in fields:
    buffers = _vector_items(model, _target(model, fields[buffers_field]))
  if any(_BUFFER_OFFSET_FIELD in _table_fields(model, buffer) for buffer in buffers):
    raise ValueError("the model keeps buffers outside its flatbuffer; they cannot be moved")
  entries = []
  if metadata_field in fields:
    entries = _vector_items(model, _target(model, fields[metadata_field]))
  if name.encode() in metadata_names(model):
    raise ValueError(f"the model has a metadata entry {name!r} already")

  builder = flatbuffers.Builder(len(model) + len(content) + 1024)
  builder.Prep(MODEL_ALIGNMENT, 0)  # the file's length becomes a multiple of 16 when finished
  builder.Pad(-len(model) % MODEL_ALIGNMENT)  # so the old file starts at a multiple of 16
  _prepend_raw(builder, model)
  end = builder.Offset()  # a position p of the old file is the builder offset `end - p`

  builder.StartVector(1, len(content), MODEL_ALIGNMENT)
  _prepend_raw(builder, content)
  data = builder.EndVector()
  builder.StartObject(1)
  builder.PrependUOffsetTRelativeSlot(0, data, 0)
  new_buffer = builder.EndObject()
  entry_name = builder.CreateString(name)
  builder.StartObject(2)
  builder.PrependUOffsetTRelativeSlot(0, entry_name, 0)
  builder.PrependUint32Slot(1, len(buffers), 0)
  new_entry = builder.EndObject()
  vectors = {
    metadata_field: _vector(builder, [end - entry for entry in entries] + [new_entry]),
    buffers_field: _vector(builder, [end - buffer for buffer in buffers] + [new_buffer]),
  }
  builder.StartObject(len(MODEL_FIELDS))
  for field_id in range(len(MODEL_FIELDS)):
    if field_id == MODEL_FIELDS.index("version"):
      if field_id in fields:
        builder.PrependUint32Slot(field_id, _u32(model, fields[field_id]), 0)
    elif field_id in vectors:
      builder.PrependUOffsetTRelativeSlot(field_id, vectors[field_id], 0)
    elif field_id in fields:
      builder.PrependUOffsetTRelativeSlot(field_id, end - _target(model, fields[field_id]), 0)
  builder.Finish(builder.EndObject(), file_identifier=MODEL_IDENTIFIER)
  return bytes(builder.Output())


def append_zip(data: bytes, files: dict) -> bytes:
  """`data` followed by a zip of `files` {name: bytes}, stored uncompressed, in name order."""
  stream = io.BytesIO()
  stream.write(data)
  # "w" at the end of the data: offsets count from the file start. ("a" would first look for
  # a zip in the data, and could take the model's last bytes for an empty one.)
  with zipfile.ZipFile(stream, "w") as archive:
    for name in sorted(files):
      info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
      info.compress_type = zipfile.ZIP_STORED
      info.create_system = _ZIP_UNIX
      info.external_attr = 0o644 << 16
      archive.writestr(info, files[name])
  return stream.getvalue()
