"""Representative images for calibrating full-integer (int8, uint8) LiteRT models.

Calibration only has to show the quantizer the range each activation takes on the pictures
the model will see; the quantized model then represents that range with 256 levels. Two
sources:

  default_images(S)    generated here, the same on every machine: `CALIBRATION_SEEDS` seeds of
                       each synthetic photo kind of `export/base/probe_images.py` (discs, stripes,
                       checkerboard, rings, blocks, clouds, landscape: flat regions, edges,
                       textures, gradients and saturated colours, the local statistics the
                       early layers respond to). Seed 0 is left out: the probe images that
                       agreement is checked on are seed 0, so the check is on unseen pictures.
  images_from_directory(DIR, S)
                       the user's own photos (JPEG and PNG), decoded and resized exactly as
                       `export.classify` prepares a picture for the module.

What a user gains from real photos: ImageNet-like pictures drive the deep layers (which
respond to objects, not textures) through the ranges they take in use, so a trained network's
quantized scales fit its real activations; the generated set may leave some of those ranges
too wide or too narrow. Either way the ranges are taken in exact arithmetic
(`export/formats/litert/network.py`), so the order and batching of the images do not matter.
"""

import os
from typing import List

import numpy as np

from export.base import errors
from export.base import probe_images

CALIBRATION_SEEDS = tuple(range(1, 17))  # 16 seeds x 7 kinds = 112 images; seed 0 is probed
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class CalibrationError(errors.Failure):
  """Calibration images that cannot be used; the message is one line naming the path."""


def default_images(image_size: int, seeds=CALIBRATION_SEEDS) -> np.ndarray:
  """float32 [kinds x seeds, S, S, 3] in [0, 1]: every photo kind at every seed."""
  return np.stack(
    [
      probe_images.synthetic_photo(kind, image_size, seed)
      for seed in seeds
      for kind in probe_images.PHOTO_KINDS
    ]
  )


def image_files(directory: str) -> List[str]:
  """The JPEG and PNG files directly in `directory`, sorted by name; one-line errors."""
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise CalibrationError(
      f"{directory}: not a directory (give the directory of calibration images)"
    )
  if not os.path.isdir(directory):
    raise CalibrationError(f"{directory}: calibration image directory not found")
  names = sorted(
    name
    for name in os.listdir(directory)
    if name.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(directory, name))
  )
  if not names:
    raise CalibrationError(
      f"{directory}: no calibration images (expected JPEG or PNG files "
      f"named *{', *'.join(IMAGE_SUFFIXES)}), found none"
    )
  return [os.path.join(directory, name) for name in names]


def images_from_directory(directory: str, image_size: int) -> np.ndarray:
  """float32 [N, S, S, 3] in [0, 1]: each image file decoded and resized as classify does."""
  from export.core import images as images_lib  # pylint: disable=g-import-not-at-top  (TF)

  prepared = []
  for path in image_files(directory):
    try:
      decoded = images_lib.decode_image_file(path)
    except images_lib.ImageError as error:
      raise CalibrationError(f"calibration image {error}") from None
    prepared.append(images_lib.preprocess(decoded, (image_size, image_size)).numpy())
  return np.stack(prepared).astype(np.float32)
