"""Every format the project writes, in order: the one list the rest of the code iterates.

`FORMATS` holds each format's descriptor (`export/formats/format.py`); `by_name` finds one as
`--formats` spells it, `for_path` the one a file or directory belongs to. Adding a format is a
package beside `saved_model`, `keras` and `litert` and one line here (docs/architecture.md,
"Adding a format"). No TensorFlow is imported: each format's implementation comes on first use.
"""

from export.formats import format as format_lib
from export.formats import keras
from export.formats import litert
from export.formats import onnx
from export.formats import saved_model
from export.formats import tfjs

# The regeneration makes them in this order; the SavedModel first, as others are made with it.
FORMATS = (saved_model.FORMAT, litert.FORMAT, onnx.FORMAT, tfjs.FORMAT, keras.FORMAT)
NAMES = tuple(fmt.name for fmt in FORMATS)
PRIMARY = saved_model.FORMAT  # the module every other format is checked against


def by_name(name: str) -> format_lib.Format:
  for fmt in FORMATS:
    if fmt.name == name:
      return fmt
  raise ValueError(f"unknown format {name!r}; formats are {', '.join(NAMES)}")


def for_path(path: str, formats=FORMATS) -> format_lib.Format:
  """The format of `formats` whose suffix `path` ends in; else the directory format."""
  for fmt in formats:
    if fmt.owns(path):
      return fmt
  return PRIMARY


def verifiable() -> tuple:
  """The formats `export.verify` checks against a checkpoint or a golden."""
  return tuple(fmt for fmt in FORMATS if fmt.verifiable)
