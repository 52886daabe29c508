"""Turns TF-Slim MobileNet V2 checkpoints into the published modules, and checks them.

Subpackages, each importing only those listed before it (and `nets`):
  base          errors, files, versions, probe images (no TensorFlow)
  testing       synthetic checkpoints for tests, goldens and benchmarks (beside base: no
                library module imports it)
  core          checkpoint -> TF2 network -> Reusable SavedModel; options, labels, images
  formats       the registry and one package per format: SavedModel, Keras 3, LiteRT
  runtime       loading an export of any format; classifying pictures with it
  verification  does an export reproduce its checkpoint
  publish       TF Hub's layout and the model cards
  pipeline      downloads and the regeneration of every artifact
  kaggle        publishing the regenerated modules as Kaggle Models
The modules at this level are the binaries (`python -m export.<name>`) and `cli`, which they
share; they may import anything below. docs/architecture.md draws the layers.
"""

import importlib.util
import os

_OURS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nets")


def _check_nets_is_ours() -> None:
  """tensorflow/models' research/slim has a top-level `nets` too, and people converting TF-Slim
  checkpoints often have it on PYTHONPATH: say so at once instead of failing later on a
  missing `nets.architecture`."""
  spec = importlib.util.find_spec("nets")
  found = os.path.dirname(os.path.abspath(spec.origin)) if spec and spec.origin else None
  if found != _OURS:
    raise ImportError(
      f"'nets' is {found}, not this project's ({_OURS}): another package "
      f"named nets (tensorflow/models' research/slim has one) is earlier on "
      f"sys.path; remove it from PYTHONPATH"
    )


_check_nets_is_ours()
