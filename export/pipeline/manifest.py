"""The regeneration's manifest, `OUT/manifest.json`: its schema, and the one place that writes
and reads it (and the entries the stamps hold, export/pipeline/state.py).

  artifacts           key -> entry, for every complete artifact of the run's selection, keyed
                      `<handle>/<version>` (a module version) or `<handle>/keras` (a Keras file)
  environment         {python, tensorflow, zlib}: versions the bytes depend on
  format              "mobilenet_v2_hub_regeneration_manifest"
  format_version      FORMAT_VERSION
  tensorflow_version  the TensorFlow that made the artifacts
  tool                {name, version}: this project and its setup.cfg version

Every entry has
  checkpoint          {files, sha256}: the checkpoint's file names and the sha256 over the
                      .index then the data files
  handle, module_type, variant
  parameters          {with_batch_norm, without_batch_norm}
  parity              verification's figures (Parity)
A module version's entry (ModuleVersionEntry) also has
  version
  saved_model         {path, files: name -> {bytes, sha256}, fingerprint}
  card                {path, bytes, sha256, static_sha256}: static_sha256 is the card's digest
                      without its measured figures
  archive             {path, bytes, sha256, tar_sha256}: tar_sha256 is the uncompressed tar
                      stream's digest
  <format>            per format made from the SavedModel (`litert`, `onnx`, `tfjs`): type ->
                      {path, bytes, sha256, agreement[, companions]}, the agreement with the
                      SavedModel as the format's writer measured it; companions: the files that
                      come with it (ONNX's test vectors), path -> {bytes, sha256}; a directory (a
                      TF.js model) also has `files` (name -> {bytes, sha256}), and its sha256 is
                      `files.tree_sha256` over them. Any field not named above is such a format.
A file entry (FileEntry: a module's file made on its own, today the Keras 3 file) also has
  format              the format's name ("keras")
  <format>            {path, bytes, sha256}

`files()` is every file an entry records, `locked()` its part in the lock file
(export/pipeline/lock.py): only what must be reproducible, never a measured figure:
  checkpoint_sha256, parameters, and
  for a module version: archive_tar_sha256, card_sha256 (the static digest), fingerprint,
  saved_model_files (name -> sha256), and `<format>_sha256` (type -> sha256, and each
  companion's path beside the version -> sha256) per format made from the SavedModel;
  for a file entry: `<format>_sha256`.

So a new format adds no code here. Reading refuses a malformed manifest or entry with one line
naming the file and the field (ManifestError). The JSON is written with sorted keys and
two-space indents (export.base.files.to_json); docs/regeneration.md describes the fields.
Nothing here imports TensorFlow.
"""

import dataclasses
import os
import posixpath
from typing import Optional
from typing import Union

from export.base import files as files_lib
from export.pipeline import records

FILE_NAME = "manifest.json"
FORMAT = "mobilenet_v2_hub_regeneration_manifest"
FORMAT_VERSION = 1  # of the manifest, and of the lock entries `locked()` makes
COMPANIONS = "companions"  # a derived file's own files (DerivedFile)

ManifestError = records.RecordError
_record = dataclasses.dataclass(frozen=True, kw_only=True)
_text, _integer = records.Reader.text, records.Reader.integer


def locked_field(format_name: str) -> str:
  """The lock's field of a format's digests: `litert_sha256`, `keras_sha256`."""
  return f"{format_name}_sha256"


# --- files ---------------------------------------------------------------------------------
@_record
class Digest(records.Record):
  """A file's sha256 and size in bytes."""

  sha256: str = records.field(_text)
  size: int = records.field(_integer, "bytes")


@_record
class File(Digest):
  """A file, by its '/'-separated path relative to the output root."""

  path: str = records.field(records.Reader.relative_path)


@_record
class Card(File):
  static_sha256: str = records.field(_text)  # of the card without its measured figures


@_record
class Archive(File):
  tar_sha256: str = records.field(_text)  # of the uncompressed tar stream: zlib cannot change it


@_record
class DerivedFile(File):
  """A file of a format made from a module version's SavedModel (a LiteRT model), with its
  agreement with the SavedModel as the format's writer measured it (figures, threshold,
  whether it passed), and the files that come with it (`companions`: an ONNX model's test
  vectors), relative path under the output root -> Digest; in JSON only when there are some."""

  agreement: dict = records.field(records.Reader.object)
  companions: dict = dataclasses.field(default_factory=dict)

  def to_json(self) -> dict:
    value = super().to_json()
    if self.companions:
      value[COMPANIONS] = {path: digest.to_json() for path, digest in self.companions.items()}
    return value

  @classmethod
  def from_json(cls, reader: records.Reader) -> "DerivedFile":
    reader.only(cls.json_names() | {COMPANIONS})
    companions = {}
    if COMPANIONS in reader.value:
      companions = records.relative_keys(Digest)(reader, COMPANIONS)
    fields = cls.read_fields(reader)
    for path in companions:  # named after the file: `<path>.test_data/...`
      if not path.startswith(fields["path"]) or path == fields["path"]:
        reader.fail(
          f"expected a path that extends {fields['path']!r}, found {path!r}",
          reader.path + (COMPANIONS,),
        )
    return cls(companions=companions, **fields)


@_record
class DerivedDirectory(DerivedFile):
  """A directory of a format made from a module version's SavedModel (a TF.js model): its
  `sha256` is `files.tree_sha256` over its files, `bytes` their total, and `files` each one's
  digest by its name inside the directory."""

  files: dict = records.field(records.relative_keys(Digest))


def derived(**fields) -> DerivedFile:
  """A DerivedDirectory when `fields` list its files, else a DerivedFile."""
  return (DerivedDirectory if "files" in fields else DerivedFile)(**fields)


@_record
class SavedModel(records.Record):
  path: str = records.field(records.Reader.relative_path)  # of its directory
  files: dict = records.field(records.relative_keys(Digest))  # name inside it -> Digest
  # tf.saved_model.experimental.read_fingerprint's five hashes and singleprint
  fingerprint: dict = records.field(records.Reader.object)


# --- what every entry records --------------------------------------------------------------
@_record
class Checkpoint(records.Record):
  files: tuple = records.field(records.Reader.names)  # the .index, then the data files
  sha256: str = records.field(_text)  # over the .index, then the data files


@_record
class Parameters(records.Record):
  with_batch_norm: int = records.field(_integer)
  without_batch_norm: int = records.field(_integer)  # as TF-Slim's README counts


@_record
class Parity(records.Record):
  """Verification's figures against the checkpoint's TF-Slim graph (export/verification)."""

  checks: dict = records.field(records.Reader.strings)  # check name -> status
  evaluations: Optional[int] = records.field(records.Reader.optional_integer)
  max_abs_error: Optional[float] = records.field(records.Reader.optional_number)
  max_rel_error: Optional[float] = records.field(records.Reader.optional_number)
  # How many evaluations agree; None for feature vectors.
  top1_agree: Optional[int] = records.field(records.Reader.optional_integer)
  top5_agree: Optional[int] = records.field(records.Reader.optional_integer)
  variables_exactly_equal: Optional[int] = records.field(records.Reader.optional_integer)


@_record
class _Entry(records.Record):
  checkpoint: Checkpoint = records.field(records.nested(Checkpoint))
  handle: str = records.field(_text)
  module_type: str = records.field(_text)
  parameters: Parameters = records.field(records.nested(Parameters))
  parity: Parity = records.field(records.nested(Parity))
  variant: str = records.field(_text)  # the variant's name (nets/variants.py)

  def _common_locked(self) -> dict:
    return {"checkpoint_sha256": self.checkpoint.sha256, "parameters": self.parameters.to_json()}


@_record
class ModuleVersionEntry(_Entry):
  """A module version: its SavedModel, card and archive, and the files of the formats made
  from its SavedModel (`derived`: format name -> type -> DerivedFile)."""

  version: int = records.field(_integer)
  saved_model: SavedModel = records.field(records.nested(SavedModel))
  card: Card = records.field(records.nested(Card))
  archive: Archive = records.field(records.nested(Archive))
  derived: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    taken = sorted(set(self.derived) & self.json_names())
    if taken:
      raise ValueError(f"a derived format cannot be named {taken[0]!r}: another field is")

  def to_json(self) -> dict:
    entry = super().to_json()
    for format_name, by_type in self.derived.items():
      entry[format_name] = {kind: file.to_json() for kind, file in by_type.items()}
    return entry

  @classmethod
  def from_json(cls, reader: records.Reader) -> "ModuleVersionEntry":
    derived = {
      format_name: {
        kind: (DerivedDirectory if "files" in r.value else DerivedFile).from_json(r)
        for kind, r in reader.readers(format_name).items()
      }
      for format_name in sorted(set(reader.value) - cls.json_names())
    }
    return cls(derived=derived, **cls.read_fields(reader))

  def files(self) -> dict:
    """Relative path -> sha256 of every file the entry records."""
    recorded = {self.card.path: self.card.sha256, self.archive.path: self.archive.sha256}
    for name, digest in self.saved_model.files.items():
      recorded[f"{self.saved_model.path}/{name}"] = digest.sha256
    for by_type in self.derived.values():
      for file in by_type.values():
        if isinstance(file, DerivedDirectory):
          recorded.update({f"{file.path}/{name}": d.sha256 for name, d in file.files.items()})
        else:
          recorded[file.path] = file.sha256
        recorded.update({path: digest.sha256 for path, digest in file.companions.items()})
    return recorded

  def directories(self) -> dict:
    """Relative path -> the sorted names it must hold and nothing else: the SavedModel's, and
    each derived directory's (a TF.js model's)."""
    found = {self.saved_model.path: sorted(self.saved_model.files)}
    for by_type in self.derived.values():
      for file in by_type.values():
        if isinstance(file, DerivedDirectory):
          found[file.path] = sorted(file.files)
    return found

  def locked(self) -> dict:
    """The entry's part in the lock (see the module docstring)."""
    locked = self._common_locked()
    locked.update(
      {
        "archive_tar_sha256": self.archive.tar_sha256,
        "card_sha256": self.card.static_sha256,
        "fingerprint": self.saved_model.fingerprint,
        "saved_model_files": {name: d.sha256 for name, d in self.saved_model.files.items()},
      }
    )
    module_dir = posixpath.dirname(self.saved_model.path)
    for format_name, by_type in self.derived.items():
      digests = locked[locked_field(format_name)] = {}
      for kind, file in by_type.items():
        digests[kind] = file.sha256
        for path, digest in file.companions.items():  # beside the version: 5.onnx.test_data/...
          digests[posixpath.relpath(path, module_dir)] = digest.sha256
    return locked


@_record
class FileEntry(_Entry):
  """A module's file of one format made on its own from the checkpoint (the Keras 3 file),
  written under the format's name."""

  format: str = records.field(_text)
  file: File

  def to_json(self) -> dict:
    return dict(super().to_json(), **{self.format: self.file.to_json()})

  @classmethod
  def from_json(cls, reader: records.Reader) -> "FileEntry":
    format_name = reader.text("format")
    if format_name in cls.json_names():
      reader.fail(f"format {format_name!r} is the name of another field", reader.path + ("format",))
    reader.only(cls.json_names() | {format_name})
    return cls(file=File.from_json(reader.reader(format_name)), **cls.read_fields(reader))

  def files(self) -> dict:
    """Relative path -> sha256 of every file the entry records."""
    return {self.file.path: self.file.sha256}

  def directories(self) -> dict:
    return {}

  def locked(self) -> dict:
    """The entry's part in the lock (see the module docstring)."""
    return dict(self._common_locked(), **{locked_field(self.format): self.file.sha256})


Entry = Union[ModuleVersionEntry, FileEntry]


def entry_from_json(value, source: str, key: str) -> Entry:
  """The entry of artifact `key` in `source` (a manifest or a stamp); ManifestError if it is
  malformed."""
  reader = records.Reader(value, source, (key,))
  if "format" in reader.value:
    return FileEntry.from_json(reader)
  if "saved_model" in reader.value:
    return ModuleVersionEntry.from_json(reader)
  return reader.fail("expected a field 'saved_model' (a module version) or 'format', found neither")


# --- the manifest --------------------------------------------------------------------------
@_record
class Manifest(records.Record):
  artifacts: dict  # key -> Entry
  environment: dict = records.field(records.Reader.strings)  # python, tensorflow, zlib versions
  tensorflow_version: str = records.field(_text)
  tool: dict = records.field(records.Reader.strings)  # name, version

  def to_json(self) -> dict:
    return dict(
      super().to_json(),
      artifacts={key: entry.to_json() for key, entry in self.artifacts.items()},
      format=FORMAT,
      format_version=FORMAT_VERSION,
    )

  @classmethod
  def from_json(cls, value, source: str) -> "Manifest":
    """The manifest read from `source` (a path, for messages); ManifestError if malformed."""
    found = value.get("format") if isinstance(value, dict) else None
    if found != FORMAT:
      raise ManifestError(
        f"{source}: expected a {FORMAT} file, found "
        f"{'unreadable JSON' if value is None else repr(found)}"
      )
    if value.get("format_version") != FORMAT_VERSION:
      raise ManifestError(
        f"{source}: format version {value.get('format_version')!r}, this tool reads "
        f"{FORMAT_VERSION}"
      )
    reader = records.Reader(value, source)
    reader.only(cls.json_names() | {"artifacts", "format", "format_version"})
    artifacts = {
      key: entry_from_json(entry, source, key) for key, entry in reader.object("artifacts").items()
    }
    return cls(artifacts=artifacts, **cls.read_fields(reader))


def write(path: str, manifest: Manifest) -> None:
  files_lib.write_json(path, manifest.to_json())


def read(path: str) -> Manifest:
  """The manifest in `path`; ManifestError if it is missing, unreadable or malformed."""
  if not os.path.isfile(path):
    raise ManifestError(f"{path}: no manifest")
  return Manifest.from_json(files_lib.read_json(path), path)
