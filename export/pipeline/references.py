"""The reference a variant's artifacts are verified against, computed once per run.

Every artifact of a variant (both module types, versions 4 and 5, the Keras files) is checked
against the same probe images run through the same checkpoint's TF-Slim graph
(export/verification/expectation.py). The first worker that needs it computes it for every
module type, from one run of the classifier's graph (its global pool is the feature vector),
and leaves it in `OUT/.regenerate/references/<variant>-<checkpoint sha256>.pickle`; the
others read it. A lock beside it makes a second worker wait for the first rather than compute
it again. The orchestrator empties the directory when a run starts and when it ends, so a
reference never outlives the code and checkpoint of the run that computed it.

Only verification reads it: the exported files never depend on it, and the parity figures
are the same bits whether it was computed or read.
"""

import dataclasses
import fcntl
import os
import pickle
import time

from export.base import files
from export.pipeline import state
from export.verification import expectation as expectation_lib
from nets import architecture


def expectation(
  artifact: state.Artifact, prefix: str, checkpoint_sha256: str, state_dir: str
) -> expectation_lib.Expectation:
  """The expectation of `artifact`'s module type, from the checkpoint at `prefix` (whose
  digest is `checkpoint_sha256`): read if a worker of this run computed it, else computed."""
  started = time.perf_counter()
  directory = os.path.join(state_dir, state.REFERENCES_DIR)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, f"{artifact.variant.name}-{checkpoint_sha256}.pickle")
  with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or when the worker dies
    if os.path.exists(path):
      with open(path, "rb") as f:
        by_type = pickle.load(f)
    else:
      types = architecture.MODULE_TYPES
      by_type = dict(
        zip(
          types,
          expectation_lib.expectations_from_checkpoint(
            prefix, [artifact.variant.spec(module_type) for module_type in types]
          ),
        )
      )
      files.write_file(path, pickle.dumps(by_type))
  found = by_type[artifact.module_type]
  return dataclasses.replace(
    found, source=dict(found.source, path=prefix), seconds=time.perf_counter() - started
  )
