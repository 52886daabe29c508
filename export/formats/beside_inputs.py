"""What the formats made beside a SavedModel are converted from and checked against, computed
once per export and shared by them all.

LiteRT, ONNX and TF.js all start from the module's folded network, measure their models on the
probe images against the staged SavedModel's outputs, and LiteRT's full-integer types and
ONNX's int8 are calibrated with the same exact activation ranges. Each is computed on first
use: an export that asks for no calibrated type never computes ranges. Sharing changes no byte,
since each is a pure function of the module and the images.
"""

import functools
from typing import Optional

import numpy as np

from export.base import probe_images
from export.formats.litert import calibration as litert_calibration
from export.formats.litert import converter as litert
from export.formats.litert import network as litert_network


class BesideInputs:
  """`root` (a module of `export.core.reusable_module.build`), the directory its SavedModel was
  saved to, and the images to calibrate on (None: `litert_calibration.default_images`)."""

  def __init__(self, root, saved_model_dir: str, calibration_images: Optional[np.ndarray] = None):
    self.root = root
    self.saved_model_dir = saved_model_dir
    self.calibration_images = calibration_images

  @property
  def image_size(self) -> int:
    return self.root.image_size

  @property
  def module_type(self) -> str:
    return self.root.module_type

  @functools.cached_property
  def network(self) -> litert_network.FoldedNetwork:
    return litert.network_of(self.root)

  @functools.cached_property
  def probes(self) -> np.ndarray:
    return probe_images.probe_batch(self.image_size)[1]

  @functools.cached_property
  def reference(self) -> np.ndarray:
    """The SavedModel's outputs on the probes: what every model's agreement is measured on."""
    return litert.reference_outputs(self.saved_model_dir, self.probes)

  @functools.cached_property
  def ranges(self) -> np.ndarray:
    """The exact activation ranges of the network over the calibration images."""
    images = self.calibration_images
    if images is None:
      images = litert_calibration.default_images(self.image_size)
    return litert_network.activation_ranges(self.network, images)
