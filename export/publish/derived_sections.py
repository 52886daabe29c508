"""The sections of a model card about the files made beside its SavedModel (LiteRT and ONNX
models): their files, what each was checked against, a snippet that runs one, and the
agreement measured, which `export/publish/model_card.py` keeps between the MEASURED markers
(its `static_sha256` leaves them out).

The entries are the regeneration manifest's (export/pipeline/manifest.py `DerivedFile`, as
JSON): per type, path, bytes, sha256 and agreement.
"""

from export.formats.onnx import model as onnx_model

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


def litert(litert: dict) -> list:
  """The LiteRT models made with this version: files, and their agreement with it."""
  lines = [
    "## LiteRT models",
    "",
    "Converted from this module's inference function, each checked against it on 16 fixed "
    "probe images before it was written:",
    "",
    "| type | file | size | input | output | checked |",
    "|---|---|---|---|---|---|",
  ]
  for kind, model in litert.items():
    given, returned = _LITERT_IO[kind]
    lines.append(
      f"| {kind} | `{model['path'].rsplit('/', 1)[-1]}` | "
      f"{model['bytes'] / 1e6:.1f} MB | {given} | {returned} | {_checked(model)} |"
    )
  return lines + ["", *_measured(litert)]


def _checked(model: dict) -> str:
  """What a derived file's agreement threshold asked of it, in words."""
  threshold = model["agreement"]["threshold"]
  return "; ".join(
    words.format(threshold[name])
    for name, words in _THRESHOLD_WORDS.items()
    if threshold.get(name) is not None
  )


def _measured(models: dict) -> list:
  """The measured agreement of each type's file, between the MEASURED markers."""
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


_ONNX_IO = {"float32": "float32", "int8": "QDQ: int8 weights, uint8 activations"}


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
      f"| {_ONNX_IO[kind]} | {_checked(model)} |"
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
    *_measured(onnx),
  ]
  return lines
