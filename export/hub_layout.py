"""Where the artifacts of one module version go, and a byte-reproducible archive of them.

Under an output root every module version gets three siblings, named after its TF Hub handle:

  <root>/google/imagenet/mobilenet_v2_075_96/classification/4/      the SavedModel
  <root>/google/imagenet/mobilenet_v2_075_96/classification/4.md    the model card
  <root>/google/imagenet/mobilenet_v2_075_96/classification/4.tar.gz the SavedModel archive

The archive holds the SavedModel directory's contents with paths relative to it (as TF Hub's
compressed modules do) and depends only on the files' paths and bytes, so regenerating a module
from the same checkpoint gives the same archive, byte for byte.
"""

import dataclasses
import gzip
import os
import tarfile
import tempfile

from export import versions
from nets import variants as variants_lib

# The classifier's labels, shipped in the package and as an asset of every classifier export.
LABELS_FILE_NAME = "ImageNetLabels.txt"
LABELS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets",
                           LABELS_FILE_NAME)

ARCHIVE_SUFFIX = ".tar.gz"
CARD_SUFFIX = ".md"

_DIR_MODE = 0o755
_FILE_MODE = 0o644
_COMPRESS_LEVEL = 9


@dataclasses.dataclass(frozen=True)
class ArtifactPaths:
  """The paths of one module version under an output root."""
  handle: str  # google/imagenet/mobilenet_v2_075_96/classification
  version: int
  saved_model_dir: str
  card_path: str
  archive_path: str


def relative_stem(variant: variants_lib.Variant, module_type: str, version: int) -> str:
  """`<handle>/<version>`, '/'-separated: the layout's paths relative to the root, minus suffix."""
  return f"{variant.hub_handle(module_type)}/{versions.get(version).number}"


def relative_archive_path(variant: variants_lib.Variant, module_type: str, version: int) -> str:
  """The archive's path relative to the output root (the model card's asset-path)."""
  return relative_stem(variant, module_type, version) + ARCHIVE_SUFFIX


def artifact_paths(root: str, variant: variants_lib.Variant, module_type: str,
                   version: int) -> ArtifactPaths:
  """The SavedModel directory, card and archive paths of a module version under `root`."""
  stem = os.path.join(os.fspath(root), *relative_stem(variant, module_type, version).split("/"))
  return ArtifactPaths(
      handle=variant.hub_handle(module_type),
      version=version,
      saved_model_dir=stem,
      card_path=stem + CARD_SUFFIX,
      archive_path=stem + ARCHIVE_SUFFIX)


def _tree_entries(source_dir: str) -> list:
  """(archive name, absolute path, is_dir) for everything below `source_dir`, sorted by name."""
  entries = []
  for dirpath, dirnames, filenames in os.walk(source_dir):
    for name in dirnames + filenames:
      path = os.path.join(dirpath, name)
      if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path)):
        # A link or special file would make the archive depend on more than paths and bytes.
        raise ValueError(f"cannot archive {path!r}: only regular files and directories")
      relative = os.path.relpath(path, source_dir).replace(os.sep, "/")
      entries.append((relative, path, os.path.isdir(path)))
  entries.sort()
  return entries


def _normalized_info(name: str, is_dir: bool, size: int) -> tarfile.TarInfo:
  """A member header that carries nothing of the file system but the name, kind and size."""
  info = tarfile.TarInfo(name)
  info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
  info.mode = _DIR_MODE if is_dir else _FILE_MODE
  info.size = 0 if is_dir else size
  info.mtime = 0
  info.uid = info.gid = 0
  info.uname = info.gname = ""
  return info


def _write_tar_gz(entries: list, fileobj) -> None:
  # No file name and mtime 0 in the gzip header: those would otherwise vary between runs.
  with gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0,
                     compresslevel=_COMPRESS_LEVEL) as gz:
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
      for name, path, is_dir in entries:
        if is_dir:
          tar.addfile(_normalized_info(name, True, 0))
          continue
        with open(path, "rb") as data:
          size = os.fstat(data.fileno()).st_size
          tar.addfile(_normalized_info(name, False, size), data)


def write_reproducible_archive(source_dir: str, archive_path: str) -> str:
  """Archives the contents of `source_dir` as a deterministic .tar.gz at `archive_path`.

  Members are named relative to `source_dir` (no leading "./"), sorted, with mtime 0, owner
  0:0 without names, and modes 0o755 (directories) / 0o644 (files); the gzip header has no
  file name and mtime 0. The same tree therefore always yields the same bytes (with the same
  zlib). The archive is written beside its final path and moved into place, so readers never
  see a partial one. Returns `archive_path`.
  """
  source_dir = os.path.abspath(os.fspath(source_dir))
  archive_path = os.path.abspath(os.fspath(archive_path))
  if not os.path.isdir(source_dir):
    raise ValueError(f"not a directory: {source_dir!r}")
  if os.path.commonpath([source_dir, archive_path]) == source_dir:
    raise ValueError(f"the archive {archive_path!r} must not be inside {source_dir!r}")
  entries = _tree_entries(source_dir)
  parent = os.path.dirname(archive_path)
  os.makedirs(parent, exist_ok=True)
  fd, temp_path = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(archive_path)}.",
                                   suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as raw:
      _write_tar_gz(entries, raw)
      raw.flush()
      os.fsync(raw.fileno())
    os.chmod(temp_path, _FILE_MODE)  # mkstemp creates 0o600
    os.replace(temp_path, archive_path)
  except BaseException:
    if os.path.exists(temp_path):
      os.remove(temp_path)
    raise
  return archive_path
