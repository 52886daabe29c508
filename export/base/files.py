"""Files the project writes: placed atomically, readable by others, identified by sha256.

Everything the project publishes is written under a staging name beside its target and
renamed into place, so a reader sees the old version or the new one, whole, and an
interrupted write leaves nothing under the final name. Interrupts are held back while a
staged output is placed or removed, and nothing is placed after one (`errors.signals_held`).
Staged files and directories get the permissions `open` and `mkdir` would give them under the
process's umask (0644 and 0755 under umask 022): the temporary-file functions create 0600 and
0700, which would lock out a serving container running as another user.
"""

import contextlib
import errno
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from typing import Iterable
from typing import Iterator
from typing import Optional
from typing import Union

from export.base import errors

_BLOCK = 1 << 20


# --- permissions -------------------------------------------------------------------------
def umask() -> int:
  """The process's umask, read without changing it where the system allows."""
  try:
    with open("/proc/self/status") as status:
      for line in status:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except OSError:
    pass
  current = os.umask(0o022)  # elsewhere, the only way to read it is to set it
  os.umask(current)
  return current


def file_mode() -> int:
  """What `open(path, "w")` gives a new file: 0o644 under umask 022."""
  return 0o666 & ~umask()


def directory_mode() -> int:
  """What `mkdir` gives a new directory: 0o755 under umask 022."""
  return 0o777 & ~umask()


# --- digests ------------------------------------------------------------------------------
def sha256(paths: Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]) -> str:
  """Hex sha256 of a file's bytes, or of several files' bytes one after the other."""
  if isinstance(paths, (str, os.PathLike)):
    paths = [paths]
  digest = hashlib.sha256()
  for path in paths:
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(_BLOCK), b""):
        digest.update(block)
  return digest.hexdigest()


def tree_sha256(tree: Union[str, os.PathLike, dict]) -> str:
  """A directory's digest: sha256 over each file's '/'-separated relative name and sha256, in
  name order. `tree` is a directory, or {relative name: bytes} of the files it will hold."""
  if not isinstance(tree, dict):
    names = tree_files(tree)
    digests = {name: bytes.fromhex(sha256(os.path.join(tree, *name.split("/")))) for name in names}
  else:
    digests = {name: hashlib.sha256(data).digest() for name, data in tree.items()}
  digest = hashlib.sha256()
  for name in sorted(digests):
    digest.update(name.encode() + b"\0" + digests[name])
  return digest.hexdigest()


# --- files --------------------------------------------------------------------------------
@contextlib.contextmanager
def staged_file(path: Union[str, os.PathLike]) -> Iterator[str]:
  """Yields a temporary path beside `path` to write; a normal exit moves it into place.

  The staging file is made first, so an unwritable place fails (UnwritableError naming
  `path`) before any work. On an exception the staged file, and the parent directories this
  call created, are removed, and `path` is left as it was.
  """
  path = os.path.abspath(os.fspath(path))
  directory, name = os.path.split(path)
  created = make_directories(directory, needed_for=path)
  try:
    try:
      handle, staging = tempfile.mkstemp(prefix=f".{name}.", suffix=".staging", dir=directory)
    except OSError as error:
      raise UnwritableError(f"{path}: cannot write in {directory} ({error.strerror})") from None
    os.close(handle)
    try:
      yield staging
      place_together([(staging, path)])
    finally:
      with errors.signals_held():
        if os.path.exists(staging):
          os.remove(staging)
  except BaseException:
    remove_empty_directories(created)
    raise


def write_file(path: Union[str, os.PathLike], content: Union[bytes, str]) -> None:
  """Writes `content` (text as UTF-8) to `path` atomically."""
  data = content.encode("utf-8") if isinstance(content, str) else content
  with staged_file(path) as staging:
    with open(staging, "wb") as f:
      f.write(data)


def place_file(staged: str, path: str) -> None:
  """Moves a finished file into place with the umask's mode (same file system)."""
  os.chmod(staged, file_mode())
  os.replace(staged, path)


def to_json(value) -> str:
  """Stable JSON text: sorted keys, two-space indents, a final newline, no NaN."""
  return json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: Union[str, os.PathLike], value) -> None:
  write_file(path, to_json(value))


def read_json(path: Union[str, os.PathLike]) -> Optional[dict]:
  """The JSON object in `path`, or None when it is missing, unreadable or not an object."""
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, ValueError):
    return None
  return value if isinstance(value, dict) else None


# --- directories --------------------------------------------------------------------------
class UnwritableError(errors.Failure):
  """A target whose directory cannot be created or written; the message is one line."""


def make_directories(path: Union[str, os.PathLike], needed_for: Optional[str] = None) -> list:
  """Creates `path` and its missing parents; returns those created, deepest first.

  UnwritableError names `needed_for` (default `path`) and why (a file in the way, a read-only
  file system, ...).
  """
  path = os.path.abspath(os.fspath(path))
  needed_for = needed_for or path
  created, missing = [], path
  while not os.path.exists(missing):
    created.append(missing)
    missing = os.path.dirname(missing)
  if not os.path.isdir(missing):
    raise UnwritableError(f"{needed_for}: cannot create it, {missing} is not a directory")
  try:
    for directory in reversed(created):
      os.mkdir(directory)
  except OSError as error:
    remove_empty_directories(created)
    raise UnwritableError(f"{needed_for}: cannot create {directory} ({error.strerror})") from None
  return created


def check_writable(target: Union[str, os.PathLike]) -> None:
  """UnwritableError (worded as `make_directories` and `scratch_directory` word it) unless
  `target` could be created: its nearest existing ancestor is a directory this process may
  write in, on a writable file system. Creates nothing, so binaries can ask at once, before
  importing TensorFlow; the export still claims the place itself."""
  target = os.path.abspath(os.fspath(target))
  parent = os.path.dirname(target)
  missing, existing = None, parent
  while not os.path.exists(existing):
    missing, existing = existing, os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise UnwritableError(f"{target}: cannot create it, {existing} is not a directory")
  if os.statvfs(existing).f_flag & os.ST_RDONLY:
    reason = errno.EROFS
  elif not os.access(existing, os.W_OK | os.X_OK):
    reason = errno.EACCES
  else:
    return
  where = f"create {missing}" if missing else f"write in {parent}"
  raise UnwritableError(f"{target}: cannot {where} ({os.strerror(reason)})")


def remove_empty_directories(paths: Iterable[str]) -> None:
  """Removes each directory that is still empty (for undoing `make_directories`)."""
  for path in paths:
    try:
      os.rmdir(path)
    except OSError:
      pass


@contextlib.contextmanager
def scratch_directory(
  parent: Union[str, os.PathLike], name: str, needed_for: Optional[str] = None
) -> Iterator[str]:
  """Yields a new temporary directory inside `parent`, removed with its contents afterwards.

  Inside `parent`, so that moving finished files out of it is an atomic rename on one file
  system. `parent` and its missing ancestors are created first: an unwritable place fails
  (UnwritableError naming it) before any work. If the block raises, the ancestors created
  here are removed again.
  """
  parent = os.path.abspath(os.fspath(parent))
  needed_for = needed_for or parent
  created = make_directories(parent, needed_for)
  try:
    try:
      scratch = tempfile.mkdtemp(prefix=f".{name}.", suffix=".staging", dir=parent)
    except OSError as error:
      raise UnwritableError(f"{needed_for}: cannot write in {parent} ({error.strerror})") from None
    try:
      yield scratch
    finally:
      with errors.signals_held():  # a second Ctrl-C must not leave half of it
        shutil.rmtree(scratch, ignore_errors=True)
  except BaseException:
    remove_empty_directories(created)
    raise


@contextlib.contextmanager
def staged_directory(target: Union[str, os.PathLike]) -> Iterator[str]:
  """Yields an empty staging directory beside `target`; a normal exit moves it into place.

  An existing `target` is replaced (callers decide beforehand whether it may be). Unwritable
  places fail before the work, and failures leave nothing behind (see `scratch_directory`).
  """
  target = os.path.abspath(os.fspath(target))
  parent, name = os.path.split(target)
  with scratch_directory(parent, name, needed_for=target) as scratch:
    staging = os.path.join(scratch, name)
    os.mkdir(staging)
    yield staging
    place_together([(staging, target)])


def place_together(placements: Iterable[tuple], removed: Iterable[str] = ()) -> None:
  """Moves finished files and directories, (staged, target) pairs, into place as one step,
  and takes away the `removed` paths (what the old version had that the new one has not).

  Interrupts are held back meanwhile (only SIGKILL can split the step), and after an
  interrupt nothing is placed: KeyboardInterrupt instead.
  """
  with errors.signals_held():
    errors.raise_if_interrupted()
    for staged, target in placements:
      (place_directory if os.path.isdir(staged) else place_file)(staged, target)
    for path in removed:
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      elif os.path.lexists(path):
        os.remove(path)


def place_directory(staged: str, target: str) -> None:
  """Moves a finished directory into place with the umask's mode, replacing `target`.

  An existing target is first renamed aside and removed afterwards, so `target` is always
  either the old tree or the new one. Both paths must be on one file system.
  """
  os.chmod(staged, directory_mode())
  if not os.path.lexists(target):
    os.rename(staged, target)
    return
  parent, name = os.path.split(target)
  retired = tempfile.mkdtemp(prefix=f".{name}.", suffix=".retired", dir=parent)
  os.rename(target, os.path.join(retired, name))
  os.rename(staged, target)
  shutil.rmtree(retired, ignore_errors=True)


def tree_files(root: Union[str, os.PathLike]) -> list:
  """Paths ('/'-separated, relative to `root`) of the regular files below `root`, sorted."""
  found = []
  for directory, _, names in os.walk(root):
    for name in names:
      found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
  return sorted(found)


# --- reproducible archives ----------------------------------------------------------------
def _tree_entries(source_dir: str) -> list:
  """(archive name, path, is_dir) for everything below `source_dir`, sorted by name."""
  entries = []
  for dirpath, dirnames, filenames in os.walk(source_dir):
    for name in dirnames + filenames:
      path = os.path.join(dirpath, name)
      if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path)):
        # A link or special file would make the archive depend on more than paths and bytes.
        raise ValueError(f"cannot archive {path}: only regular files and directories")
      entries.append(
        (os.path.relpath(path, source_dir).replace(os.sep, "/"), path, os.path.isdir(path))
      )
  return sorted(entries)


def _member(name: str, is_dir: bool, size: int) -> tarfile.TarInfo:
  """A header that carries nothing of the file system but the name, kind and size."""
  info = tarfile.TarInfo(name)
  info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
  info.mode = 0o755 if is_dir else 0o644
  info.size = 0 if is_dir else size
  info.mtime = 0
  info.uid = info.gid = 0
  info.uname = info.gname = ""
  return info


def write_reproducible_archive(
  source_dir: Union[str, os.PathLike], archive_path: Union[str, os.PathLike], compresslevel: int = 9
) -> str:
  """Archives the contents of `source_dir` as a .tar.gz whose bytes depend only on the tree.

  Members are named relative to `source_dir` (no "./"), sorted, with mtime 0, owner 0:0
  without names, modes 0o755 / 0o644, in PAX format; the gzip header has no name and mtime 0.
  The same tree therefore gives the same bytes (with the same zlib). Written atomically.
  """
  source_dir = os.path.abspath(os.fspath(source_dir))
  archive_path = os.path.abspath(os.fspath(archive_path))
  if not os.path.isdir(source_dir):
    raise ValueError(f"not a directory: {source_dir}")
  if os.path.commonpath([source_dir, archive_path]) == source_dir:
    raise ValueError(f"the archive {archive_path} must not be inside {source_dir}")
  entries = _tree_entries(source_dir)
  with (
    staged_file(archive_path) as staging,
    open(staging, "wb") as raw,
    gzip.GzipFile(
      filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
    ) as compressed,
    tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
  ):
    for name, path, is_dir in entries:
      if is_dir:
        tar.addfile(_member(name, True, 0))
        continue
      with open(path, "rb") as data:
        tar.addfile(_member(name, False, os.fstat(data.fileno()).st_size), data)
  return archive_path


def tar_sha256(archive_path: Union[str, os.PathLike]) -> str:
  """sha256 of a .tar.gz's uncompressed stream: its content without zlib's encoding."""
  digest = hashlib.sha256()
  with gzip.open(archive_path, "rb") as f:
    for block in iter(lambda: f.read(_BLOCK), b""):
      digest.update(block)
  return digest.hexdigest()
