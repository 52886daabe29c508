"""Typed JSON records: frozen dataclasses written as JSON objects and read back with every
error naming the file and the field (the manifest's, export/pipeline/manifest.py).

A `Record`'s fields say how each is read, and under which JSON name:

  size: int = records.field(records.Reader.integer, "bytes")
  checkpoint: Checkpoint = records.field(records.nested(Checkpoint))

`to_json()` writes each such field (records inside as objects, tuples as lists); fields made
without `field` are the subclass's to write and read. `from_json(reader)` refuses a missing,
mistyped or unexpected field in one line: `hub/manifest.json: <key>: card.path: expected a
string, found 3`.
"""

import dataclasses
import posixpath
from typing import Callable
from typing import Optional

from export.base import errors


class RecordError(errors.Failure):
  """A JSON file that cannot be read as its records; one line naming the file and the field."""


def field_name(path: tuple) -> str:
  """A field's path as messages spell it: `card.path`, `saved_model.files[saved_model.pb]`."""
  name = path[0]
  for part in path[1:]:
    name += f"[{part}]" if ("/" in part or "." in part) else f".{part}"
  return name


def _kind(value) -> str:
  if isinstance(value, (dict, list)):
    return "an object" if isinstance(value, dict) else "a list"
  return repr(value)


def _is_integer(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


class Reader:
  """A JSON object read from `source`, at `path` inside it (its first part is the top-level
  key, such as an artifact's)."""

  def __init__(self, value, source: str, path: tuple = ()):
    self.source, self.path, self.value = source, path, value
    if not isinstance(value, dict):
      self.fail(f"expected an object, found {_kind(value)}")

  def fail(self, problem: str, path: Optional[tuple] = None):
    path = self.path if path is None else path
    where = [field_name(path[1:])] if len(path) > 1 else []
    raise RecordError(": ".join([self.source, *path[:1], *where, problem]))

  def get(self, name: str, expected: str, accepts: Callable):
    if name not in self.value:
      self.fail(f"expected a field {name!r}, found none")
    value = self.value[name]
    if not accepts(value):
      self.fail(f"expected {expected}, found {_kind(value)}", self.path + (name,))
    return value

  def reader(self, name: str) -> "Reader":
    return Reader(self.object(name), self.source, self.path + (name,))

  def readers(self, name: str) -> dict:
    """Key -> Reader of each object inside the object `name`."""
    inner = self.reader(name)
    return {key: inner.reader(key) for key in inner.value}

  def only(self, names) -> None:
    extra = sorted(set(self.value) - set(names))
    if extra:
      self.fail(f"unexpected field {extra[0]!r}")

  def check_relative(self, path: str, where: tuple) -> None:
    """A '/'-separated path that stays inside the directory it is relative to."""
    normal = posixpath.normpath(path) if path else ""
    if not normal or normal.startswith(("/", "../")) or normal == "..":
      self.fail(f"expected a relative path inside the output directory, found {path!r}", where)

  # What a field may hold.
  def text(self, name: str) -> str:
    return self.get(name, "a string", lambda v: isinstance(v, str))

  def integer(self, name: str) -> int:
    return self.get(name, "an integer", _is_integer)

  def optional_integer(self, name: str) -> Optional[int]:
    return self.get(name, "an integer or null", lambda v: v is None or _is_integer(v))

  def optional_number(self, name: str) -> Optional[float]:
    return self.get(
      name, "a number or null", lambda v: v is None or _is_integer(v) or isinstance(v, float)
    )

  def object(self, name: str) -> dict:
    return self.get(name, "an object", lambda v: isinstance(v, dict))

  def strings(self, name: str) -> dict:
    return self.get(
      name,
      "an object of strings",
      lambda v: isinstance(v, dict) and all(isinstance(s, str) for s in v.values()),
    )

  def names(self, name: str) -> tuple:
    value = self.get(
      name, "a list of names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v)
    )
    return tuple(value)

  def relative_path(self, name: str) -> str:
    path = self.text(name)
    self.check_relative(path, self.path + (name,))
    return path


def nested(record_type) -> Callable:
  """Reads a field that holds one `record_type`."""
  return lambda reader, name: record_type.from_json(reader.reader(name))


def relative_keys(record_type) -> Callable:
  """Reads a field that maps relative paths to `record_type`s (a directory's files)."""

  def read(reader: Reader, name: str) -> dict:
    found = {}
    for key, inner in reader.readers(name).items():
      reader.check_relative(key, inner.path)
      found[key] = record_type.from_json(inner)
    return found

  return read


def field(read: Callable, json_name: Optional[str] = None, **options) -> dataclasses.Field:
  """A Record field read by `read(reader, json_name)`, written under `json_name` (its own
  name unless given)."""
  return dataclasses.field(metadata={"read": read, "json_name": json_name}, **options)


def _to_json(value):
  if isinstance(value, Record):
    return value.to_json()
  if isinstance(value, dict):
    return {key: _to_json(item) for key, item in value.items()}
  if isinstance(value, tuple):
    return [_to_json(item) for item in value]
  return value


class Record:
  """A frozen dataclass whose fields made with `field` are written and read generically."""

  @classmethod
  def _json_fields(cls) -> list:
    """(attribute, JSON name, read) of each field made with `field`."""
    return [
      (f.name, f.metadata["json_name"] or f.name, f.metadata["read"])
      for f in dataclasses.fields(cls)
      if "read" in f.metadata
    ]

  @classmethod
  def json_names(cls) -> set:
    return {json_name for _, json_name, _ in cls._json_fields()}

  def to_json(self) -> dict:
    return {name: _to_json(getattr(self, attribute)) for attribute, name, _ in self._json_fields()}

  @classmethod
  def read_fields(cls, reader: Reader) -> dict:
    """Attribute -> value of each field made with `field`."""
    return {attribute: read(reader, name) for attribute, name, read in cls._json_fields()}

  @classmethod
  def from_json(cls, reader: Reader):
    reader.only(cls.json_names())
    return cls(**cls.read_fields(reader))
