"""Wall-clock seconds per phase of a job, for the `timings` its result reports."""

import contextlib
import time


@contextlib.contextmanager
def phase(timings: dict, name: str):
  """Stores in `timings[name]` the seconds the `with` block took (nothing if it raised)."""
  started = time.perf_counter()
  yield
  timings[name] = time.perf_counter() - started
