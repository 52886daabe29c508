"""A stand-in for export/pipeline/worker.py in test_schedule.py: no TensorFlow, just the
behaviour the scheduler must handle, chosen per artifact.

  python -m schedule_fake_worker JOB_JSON

or, as the scheduler runs it, `worker_main` in a child of a fork server
(export/pipeline/forkserver.py).

$FAKE_WORKER_DIR/script.json maps an artifact's key to what to do: "made", "checkpoint" (its
checkpoint is unusable), "crash" (exits 3 without a result), "pair" (made once another
worker runs beside it), "wait" (until SIGTERM) or "stubborn" (notes SIGTERM and goes on).
Each worker writes what it saw, and its state, to $FAKE_WORKER_DIR/<key with - for />.json.
"""

import json
import os
import pathlib
import signal
import sys
import time

DIRECTORY = pathlib.Path(os.environ["FAKE_WORKER_DIR"])
PATIENCE_SECONDS = 20  # a worker that waits longer than this says so and gives up
_IMPORTED_BY = os.getpid()
_PRELOADED = []
_JOBS_RUN = []  # what a worker process inherited from earlier jobs: nothing, if fresh


def preload():
  _PRELOADED.append(os.getpid())


def _write(path, value) -> None:
  path.write_text(json.dumps(value))


def _wait_for(condition) -> bool:
  deadline = time.monotonic() + PATIENCE_SECONDS
  while not condition():
    if time.monotonic() > deadline:
      return False
    time.sleep(0.02)
  return True


def worker_main(argv) -> int:
  job = json.loads(argv[1])
  what = json.loads((DIRECTORY / "script.json").read_text())[job["key"]]
  record = DIRECTORY / (job["key"].replace("/", "-") + ".json")
  seen = {
    "pid": os.getpid(),
    "leads_its_session": os.getsid(0) == os.getpid(),
    "cwd": os.getcwd(),
    "pythonpath": os.environ.get("PYTHONPATH", ""),
    "tf_log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
    "stdin": sys.stdin.read(),
    "parent": os.getppid(),
    "imported_by_parent": _IMPORTED_BY == os.getppid(),
    "preloaded_by_parent": _PRELOADED == [os.getppid()],
    "jobs_run_before": list(_JOBS_RUN),
  }
  _JOBS_RUN.append(job["key"])
  print(f"stdout of {job['key']}", flush=True)
  if what == "crash":
    print("something broke", file=sys.stderr, flush=True)
    return 3
  if what == "checkpoint":
    result = {"kind": "checkpoint", "message": "bad checkpoint", "status": "FAILED"}
    _write(pathlib.Path(job["result_path"]), result)
    return 1
  if what in ("wait", "stubborn"):
    stop = _ignore if what == "stubborn" else _stop
    signal.signal(signal.SIGTERM, lambda *_: stop(record, seen))
    _write(record, dict(seen, state="ready"))
    time.sleep(PATIENCE_SECONDS)
    _write(record, dict(seen, state="never stopped"))
    return 0
  if what == "pair":
    running = DIRECTORY / "running"
    running.mkdir(exist_ok=True)
    (running / str(os.getpid())).touch()
    seen["had_company"] = _wait_for(lambda: len(list(running.iterdir())) >= 2)
  result = {"max_abs_error": 1.5e-06, "status": "made", "timings": {"export": 0.25}}
  _write(record, dict(seen, state="made"))
  _write(pathlib.Path(job["result_path"]), result)
  return 0


def _stop(record, seen) -> None:
  _write(record, dict(seen, state="stopped by SIGTERM"))
  sys.exit(130)


def _ignore(record, seen) -> None:
  _write(record, dict(seen, state="ignored SIGTERM"))


if __name__ == "__main__":
  sys.exit(worker_main(sys.argv))
