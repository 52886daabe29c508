"""TensorFlow.js graph models of the inference function: converted, canonical, reproducible.

The converter is `tensorflowjs` 4.22.0 (the last release), installed without its declared
dependencies into `<venv>/tfjs-converter` (scripts/setup_tfjs.sh; WORKSPACE-notes.md says why)
and called in-process with the project's TensorFlow. Its package imports
two modules that graph-model conversion never uses and that cannot be installed beside
TensorFlow 2.21: `tensorflow_decision_forests` (whose releases pin older TensorFlows) and its
own `converters.jax_conversion` (JAX's `jax2tf`). `converter_module()` puts stand-ins for them in
`sys.modules` before the import; calling anything of theirs raises.

What is converted is the network with its batch norm folded exactly in float64
(`export/formats/litert/network.py`), as for LiteRT: TensorFlow's own batch-norm folding (grappler,
which the converter runs) uses its approximate, CPU-dependent `Rsqrt` kernel. The converter
receives constants it has nothing left to compute on, and `tests/test_tfjs.py` checks that
every weight in the shards is bit for bit one of the folded network's float32 arrays (or the
converter's NumPy quantization of it). The model keeps the SavedModel's `serving_default`
interface: input `inputs` float32 [batch, S, S, 3] in [0, 1], output `logits` [batch, 1001]
or `feature_vector` [batch, 1280] (1792 for multiplier 1.4).

Weight types (activations and compute are float32 in every case):
  float32  the weights as they are
  float16  weights stored as float16: half the size
  uint8    each weight tensor affinely quantized to 256 levels (the converter's own scheme,
           NumPy arithmetic): a quarter of the size

`convert` returns the files ({name: bytes}); an export of several types saves the network once
(`serving_saved_model`) and converts it per type (`convert_saved_model`). `model.json` is
rewritten canonically (sorted keys, compact, without TensorFlow's internal node attributes),
since the converter's key order and grappler's annotations vary between runs.
"""

import contextlib
import json
import os
import sys
import tempfile
import types

from export.formats import tfjs as tfjs_format
from export.formats.litert import network as litert_network

CONVERTER_VERSION = "4.22.0"
TYPES = tfjs_format.TYPES
MODEL_JSON = tfjs_format.MODEL_JSON
OUTPUT_KEYS = {"classification": "logits", "feature_vector": "feature_vector"}
# Every model's weights fit one shard (1.4/224: 24 MB at float32), so a model is two files.
SHARD_SIZE_BYTES = 64 * 1024 * 1024
# Where scripts/setup_tfjs.sh installs the converter (`pip install --target`): outside
# site-packages, so the environment's `pip check` does not see its unmet declarations.
CONVERTER_PATH = os.path.join(sys.prefix, "tfjs-converter")
_STAND_INS = ("tensorflow_decision_forests", "tensorflowjs.converters.jax_conversion")


class ConverterMissing(ImportError):
  """tensorflowjs is not installed (or not the pinned version); the message says what to run."""


def _stand_in(name: str) -> types.ModuleType:
  module = types.ModuleType(name, f"stand-in installed by {__name__}: not used by graph models")

  def unavailable(*args, **kwargs):
    raise NotImplementedError(f"{name} is a stand-in ({__name__}); it cannot be used here")

  module.convert_jax = unavailable

  def attribute(name_of_attribute):
    if name_of_attribute.startswith("__"):
      raise AttributeError(name_of_attribute)
    return unavailable

  module.__getattr__ = attribute
  return module


def converter_module():
  """`tensorflowjs.converters.tf_saved_model_conversion_v2`, imported with the stand-ins."""
  if os.path.isdir(CONVERTER_PATH) and CONVERTER_PATH not in sys.path:
    sys.path.append(CONVERTER_PATH)
  for name in _STAND_INS:
    sys.modules.setdefault(name, _stand_in(name))
  try:
    import tensorflowjs  # pylint: disable=g-import-not-at-top
    from tensorflowjs.converters import tf_saved_model_conversion_v2  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ConverterMissing(
      f"cannot import the TF.js converter ({error}); install it with "
      f"`bash scripts/setup_tfjs.sh` (it installs tensorflowjs=={CONVERTER_VERSION} into {CONVERTER_PATH})"
    ) from None
  if tensorflowjs.__version__ != CONVERTER_VERSION:
    raise ConverterMissing(
      f"tensorflowjs is {tensorflowjs.__version__}, the project pins {CONVERTER_VERSION}; "
      f"run `bash scripts/setup_tfjs.sh`"
    )
  return tf_saved_model_conversion_v2


def serving_module(network: litert_network.FoldedNetwork, image_size: int, module_type: str):
  """(trackable, signatures) of the folded network with the SavedModel's serving interface."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  function, _ = litert_network.conversion_function(network, image_size)
  key = OUTPUT_KEYS[module_type]
  spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="inputs")
  serving = tf.function(lambda inputs: {key: function(inputs)}, input_signature=[spec])
  module = tf.Module()
  module.serving = serving
  return module, {"serving_default": serving.get_concrete_function()}


def convert(
  network: litert_network.FoldedNetwork, image_size: int, module_type: str, model_type: str
) -> dict:
  """{file name: bytes} of the TF.js graph model of one weight type; model.json canonical."""
  with serving_saved_model(network, image_size, module_type) as saved_model_dir:
    return convert_saved_model(saved_model_dir, model_type)


@contextlib.contextmanager
def serving_saved_model(network: litert_network.FoldedNetwork, image_size: int, module_type: str):
  """A scratch SavedModel of `serving_module`, what the converter reads: saved once for all the
  weight types of an export, removed on exit."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  module, signatures = serving_module(network, image_size, module_type)
  with tempfile.TemporaryDirectory(prefix="tfjs-conversion.") as scratch:
    saved_model_dir = os.path.join(scratch, "saved_model")
    tf.saved_model.save(module, saved_model_dir, signatures=signatures)
    yield saved_model_dir


def convert_saved_model(saved_model_dir: str, model_type: str) -> dict:
  """`convert` of a `serving_saved_model`."""
  if model_type not in TYPES:
    raise ValueError(f"unknown TF.js weight type {model_type!r}; expected one of {TYPES}")
  conversion = converter_module()
  with tempfile.TemporaryDirectory(prefix="tfjs-conversion.") as output_dir:
    conversion.convert_tf_saved_model(
      saved_model_dir,
      output_dir,
      signature_def="serving_default",
      quantization_dtype_map=None if model_type == "float32" else {model_type: True},
      weight_shard_size_bytes=SHARD_SIZE_BYTES,
    )
    found = {}
    for name in sorted(os.listdir(output_dir)):
      with open(os.path.join(output_dir, name), "rb") as stream:
        found[name] = stream.read()
  found[MODEL_JSON] = canonical_model_json(found[MODEL_JSON])
  return found


def canonical_model_json(data: bytes) -> bytes:
  """The same model.json with its keys sorted, no spaces and no TF-internal node attributes.

  Grappler annotates fused ops with `_input_shapes` (symbolic sizes) in some processes and
  not in others (not with TF_ENABLE_ONEDNN_OPTS=0, for one); attributes named with a leading
  underscore are TensorFlow's own bookkeeping, which tfjs never reads.
  """
  model = json.loads(data)
  topology = model.get("modelTopology") or {}
  nodes = list(topology.get("node", ()))
  for function in (topology.get("library") or {}).get("function", ()):
    nodes += function.get("nodeDef", ())
  for node in nodes:
    attributes = node.get("attr", {})
    for name in [name for name in attributes if name.startswith("_")]:
      del attributes[name]
  return json.dumps(model, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
