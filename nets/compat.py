"""Lets tf-slim 1.1.0 build batch norm on TensorFlow >= 2.16.

TensorFlow's legacy layers (used by `slim.batch_norm`) import `tf_keras.legacy_tf_layers`;
tf-keras 2.16+ ships that package as `tf_keras.src.legacy_tf_layers` only. Registering the
old name for the real package is all it takes (see WORKSPACE-notes.md). Import this module
before tf_slim builds anything; importing it twice is harmless.
"""

import importlib
import sys

_EXPECTED = "tf_keras.legacy_tf_layers"
_ACTUAL = "tf_keras.src.legacy_tf_layers"


def install() -> None:
  if _EXPECTED not in sys.modules:
    try:
      importlib.import_module(_EXPECTED)
    except ImportError:
      sys.modules[_EXPECTED] = importlib.import_module(_ACTUAL)


install()
