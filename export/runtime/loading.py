"""Any export, loaded on its own: the one path verification and classification load through.

`load(path)` finds the path's format in the registry (by its suffix; a directory is a
SavedModel) and returns what that format's loader gives (`export.formats.format.Loaded`): how
to run it, the image sizes it takes, its outputs and variables. Every failure is a LoadError
whose message is one line naming the path; callers re-raise it as their own error.
"""

from export.formats import format as format_lib
from export.formats import registry

LoadError = format_lib.LoadError
Loaded = format_lib.Loaded


def format_of(path: str, formats: tuple = registry.FORMATS) -> format_lib.Format:
  """The format of `formats` that `path` belongs to (a directory: the SavedModel)."""
  return registry.for_path(str(path), formats)


def check(path: str, formats: tuple = registry.FORMATS) -> None:
  """LoadError unless `path` looks like an export of one of `formats`; reads little."""
  format_of(path, formats).check(str(path))


def load(path: str, formats: tuple = registry.FORMATS) -> Loaded:
  """The export at `path`, loaded by its format; LoadError (one line) if it cannot be."""
  return format_of(path, formats).load(str(path))
