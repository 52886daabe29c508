"""Wall-clock seconds per phase of a job, for the `timings` its result reports."""

import contextlib
import time

from export.base import errors


@contextlib.contextmanager
def phase(timings: dict, name: str):
  """Stores in `timings[name]` the seconds the `with` block took (nothing if it raised).

  A phase does not begin after an interrupt that was lost on its way (TensorFlow's garbage
  collection drops those raised inside it): KeyboardInterrupt instead, see `errors`.
  """
  errors.raise_if_interrupted()
  started = time.perf_counter()
  yield
  timings[name] = time.perf_counter() - started
