"""The fixed probe images that verification feeds both the reference and the export.

Sixteen images, each a pure function of the image size (and a fixed seed), rendered with
numpy so any session on any machine builds the same set:

  noise                 seeded uniform noise over the full range (every frequency)
  zeros, ones, grey     constant 0, 1 and 0.5 (0.5 is the network's 0 after 2x - 1)
  gradient_horizontal   grey ramps, dark to light: left to right, top to bottom, and
  gradient_vertical     top-left to bottom-right
  gradient_diagonal
  gradient_colour       red grows to the right, green downwards, blue towards the top left
  salt_and_pepper       seeded black-and-white pixel noise (the largest local contrast)
  discs, stripes, checkerboard, rings, blocks, clouds, landscape
                        synthetic "photos": `synthetic_photo(kind, image_size, seed)`

Shapes are laid out in coordinates relative to the image, so a probe looks the same at
every size. Every value is a multiple of 1/255: the set is stored exactly as uint8
(`probe_uint8`), and the float images are `uint8 / 255` in float32 (`to_float`).

The probes feed committed goldens, so they are made with exact arithmetic only: numbers from
the PCG64 bit stream, then +, -, *, /, sqrt, floor and comparisons, which IEEE-754 rounds
the same way everywhere. Waves and glows are polynomials and rational functions rather than
sine, cosine and exp, whose last bits differ between machines (NumPy's AVX-512 builds use
other implementations than the C library's).

Verification runs the first image alone (batch size 1), then the whole set in batches of 8
(`batch_plan`), so an export whose output depends on the batch shows up.
"""

import zlib

import numpy as np

from nets import architecture

PROBE_SET_VERSION = 2  # bump when any probe image changes; goldens record it
BATCH_SIZE = 8
PHOTO_KINDS = ("discs", "stripes", "checkerboard", "rings", "blocks", "clouds", "landscape")
PROBE_NAMES = (
  "noise",
  "zeros",
  "ones",
  "grey",
  "gradient_horizontal",
  "gradient_vertical",
  "gradient_diagonal",
  "gradient_colour",
  "salt_and_pepper",
) + PHOTO_KINDS


def probe_batch(image_size: int):
  """(names, float32 [16, S, S, 3] in [0, 1]): the probe set at this size."""
  names, images = probe_uint8(image_size)
  return names, to_float(images)


def probe_uint8(image_size: int):
  """(names, uint8 [16, S, S, 3]): the probe set as stored in goldens."""
  _check_size(image_size)
  images = np.stack([_probe(name, image_size) for name in PROBE_NAMES])
  return list(PROBE_NAMES), images


def to_float(images_uint8: np.ndarray) -> np.ndarray:
  """The float32 images in [0, 1] that stored uint8 pixels stand for."""
  return images_uint8.astype(np.float32) / np.float32(255.0)


def quantize(images: np.ndarray) -> np.ndarray:
  """Float images in [0, 1] rounded to uint8 pixels (values outside are clipped)."""
  return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def batch_plan(count: int, batch_size: int = BATCH_SIZE) -> list:
  """(start, stop) of each run: the first image alone, then consecutive batches."""
  return [(0, 1)] + [
    (start, min(start + batch_size, count)) for start in range(0, count, batch_size)
  ]


def synthetic_photo(kind: str, image_size: int, seed: int = 0) -> np.ndarray:
  """A float32 [S, S, 3] picture in [0, 1] of one of `PHOTO_KINDS`, in multiples of 1/255."""
  if kind not in _PHOTOS:
    raise ValueError(f"unknown photo kind {kind!r}; expected one of {', '.join(PHOTO_KINDS)}")
  _check_size(image_size)
  image = _PHOTOS[kind](_rng(kind, seed), *_grid(image_size), image_size)
  return to_float(quantize(image))


def _check_size(image_size) -> None:
  architecture.validate(image_size=image_size)


def _rng(kind: str, seed: int) -> np.random.Generator:
  # Keyed by the kind's name, so adding a kind never changes the others.
  return np.random.default_rng([zlib.crc32(kind.encode()), seed])


def _grid(image_size: int):
  """(y, x): pixel-centre coordinates in (0, 1), y downwards, x rightwards."""
  coords = (np.arange(image_size) + 0.5) / image_size
  return np.meshgrid(coords, coords, indexing="ij")


def _probe(name: str, image_size: int) -> np.ndarray:
  """One uint8 [S, S, 3] probe image."""
  if name in _PHOTOS:
    return quantize(synthetic_photo(name, image_size))
  shape = (image_size, image_size, 3)
  if name == "noise":
    return _rng(name, 0).integers(0, 256, shape, dtype=np.uint8)
  if name == "salt_and_pepper":
    return np.repeat(
      _rng(name, 0).integers(0, 2, shape[:2] + (1,), dtype=np.uint8) * 255, 3, axis=2
    )
  constants = {"zeros": 0.0, "ones": 1.0, "grey": 0.5}
  if name in constants:
    return quantize(np.full(shape, constants[name]))
  y, x = _grid(image_size)
  ramps = {
    "gradient_horizontal": _grey(x),
    "gradient_vertical": _grey(y),
    "gradient_diagonal": _grey((x + y) / 2),
    "gradient_colour": np.stack([x, y, 1 - (x + y) / 2], axis=-1),
  }
  return quantize(ramps[name])


def _grey(value: np.ndarray) -> np.ndarray:
  return np.repeat(value[..., None], 3, axis=-1)


# --- the synthetic photos ----------------------------------------------------------------
def _distance(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
  return np.sqrt(dy * dy + dx * dx)


def _unit_vector(rng):
  """A random direction (y, x), drawn without trigonometry."""
  while True:
    dy, dx = rng.uniform(-1.0, 1.0, 2)
    length = float(np.sqrt(dy * dy + dx * dx))
    if 0.1 < length <= 1.0:
      return dy / length, dx / length


def _smooth_wave(t: np.ndarray) -> np.ndarray:
  """A periodic wave in [0, 1] with period 1, 1 at integers, 0 half-way: a smoothstep of the
  distance to the nearest integer, shaped like a raised cosine."""
  u = np.abs(t - np.floor(t + 0.5)) * 2.0  # 0 at integers, 1 half-way
  return 1.0 - u * u * (3.0 - 2.0 * u)


def _smooth_field(rng, y, x, cells: int, amplitude: float) -> np.ndarray:
  """Random levels on a (cells + 1)^2 grid, interpolated bilinearly with smoothstep weights."""
  levels = rng.uniform(-amplitude, amplitude, (cells + 1, cells + 1))
  position_y, position_x = y * cells, x * cells
  row, column = (
    np.minimum(np.floor(position_y), cells - 1),
    np.minimum(np.floor(position_x), cells - 1),
  )
  fy, fx = position_y - row, position_x - column
  fy, fx = fy * fy * (3.0 - 2.0 * fy), fx * fx * (3.0 - 2.0 * fx)
  row, column = row.astype(np.int64), column.astype(np.int64)
  top = levels[row, column] * (1.0 - fx) + levels[row, column + 1] * fx
  bottom = levels[row + 1, column] * (1.0 - fx) + levels[row + 1, column + 1] * fx
  return top * (1.0 - fy) + bottom * fy


def _inside(signed_distance: np.ndarray, image_size: int) -> np.ndarray:
  """Coverage of the region where `signed_distance` < 0, anti-aliased over one pixel."""
  return np.clip(0.5 - signed_distance * image_size, 0.0, 1.0)[..., None]


def _blend(image: np.ndarray, coverage: np.ndarray, colour) -> np.ndarray:
  return image * (1.0 - coverage) + coverage * np.asarray(colour, dtype=np.float64)


def _canvas(y: np.ndarray, colour) -> np.ndarray:
  return np.broadcast_to(np.asarray(colour, dtype=np.float64), y.shape + (3,)).copy()


def _discs(rng, y, x, size):
  """Overlapping coloured discs on a plain background."""
  image = _canvas(y, rng.uniform(0.0, 1.0, 3))
  for _ in range(6):
    centre_y, centre_x = rng.uniform(0.1, 0.9, 2)
    radius = rng.uniform(0.08, 0.3)
    distance = _distance(y - centre_y, x - centre_x) - radius
    image = _blend(image, _inside(distance, size), rng.uniform(0.0, 1.0, 3))
  return image


def _stripes(rng, y, x, size):
  """Two-colour stripes at a slant: a texture with one dominant frequency."""
  direction_y, direction_x = _unit_vector(rng)
  period = rng.uniform(0.08, 0.2)
  phase = (x * direction_x + y * direction_y) / period
  # Distance to the nearest stripe edge, negative inside the stripe's half of each period.
  distance = (np.abs(phase % 1.0 - 0.5) - 0.25) * period
  image = _canvas(y, rng.uniform(0.0, 0.4, 3))
  return _blend(image, _inside(distance, size), rng.uniform(0.6, 1.0, 3))


def _checkerboard(rng, y, x, size):
  """An 8 x 8 board of dark and light squares."""
  del size  # square edges fall on pixel edges at sizes divisible by 8
  dark, light = rng.uniform(0.0, 0.3, 3), rng.uniform(0.7, 1.0, 3)
  light_square = ((np.floor(y * 8) + np.floor(x * 8)) % 2)[..., None]
  return dark * (1.0 - light_square) + light * light_square


def _rings(rng, y, x, size):
  """Concentric rings whose colour varies smoothly (a target, or ripples)."""
  del size
  centre_y, centre_x = rng.uniform(0.3, 0.7, 2)
  period = rng.uniform(0.08, 0.15)
  wave = _smooth_wave(_distance(y - centre_y, x - centre_x) / period)
  inner, outer = rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)
  return inner * wave[..., None] + outer * (1.0 - wave[..., None])


def _blocks(rng, y, x, size):
  """Overlapping axis-aligned rectangles with dark borders, like a Mondrian painting."""
  image = _canvas(y, (0.95, 0.93, 0.88))
  for _ in range(7):
    top, left = rng.uniform(0.0, 0.7, 2)
    bottom, right = top + rng.uniform(0.15, 0.5), left + rng.uniform(0.15, 0.5)
    distance = np.maximum.reduce([top - y, y - bottom, left - x, x - right])
    image = _blend(image, _inside(distance - 0.015, size), (0.05, 0.05, 0.05))
    image = _blend(image, _inside(distance + 0.015, size), rng.uniform(0.0, 1.0, 3))
  return image


def _clouds(rng, y, x, size):
  """White clouds on a blue sky: a smooth random field, thresholded softly."""
  del size
  field = _smooth_field(rng, y, x, cells=6, amplitude=1.6)
  cloud = np.clip(field - 0.3, 0.0, 1.0)[..., None]
  sky = np.stack([0.25 + 0.3 * y, 0.45 + 0.3 * y, np.full_like(y, 0.9)], axis=-1)
  return sky * (1.0 - cloud) + np.array([0.97, 0.97, 1.0]) * cloud


def _landscape(rng, y, x, size):
  """Sky and rolling ground under a sun: a scene with a horizon and a bright disc."""
  sky = np.stack([0.2 + 0.5 * y, 0.4 + 0.45 * y, 0.8 + 0.2 * y], axis=-1)
  sun_y, sun_x = rng.uniform(0.15, 0.35), rng.uniform(0.2, 0.8)
  sun_distance = _distance(y - sun_y, x - sun_x)
  glow = (1.0 / np.square(1.0 + np.square(sun_distance / 0.15)))[..., None]
  image = np.clip(sky + 0.35 * glow * np.array([1.0, 0.8, 0.3]), 0.0, 1.0)
  image = _blend(image, _inside(sun_distance - 0.07, size), (1.0, 0.92, 0.5))
  horizon = 0.55 + 0.1 * _smooth_wave(rng.uniform(0.5, 1.5) * x + rng.uniform(0, 1))
  horizon += 0.04 * _smooth_wave(rng.uniform(2.0, 4.0) * x + rng.uniform(0, 1))
  depth = np.clip((y - horizon) / 0.4, 0.0, 1.0)[..., None]
  grass = np.array([0.35, 0.6, 0.2]) * (1.0 - 0.5 * depth)  # darker towards the viewer
  grass = grass + rng.uniform(-0.06, 0.06, y.shape + (1,))  # blades of grass
  ground = _inside(horizon - y, size)
  return np.clip(image * (1.0 - ground) + grass * ground, 0.0, 1.0)


_PHOTOS = {
  "discs": _discs,
  "stripes": _stripes,
  "checkerboard": _checkerboard,
  "rings": _rings,
  "blocks": _blocks,
  "clouds": _clouds,
  "landscape": _landscape,
}
