"""Writes synthetic checkpoints: the released layout, filled with RANDOM weights (nets/synthetic).

`write_checkpoint(output_dir, depth_multiplier, image_size, seed)` writes what a released
archive holds (`<name>.ckpt.index`, `<name>.ckpt.data-00000-of-00001`, `<name>_info.txt`,
no `.meta`) and, with `archive`, `<name>.tgz` packing those three like a released archive.
Every byte is a function of (multiplier, size, seed): the values are (nets/synthetic.py),
TensorFlow's SaveV2 serializes them without computing anything, and the archive is written
reproducibly. Files appear only when complete, the `.index` (which makes a checkpoint
visible to readers) last.
"""

import os

from export.base import files
from nets import architecture
from nets import synthetic
from nets import variants

DATA_SUFFIX = ".data-00000-of-00001"


def write_checkpoint(
  output_dir, depth_multiplier: float, image_size: int, seed: int = 0, archive: bool = False
) -> str:
  """Writes a seeded random checkpoint; returns its prefix `<output_dir>/<name>.ckpt`.

  ValueError for a bad argument; files.UnwritableError when `output_dir` cannot be created or
  written (before any work). Nothing is left behind on failure.
  """
  synthetic.check_arguments(depth_multiplier, image_size, seed)
  stem = variants.checkpoint_stem(depth_multiplier, image_size)
  output_dir = os.path.abspath(os.fspath(output_dir))
  with files.scratch_directory(output_dir, stem) as scratch:
    staged = os.path.join(scratch, stem)
    os.mkdir(staged)
    _save(
      os.path.join(staged, f"{stem}.ckpt"),
      synthetic.checkpoint_values(depth_multiplier, image_size, seed),
    )
    files.write_file(
      os.path.join(staged, f"{stem}_info.txt"), _info_text(stem, depth_multiplier, image_size, seed)
    )
    names = [f"{stem}_info.txt", f"{stem}.ckpt{DATA_SUFFIX}", f"{stem}.ckpt.index"]
    if archive:
      # Random floats hardly compress; the fastest level saves seconds for nothing lost.
      files.write_reproducible_archive(
        staged, os.path.join(scratch, f"{stem}.tgz"), compresslevel=1
      )
      os.rename(os.path.join(scratch, f"{stem}.tgz"), os.path.join(staged, f"{stem}.tgz"))
      names.insert(0, f"{stem}.tgz")
    _place(staged, names, output_dir)
  return os.path.join(output_dir, f"{stem}.ckpt")


def _place(staged: str, names: list, output_dir: str) -> None:
  """Moves the files into place in order; on failure takes back the ones already moved."""
  placed = []
  try:
    for name in names:
      files.place_file(os.path.join(staged, name), os.path.join(output_dir, name))
      placed.append(name)
  except BaseException:
    for name in placed:
      os.remove(os.path.join(output_dir, name))
    raise


def _info_text(stem: str, depth_multiplier: float, image_size: int, seed: int) -> str:
  return (
    f"{stem}: SYNTHETIC checkpoint with RANDOM weights.\n"
    "These are not the released ImageNet weights; its predictions mean nothing.\n"
    "It has the released checkpoint's layout: model variables, ExponentialMovingAverage\n"
    "shadows of the trainable variables, RMSProp slots and global_step.\n"
    f"depth_multiplier: {variants.multiplier_text(depth_multiplier)}\n"
    f"image_size: {image_size}\n"
    f"num_classes: {architecture.NUM_CLASSES}\n"
    f"seed: {seed}\n"
    "generator: nets/synthetic.py (scripts/make_synthetic_checkpoint.py), "
    "slim-mobilenet-hub\n"
  )


def _save(prefix: str, entries: dict) -> None:
  """Writes `entries` in TF1's name-based V2 format, with the op tf.compat.v1.train.Saver uses.

  Saving the arrays directly spares building the network just to hold them. Its own graph
  and session keep this independent of the caller's eager or graph mode.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (only once the work starts)

  v1 = tf.compat.v1
  names = sorted(entries)
  with tf.Graph().as_default():
    tensors = [
      v1.placeholder(tf.as_dtype(entries[name].dtype), entries[name].shape) for name in names
    ]
    save = tf.raw_ops.SaveV2(
      prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
    )
    with v1.Session() as session:
      session.run(save, feed_dict={tensor: entries[name] for tensor, name in zip(tensors, names)})
