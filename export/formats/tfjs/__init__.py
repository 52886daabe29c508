"""TF.js: the inference function as graph models (float32, float16, uint8 weights), written
beside the SavedModel after Node's `@tensorflow/tfjs` agrees with it (docs/tfjs.md).

`FORMAT` is its entry in the registry: a directory per weight type (`<export_dir>.tfjs/`,
`<export_dir>.float16.tfjs/`, `<export_dir>.uint8.tfjs/`) holding `model.json` and its weight
shard. The rest of the package implements it: `exporter` (the models of an export, checked in
Node; `convert_beside`), `converter` (the pinned tensorflowjs converter, called in-process, with
canonical output), `node` (running a model in Node, the client web users run), `loader` (a
model directory loaded for classification), `server` (the demo page's loopback server, for
`python -m export.serve_tfjs`). This module imports no TensorFlow.

May import: `export.base`, `export.core`, `nets`, the other formats' packages (LiteRT's folded
network and thresholds), TensorFlow and the tensorflowjs converter (not here: in its modules).
"""

from export.formats import agreement
from export.formats import format as format_lib
from export.formats import litert

TYPES = ("float32", "float16", "uint8")
SUFFIX = ".tfjs"  # of a directory
MODEL_JSON = "model.json"

# How closely each weight type must reproduce the SavedModel on the probe images, relative to
# 1 + max |reference|: float32 within 1e-4 (the project's tolerance for any float32
# implementation; tfjs computes in float32 with other summation orders); float16 as LiteRT's
# float16 (5e-2 and cosine 0.999 on every probe); uint8 weights change the function more (256
# levels per tensor, depthwise kernels included), so they are held, like LiteRT's full-integer
# models, to the direction of the outputs and the classes. Measured on seed-0 synthetic
# checkpoints of all 22 variants, both module types (scripts/measure_tfjs_uint8.py,
# docs/tfjs.md): worst-probe cosine 0.81-0.99, mean 0.961-0.995, top-1 0.375-0.875 (1.0/96
# the lowest: 6 of 16 probes), top-5 overlap 0.65-0.84. On synthetic (random) weights the
# logits are nearly tied, so the class bounds are loose guards; the cosines are the check.
THRESHOLDS = {
  "float32": agreement.Threshold(max_relative_difference=1e-4),
  "float16": litert.FLOAT16,
  "uint8": agreement.Threshold(
    min_cosine=0.7, min_mean_cosine=0.93, min_top1_agreement=0.25, min_top5_overlap=0.5
  ),
}


def snippet(model_url: str, image_size: int) -> list:
  """JavaScript lines that load a TF.js model from `model_url` (its model.json) and run it:
  the model card's and Kaggle's usage, and what tests/test_tfjs.py runs in Node."""
  return [
    "import * as tf from '@tensorflow/tfjs';",
    "",
    f"const model = await tf.loadGraphModel('{model_url}');",
    f"const images = tf.zeros([1, {image_size}, {image_size}, 3]);  // RGB in [0, 1]",
    "const outputs = model.predict(images);  // logits [1, 1001] or features [1, K]",
  ]


def _kaggle_usage(handle: str, file_name: str, image_size: int) -> list:
  del file_name  # the instance is the model directory itself
  return [
    "import kagglehub",
    "",
    f'path = kagglehub.model_download("{handle}")',
    "print(path)  # serve this directory over HTTP; then, in JavaScript:",
    *(
      f"# {line}" if line else "#" for line in snippet("https://<your host>/model.json", image_size)
    ),
  ]


FORMAT = format_lib.Format(
  name="tfjs",
  label="TF.js",
  title="TF.js graph model, {kind} weights",
  suffix=SUFFIX,
  implementation="export.formats.tfjs.loader",
  types=TYPES,
  made_with="saved_model",
  export_flag="tfjs",
  beside_writer="export.formats.tfjs.exporter",
  files_written=lambda result: [
    (written.model_type, written.path, {"agreement": written.agreement.as_dict()})
    for written in result.written.get("tfjs", ())
  ],
  thresholds=tuple(THRESHOLDS[kind] for kind in TYPES),
  # verify runs it in Node against the checkpoint or a golden; its weights are folded, so
  # only its outputs are compared (float32 meets verification's 1e-4; the others do not)
  verifiable=True,
  # Each type adds a conversion (a SavedModel written and converted) and a Node run of the
  # probes on the cpu backend. Rough, from one 0.75/96 module version (the three types took
  # 39 s of its 76 s, so ~0.35 of the rest each) and docs/tfjs.md's conversion times (2.6
  # times as long per type at 1.0/224, 0.3 billion multiply-adds, as at 0.75/96).
  cost_per_type=0.3,
  cost_per_billion_macs=6.0,
  kaggle_framework="tfJs",
  kaggle_slug_suffixes=("", "-fp16", "-uint8"),
  # As LiteRT's: hub versions 4 and 5 differ in SavedModel features a graph model lacks.
  kaggle_hub_versions=format_lib.LATEST_VERSION,
  kaggle_usage=_kaggle_usage,
)
