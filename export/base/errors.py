"""The two kinds of error every binary reports, and how they are worded.

A `ValueError` is a usage error: the command asks for something impossible or unsafe (a bad
or contradictory flag, a version that cannot be produced, an output that exists without
`--overwrite`); binaries exit 2. A `Failure` is work that cannot be done with valid requests
(a missing or corrupt checkpoint, an unwritable output, an export that does not verify);
binaries exit 1. Either way the message is one line that names the flag, file or variable.
"""


class Failure(Exception):
  """The work cannot be done; the message is one line naming the file or variable."""


def first_line(error: BaseException) -> str:
  """The first line of an exception's message (TensorFlow's run to pages)."""
  return (str(getattr(error, "message", error)).strip().splitlines() or [type(error).__name__])[0]
