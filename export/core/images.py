"""Image files as a TF Hub image module expects them: decoded, in [0, 1], resized whole.

  1. decode: `tf.io.decode_image(channels=3, expand_animations=False)`, so JPEG, PNG, GIF
     (first frame), BMP and WebP work; grey and RGBA images become RGB;
  2. resize: the whole image, bilinear with antialiasing, to the module's S x S, without
     keeping the aspect ratio and without cropping (antialiasing matters when a photo shrinks
     to 96 pixels: plain bilinear samples 4 source pixels per output pixel and aliases);
  3. scale: pixels / 255, in [0, 1].

Memory stays bounded: the size is read from the file's header before decoding, and images
over `MAX_PIXELS` are refused; the decoded image stays uint8 (3 bytes a pixel) and is resized
before anything becomes float, so no full-size float copy is ever made.
"""

import pathlib
import re
import struct
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf

from export.base import errors
from export.base import files
from export.base import probe_images

ANTIALIAS = True
# 50 megapixels (an 8660 x 5770 photo): decoding holds 3 bytes a pixel, about 150 MB.
MAX_PIXELS = 50_000_000
PREPROCESSING = (
  "tf.io.decode_image(channels=3) -> bilinear resize of the whole image to the "
  f"module's size (antialias={ANTIALIAS}, aspect ratio not kept, no crop) -> "
  "pixels / 255 in [0, 1]"
)


class ImageError(errors.Failure):
  """An image file that cannot be used; the message is one line naming the file."""


def header_size(data: bytes) -> Optional[tuple]:
  """(height, width) from a PNG, GIF, BMP, WebP or JPEG header, or None if not one of those."""
  if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
    width, height = struct.unpack(">II", data[16:24])
    return height, width
  if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
    width, height = struct.unpack("<HH", data[6:10])
    return height, width
  if data[:2] == b"BM" and len(data) >= 26:
    if struct.unpack("<I", data[14:18])[0] == 12:  # the old OS/2 header: 16-bit sizes
      width, height = struct.unpack("<HH", data[18:22])
    else:
      width, height = struct.unpack("<ii", data[18:26])
    return abs(height), abs(width)
  if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
    return _webp_size(data)
  if data[:2] == b"\xff\xd8":
    try:
      height, width, _ = tf.io.extract_jpeg_shape(data).numpy()
    except tf.errors.InvalidArgumentError:
      return None
    return int(height), int(width)
  return None


def _webp_size(data: bytes) -> Optional[tuple]:
  chunk = data[12:16]
  if chunk == b"VP8 ":
    width, height = struct.unpack("<HH", data[26:30])
    return height & 0x3FFF, width & 0x3FFF
  if chunk == b"VP8L":
    bits = struct.unpack("<I", data[21:25])[0]
    return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
  if chunk == b"VP8X":
    width = int.from_bytes(data[24:27], "little") + 1
    height = int.from_bytes(data[27:30], "little") + 1
    return height, width
  return None


def decode_image_file(path: str) -> tf.Tensor:
  """uint8 [H, W, 3] of an image file; ImageError naming the file if it cannot be used."""
  try:
    data = pathlib.Path(path).read_bytes()
  except OSError as error:
    raise ImageError(f"{path}: cannot read the file ({error.strerror})") from None
  size = header_size(data)
  if size and size[0] * size[1] > MAX_PIXELS:
    raise ImageError(
      f"{path}: {size[1]}x{size[0]} is {size[0] * size[1] / 1e6:.0f} megapixels, "
      f"over the limit of {MAX_PIXELS / 1e6:.0f}; shrink it first"
    )
  try:
    return tf.io.decode_image(data, channels=3, expand_animations=False)
  except tf.errors.InvalidArgumentError as error:
    raise ImageError(
      f"{path}: not an image that tf.io.decode_image can decode ({_op_message(error)})"
    ) from None


def _op_message(error: tf.errors.OpError) -> str:
  # Kernel errors carry "{{function_node ...}}" and "[Op:...]" around the readable part.
  message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", errors.first_line(error))
  return message.strip().rstrip(".")


def preprocess(image: tf.Tensor, image_size: Sequence[int]) -> tf.Tensor:
  """float32 [S, S, 3] in [0, 1]: a decoded uint8 image as the module expects it."""
  resized = tf.image.resize(image, image_size, method="bilinear", antialias=ANTIALIAS)
  # Antialiased weights sum to 1 only up to rounding (1 + 2e-7 seen): keep inside [0, 1].
  return tf.clip_by_value(resized / 255.0, 0.0, 1.0)


def load_images(paths: Sequence[str], image_size: Sequence[int]) -> np.ndarray:
  """float32 [N, S, S, 3]: the files decoded and preprocessed; ImageError on the first bad."""
  if not paths:
    return np.zeros((0, *image_size, 3), np.float32)
  return np.stack([preprocess(decode_image_file(str(path)), image_size).numpy() for path in paths])


def write_example_image(path: str, size: int = 256, kind: str = "landscape", seed: int = 0) -> str:
  """Writes a synthetic photo (export/base/probe_images.py) as PNG or JPEG, by the suffix."""
  pixels = probe_images.quantize(probe_images.synthetic_photo(kind, size, seed))
  suffix = pathlib.Path(path).suffix.lower()
  if suffix == ".png":
    encoded = tf.io.encode_png(pixels)
  elif suffix in (".jpg", ".jpeg"):
    encoded = tf.io.encode_jpeg(pixels, quality=95)
  else:
    raise ValueError(f"{path}: write a .png, .jpg or .jpeg file")
  files.write_file(path, encoded.numpy())
  return path
