"""The outcomes every binary reports besides success, and how they are worded.

A `ValueError` is a usage error: the command asks for something impossible or unsafe (a bad
or contradictory flag, a version that cannot be produced, an output that exists without
`--overwrite`); binaries exit 2. A `Failure` is work that cannot be done with valid requests
(a missing or corrupt checkpoint, an unwritable output, an export that does not verify);
binaries exit 1. Either way the message is one line that names the flag, file or variable.

An interrupt (Ctrl-C's SIGINT, or SIGTERM) is the third outcome: binaries exit 130 with one
line. `watch_interrupts` makes each of them a KeyboardInterrupt and remembers that it came,
because TensorFlow's native code can turn a KeyboardInterrupt raised inside it into another
error (pybind11's "MISMATCH … REPLACED BY") or drop it: whatever fails or finishes after a
remembered interrupt is reported as the interrupt, and nothing is placed after one.
"""

import contextlib
import signal
import sys
from typing import Iterable
from typing import Iterator
from typing import Sequence


class Failure(Exception):
  """The work cannot be done; the message is one line naming the file or variable."""


def check_subset(chosen: Iterable[str], choices: Sequence[str], what: str) -> tuple:
  """`chosen` in the order of `choices`; a usage error (ValueError) naming the unknown values,
  or saying that none was chosen."""
  chosen = set(chosen)
  unknown = sorted(chosen - set(choices))
  if unknown or not chosen:
    found = f"unknown {what} {', '.join(unknown)}" if unknown else f"no {what} selected"
    raise ValueError(f"{found}; expected some of {','.join(choices)}")
  return tuple(name for name in choices if name in chosen)


def first_line(error: BaseException) -> str:
  """The first line of an exception's message (TensorFlow's run to pages)."""
  return (str(getattr(error, "message", error)).strip().splitlines() or [type(error).__name__])[0]


# --- interrupts ---------------------------------------------------------------------------
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_received = []  # names of the signals that came since `watch_interrupts`
_hold = {"depth": 0, "deferred": False}


def _on_interrupt(signum, unused_frame):
  # Python runs this in the main thread, whichever thread the signal reached.
  _received.append(signal.Signals(signum).name)
  if _hold["depth"]:
    _hold["deferred"] = True
    return
  raise KeyboardInterrupt


def watch_interrupts() -> None:
  """Makes SIGINT and SIGTERM raise KeyboardInterrupt and be remembered (`interrupted`).

  A signal the process was started with ignored (`nohup`, a shell's background job) stays
  ignored. For binaries: the main thread only, before any work.
  """
  for signum in _INTERRUPTS:
    if signal.getsignal(signum) is not signal.SIG_IGN:
      signal.signal(signum, _on_interrupt)
  report_unraisable = sys.unraisablehook

  def drop_remembered_interrupts(unraisable):
    # An interrupt raised inside a __del__ (TensorFlow's garbage collectors have them) is
    # lost with a traceback; it is remembered, and the binary reports it in one line.
    if not (unraisable.exc_type is KeyboardInterrupt and _received):
      report_unraisable(unraisable)

  sys.unraisablehook = drop_remembered_interrupts


def interrupted() -> str:
  """The name of the first interrupt that came since `watch_interrupts` ('' if none)."""
  return _received[0] if _received else ""


def raise_if_interrupted() -> None:
  """KeyboardInterrupt if an interrupt came, even one lost on the way: before placing."""
  if _received:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
  """Holds watched interrupts back during the block: for renames and clean-up, which one must
  not cut in two, and for calls into C++ that would swallow one. One that comes meanwhile is
  raised when the block ends normally."""
  _hold["depth"] += 1
  try:
    yield
  finally:
    _hold["depth"] -= 1
    deferred = _hold["deferred"] and not _hold["depth"]
    if deferred:
      _hold["deferred"] = False
  if deferred:
    raise KeyboardInterrupt
