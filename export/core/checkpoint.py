"""Reading a released TF-Slim checkpoint (prefix or .tgz archive) into model values.

The restore follows TF-Slim's evaluation: each trainable variable takes its
`/ExponentialMovingAverage` shadow when the checkpoint has one, batch-norm statistics their
plain names. Accounting is strict: every model variable must be there with its shape, and
every other key must be one training leaves behind (global_step, optimizer slots, shadows).
"""

import contextlib
import dataclasses
import os
import re
import tarfile
import tempfile
from typing import Iterator

from absl import logging
import numpy as np

from export.base import errors
from nets import architecture
from nets import variants

# What training leaves beside the model variables: the step, moving-average shadows, and
# the slots of TF1's RMSProp and Momentum optimizers.
_ALLOWED_EXTRA = re.compile(
  rf"^(global_step|.*{re.escape(architecture.EMA_SUFFIX)}|.*/(RMSProp|RMSProp_1|Momentum))$"
)
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")


class CheckpointError(errors.Failure):
  """A checkpoint that cannot be used; the message is one line naming the path or variable."""


@dataclasses.dataclass
class RestoredValues:
  values: dict  # model variable name -> np.ndarray, for the classifier layout
  from_ema: int  # how many trainable variables took their shadow
  from_raw: int  # how many variables took their plain value
  ignored: list  # checkpoint keys left unused (all of the allowed kinds)

  def summary(self) -> str:
    return (
      f"restored {len(self.values)} variables ({self.from_ema} from EMA shadows, "
      f"{self.from_raw} raw); ignored {len(self.ignored)} extra keys (global_step, "
      f"optimizer slots, unused shadows)"
    )


def locate(checkpoint_path: str) -> None:
  """CheckpointError unless there is a checkpoint at `checkpoint_path` (a prefix, one of its
  files, or an archive). Reads nothing, imports no TensorFlow: binaries call it first."""
  path = str(checkpoint_path)
  if os.path.isdir(path):
    raise CheckpointError(_directory_hint(path))
  if path.endswith(_ARCHIVE_SUFFIXES):
    if not os.path.isfile(path):
      raise CheckpointError(f"{path}: archive not found")
  elif not os.path.exists(_prefix_of(path) + ".index"):
    raise CheckpointError(
      f"{path}: no checkpoint there (expected {_prefix_of(path)}.index and its "
      f"data file, or a released .tgz archive)"
    )


def _directory_hint(directory: str) -> str:
  """What a directory given as the checkpoint holds, as an error: a prefix names one
  checkpoint of several, and the file name tells the variant, so the prefix is asked for."""
  prefixes = sorted(
    os.path.join(directory, name[: -len(".index")])
    for name in os.listdir(directory)
    if name.endswith(".index")
  )
  archives = sorted(name for name in os.listdir(directory) if name.endswith(_ARCHIVE_SUFFIXES))
  if len(prefixes) == 1:
    return f"{directory}: a directory, not a checkpoint prefix; did you mean {prefixes[0]}?"
  if prefixes:
    return (
      f"{directory}: a directory, not a checkpoint prefix; it holds {len(prefixes)} "
      f"checkpoints, pass one of: {', '.join(prefixes)}"
    )
  found = f" (it holds archives: {', '.join(archives)})" if archives else ""
  return f"{directory}: a directory with no checkpoint (no *.index file){found}"


def _prefix_of(path: str) -> str:
  return re.sub(r"\.(index|meta|data-\d+-of-\d+)$", "", path)


@contextlib.contextmanager
def opened(checkpoint_path: str) -> Iterator[str]:
  """Yields a checkpoint prefix for a prefix, an `.index`/`.data` file, or a `.tgz` archive.

  An archive is unpacked into a temporary directory that is removed afterwards; a
  CheckpointError raised meanwhile names the checkpoint inside the archive
  (`archive.tgz:mobilenet_v2_0.75_96.ckpt`), not that directory, gone when the user reads it.
  """
  locate(checkpoint_path)
  path = str(checkpoint_path)
  if path.endswith(_ARCHIVE_SUFFIXES):
    with tempfile.TemporaryDirectory(prefix="mobilenet_v2_ckpt_") as unpacked:
      prefix = _unpack_archive(path, unpacked)
      try:
        yield prefix
      except CheckpointError as error:
        inside = f"{path}:{os.path.relpath(prefix, unpacked)}"
        raise CheckpointError(str(error).replace(prefix, inside)) from None
    return
  yield _prefix_of(path)


def _unpack_archive(archive_path: str, directory: str) -> str:
  try:
    with tarfile.open(archive_path, "r:*") as archive:
      members = [m for m in archive.getmembers() if m.isfile()]
      indexes = [m for m in members if m.name.endswith(".ckpt.index")]
      if len(indexes) != 1:
        raise CheckpointError(
          f"{archive_path}: expected one *.ckpt.index in the archive, found {len(indexes)}"
        )
      stem = indexes[0].name[: -len(".index")]
      wanted = [m for m in members if m.name.startswith(stem + ".")]
      archive.extractall(directory, members=wanted, filter="data")
  except tarfile.ReadError:
    raise CheckpointError(
      f"{archive_path}: not a readable .tgz archive (neither gzip nor tar)"
    ) from None
  except (tarfile.TarError, EOFError, OSError) as error:
    raise CheckpointError(
      f"{archive_path}: not a readable .tgz archive ({errors.first_line(error)})"
    ) from None
  return os.path.join(directory, stem)


def _reader(prefix: str):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (only to read: see locate)

  try:
    return tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as error:
    raise CheckpointError(
      f"{prefix}: cannot read checkpoint ({errors.first_line(error)})"
    ) from None


def read_shapes(prefix: str) -> dict:
  """Name -> shape of every tensor in the checkpoint."""
  return {name: tuple(shape) for name, shape in _reader(prefix).get_variable_to_shape_map().items()}


def read_tensors(prefix: str, names) -> dict:
  """The named tensors as numpy arrays; a truncated or corrupt data file fails here."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (only to read: see locate)

  reader = _reader(prefix)
  try:
    # Held: an interrupt raised inside the reader's C++ (its first read calls back into NumPy)
    # would be printed to stdout there, and lost.
    with errors.signals_held():
      return {name: reader.get_tensor(name) for name in names}
  except (tf.errors.OpError, ValueError, IndexError) as error:  # IndexError: a short read
    raise CheckpointError(
      f"{prefix}: cannot read checkpoint data ({errors.first_line(error)})"
    ) from None


def implied_depth_multiplier(shapes: dict):
  """The released multiplier whose layout matches the checkpoint's shapes, or None."""
  for multiplier in sorted({v.depth_multiplier for v in variants.VARIANTS}):
    specs = architecture.variable_specs(multiplier)
    if all(tuple(shapes.get(spec.name, ())) == spec.shape for spec in specs):
      return multiplier
  return None


def _implied_variant_hint(prefix: str, shapes: dict) -> str:
  hints = []
  multiplier = implied_depth_multiplier(shapes)
  if multiplier is not None:
    hints.append(f"its shapes are those of depth multiplier {multiplier}")
  named = variants.named_by_path(prefix)
  if named:
    hints.append(f"its file name says multiplier {named[0]}, image size {named[1]}")
  return f" (the checkpoint looks like another variant: {'; '.join(hints)})" if hints else ""


def restore(checkpoint_path: str, depth_multiplier: float, use_ema: bool = True) -> RestoredValues:
  """`model_values` of the checkpoint at `checkpoint_path` (a prefix, one of its files, or a
  released archive), logged as the exporters report it."""
  with opened(checkpoint_path) as prefix:
    restored = model_values(prefix, depth_multiplier, use_ema)
  logging.info("%s: %s", checkpoint_path, restored.summary())
  return restored


def model_values(prefix: str, depth_multiplier: float, use_ema: bool = True) -> RestoredValues:
  """The values of every classifier-layout model variable, with strict accounting."""
  shapes = read_shapes(prefix)
  specs = architecture.variable_specs(depth_multiplier)
  sources, from_ema = {}, 0
  for spec in specs:
    shadow = architecture.ema_name(spec.name)
    source = shadow if use_ema and spec.trainable and shadow in shapes else spec.name
    if source not in shapes:
      raise CheckpointError(
        f"{prefix}: variable {spec.name} is missing (expected shape {list(spec.shape)} for "
        f"depth multiplier {depth_multiplier})" + _implied_variant_hint(prefix, shapes)
      )
    if shapes[source] != spec.shape:
      raise CheckpointError(
        f"{prefix}: variable {source} has shape {list(shapes[source])}, expected "
        f"{list(spec.shape)} for depth multiplier {depth_multiplier}"
        + _implied_variant_hint(prefix, shapes)
      )
    sources[spec.name] = source
    from_ema += source == shadow
  used = set(sources.values()) | set(sources)
  ignored = sorted(set(shapes) - used)
  unexpected = [name for name in ignored if not _ALLOWED_EXTRA.match(name)]
  if unexpected:
    raise CheckpointError(
      f"{prefix}: {len(unexpected)} unexpected variables, not part of MobileNet V2 "
      f"{depth_multiplier}: {', '.join(unexpected[:10])}" + (" …" if len(unexpected) > 10 else "")
    )
  tensors = read_tensors(prefix, sorted(set(sources.values())))
  values = {name: tensors[source].astype(np.float32) for name, source in sources.items()}
  return RestoredValues(values, from_ema, len(values) - from_ema, ignored)
