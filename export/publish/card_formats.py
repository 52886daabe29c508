"""The model card's sections about the files of the formats made with a module version (LiteRT,
ONNX, TF.js): what each is, how it was checked against the module, and its measured agreement
between markers that the card's static digest (`model_card.static_sha256`) leaves out.

Each section takes the regeneration manifest's entries of the format's files made with the
version (type -> {path, bytes, agreement, ...}; export/pipeline/manifest.py).
"""

from export.formats import tfjs as tfjs_format
from export.formats.litert import metadata as litert_metadata
from export.formats.onnx import model as onnx_model
from nets import variants as variants_lib

# Figures measured with float kernels vary in their last digits between machines; the card
# keeps them between these markers, and `static_sha256` digests the card without them.
MEASURED_BEGIN, MEASURED_END = "<!-- measured: begin -->", "<!-- measured: end -->"
_LITERT_IO = {
  "float32": ("float32 in [0, 1]", "float32"),
  "float16": ("float32 in [0, 1]", "float32 (float16 weights)"),
  "int8": ("float32 in [0, 1]", "float32 (int8 inside)"),
  "uint8": ("uint8 pixels 0-255", "uint8, with its scale and zero point"),
}
_THRESHOLD_WORDS = {
  "max_relative_difference": "max |diff| / (1 + max |output|) at most {:g}",
  "min_cosine": "cosine similarity at least {:g} on every probe",
  "min_mean_cosine": "at least {:g} on average",
  "min_top1_agreement": "the same top-1 class on at least {:.0%} of them",
  "min_top5_overlap": "top-5 sets overlapping by at least {:.0%}",
}


def litert(models: dict, variant, module_type: str, version) -> list:
  """The LiteRT models made with this version: files, their metadata, and their agreement."""
  lines = [
    "## LiteRT models",
    "",
    "Converted from this module's inference function, each checked against it on 16 fixed "
    "probe images before it was written:",
    "",
    "| type | file | size | input | output | checked |",
    "|---|---|---|---|---|---|",
  ]
  for kind, model in models.items():
    given, returned = _LITERT_IO[kind]
    lines.append(
      f"| {kind} | `{model['path'].rsplit('/', 1)[-1]}` | "
      f"{model['bytes'] / 1e6:.1f} MB | {given} | {returned} | {checked(model)} |"
    )
  metadata = _litert_metadata(variant, module_type, version, list(models))
  return lines + ["", *metadata, ""] + measured(models)


def _litert_metadata(variant, module_type, version, kinds) -> list:
  """What each LiteRT file's metadata says, as the writer words it (`litert_metadata.summary`);
  a field that differs between types is given per type."""
  by_field = {}
  for kind in kinds:
    subject = litert_metadata.Subject(
      module_type, kind, variant.depth_multiplier, variant.image_size, version.number
    )
    for field, value in litert_metadata.summary(subject).items():
      by_field.setdefault(field, {}).setdefault(value, []).append(kind)
  rows = [
    f"| {field} | {next(iter(values))} |"
    if len(values) == 1
    else f"| {field} | " + "; ".join(f"{', '.join(k)}: {v}" for v, k in values.items()) + " |"
    for field, values in by_field.items()
  ]
  return [
    "Each file carries TFLite Model Metadata, which MediaPipe Tasks, ML Kit and Android "
    "Studio read to prepare pictures and name the classes; `export.classify` checks it "
    "against the model:",
    "",
    "| metadata | value |",
    "|---|---|",
    *rows,
  ]


def checked(model: dict) -> str:
  """A derived file's threshold against this module, in words."""
  threshold = model["agreement"]["threshold"]
  return "; ".join(
    words.format(threshold[name])
    for name, words in _THRESHOLD_WORDS.items()
    if threshold.get(name) is not None
  )


def measured(models: dict) -> list:
  """The derived files' measured agreement with this module (type -> manifest entry), between
  the markers `static_sha256` leaves out."""
  lines = [
    MEASURED_BEGIN,
    "Measured on the probe images (float arithmetic: the last digits vary by machine):",
    "",
    "| type | max abs diff | min cosine | mean cosine | top-1 | top-5 overlap |",
    "|---|---|---|---|---|---|",
  ]
  for kind, model in models.items():
    figures = model["agreement"]

    def percent(value):
      return "-" if value is None else f"{value:.0%}"

    lines.append(
      f"| {kind} | {figures['max_abs_difference']:.2g} | {figures['min_cosine']:.4f} "
      f"| {figures['mean_cosine']:.4f} | {percent(figures['top1_agreement'])} | "
      f"{percent(figures['top5_overlap'])} |"
    )
  return lines + [MEASURED_END]


_ONNX_IO = {"float32": "float32", "int8": "QDQ: uint8 weights and activations"}


def onnx(variant, module_type, onnx: dict) -> list:
  """The ONNX models made with this version: files, a tested ONNX Runtime snippet, agreement."""
  size = variant.image_size
  first = onnx[next(iter(onnx))]["path"].rsplit("/", 1)[-1]
  given, output = onnx_model.INPUT_NAME, onnx_model.OUTPUT_NAMES[module_type]
  lines = [
    "## ONNX models",
    "",
    f"Converted from this module's inference function (opset {onnx_model.OPSET}), each passing "
    "`onnx.checker` and checked against the module on 16 fixed probe images in ONNX Runtime, "
    f"at batch 1 and 8, before it was written. Input `{given}`, float32 [batch_size, "
    f"{size}, {size}, 3] in [0, 1], with a dynamic batch size; output `{output}`, float32.",
    "",
    "| type | file | size | weights and activations | checked |",
    "|---|---|---|---|---|",
  ]
  for kind, model in onnx.items():
    lines.append(
      f"| {kind} | `{model['path'].rsplit('/', 1)[-1]}` | {model['bytes'] / 1e6:.1f} MB "
      f"| {_ONNX_IO[kind]} | {checked(model)} |"
    )
  lines += [
    "",
    "With ONNX Runtime (`pip install onnxruntime`):",
    "",
    "```python",
    "import numpy as np",
    "import onnxruntime",
    "",
    f'session = onnxruntime.InferenceSession("{first}", providers=["CPUExecutionProvider"])',
    f"images = np.zeros([2, {size}, {size}, 3], np.float32)  # RGB in [0, 1]",
    f'({output},) = session.run(None, {{"{given}": images}})',
    "```",
    "",
    "Beside each model, `<file>.test_data/test_data_set_0/` holds test vectors as the ONNX "
    "Model Zoo ships them: `input_0.pb` (two probe images) and `output_0.pb` (the network's "
    "outputs for them in exact arithmetic), serialized TensorProtos that "
    "`onnx.numpy_helper.to_array(onnx.load_tensor(path))` reads.",
    "",
    *measured(onnx),
  ]
  return lines


def tfjs(models: dict, variant: variants_lib.Variant, version) -> list:
  """The TF.js graph models made with this version: directories, the JavaScript that loads
  one, and their agreement with this module."""
  lines = [
    "## TF.js graph models",
    "",
    "The `serving_default` signature as TensorFlow.js graph models, for the web and Node: "
    "self-host a directory and load its `model.json` with `@tensorflow/tfjs`. Inputs are "
    "float32 in [0, 1], outputs float32; compute is float32 for every weight type. Each was "
    "run by `@tensorflow/tfjs` in Node on 16 fixed probe images and checked against this "
    "module before it was written:",
    "",
    "| weights | directory | size | checked |",
    "|---|---|---|---|",
  ]
  for kind, model in models.items():
    lines.append(
      f"| {kind} | `{model['path'].rsplit('/', 1)[-1]}/` | {model['bytes'] / 1e6:.1f} MB | "
      f"{checked(model)} |"
    )
  url = f"https://<your host>/{version.number}{tfjs_format.SUFFIX}/model.json"
  code = tfjs_format.snippet(url, variant.image_size)
  return lines + ["", "```js", *code, "```", ""] + measured(models)
