"""TFLite Model Metadata for the LiteRT files: what MediaPipe Tasks, ML Kit and Android's
model binding read to prepare pictures and name the classes (docs/litert.md).

`attach(model, Subject(...))` returns the model with its metadata and, for a classifier, the
labels packed in; the computation is untouched (`litert_flatbuffers`). What it says:

- the model: name (the TF Hub handle), description, version (the hub version), author,
  licence Apache-2.0, and the minimum metadata parser version (1.0.0: every field written
  exists since then);
- the input: an RGB image of the model's size. NormalizationOptions mean 0, std 255: a
  client feeds pixels 0..255 and computes (x - mean) / std, which gives the [0, 1] that the
  float32, float16 and int8 files take. The uint8 file takes the pixels themselves; its
  normalization is the same, because it states the real value that the quantized input
  stands for, and the input's quantization (scale 1/255, zero point 0) maps that value back
  to the pixel: clients feed it raw pixels. Stats: the input tensor's range ([0, 1], or
  [0, 255] for uint8);
- the output: "logits" (no softmax) with `ImageNetLabels.txt` as TENSOR_AXIS_LABELS (1001
  lines, "background" first), or "feature_vector", a plain feature output.
"""

import dataclasses

from export.core import labels
from export.formats.litert import flatbuffers as fb
from nets import variants

METADATA_NAME = "TFLITE_METADATA"  # the model's metadata entry that clients look up
MIN_PARSER_VERSION = "1.0.0"
AUTHOR = "Google (TF-Slim MobileNet V2 checkpoints), exported by slim-mobilenet-hub"
LICENSE = "Apache-2.0"
NORMALIZATION_MEAN = 0.0  # pixels 0..255 -> (x - 0) / 255 = [0, 1]
NORMALIZATION_STD = 255.0
_QUANTIZED_INPUT = ("uint8",)  # types whose input tensor holds the pixels themselves


@dataclasses.dataclass(frozen=True)
class Subject:
  """The file the metadata describes: which module, which LiteRT type, which hub version."""

  module_type: str  # classification or feature_vector
  model_type: str  # float32, float16, int8 or uint8 (export/formats/litert/converter.py)
  depth_multiplier: float
  image_size: int
  hub_version: int

  @property
  def handle(self) -> str:
    """google/imagenet/mobilenet_v2_075_96/classification, or the TF-Slim name for a network
    that no released checkpoint has."""
    try:
      return variants.find(self.depth_multiplier, self.image_size).hub_handle(self.module_type)
    except ValueError:
      stem = variants.checkpoint_stem(self.depth_multiplier, self.image_size)
      return f"{stem}/{self.module_type}"


_TYPE_NOTES = {
  "float32": "float32 weights and computation",
  "float16": "float16 weights, float32 computation",
  "int8": "int8 weights and activations, float32 input and output",
  "uint8": "int8 weights and activations, uint8 input (raw pixels) and uint8 output",
}


def input_range(model_type: str) -> tuple:
  """(min, max) of the input tensor's values: the pixels for uint8, else [0, 1]."""
  return (0.0, 255.0) if model_type in _QUANTIZED_INPUT else (0.0, 1.0)


def pixel_quantization() -> tuple:
  """(scale, zero point) that make a quantized input's raw pixels the normalized value the
  metadata states: scale * (pixel - zero point) = (pixel - mean) / std."""
  return (1.0 / NORMALIZATION_STD, NORMALIZATION_MEAN)


def describe(subject: Subject) -> fb.Table:
  """The ModelMetadata of one file."""
  multiplier = variants.multiplier_text(subject.depth_multiplier)
  what = "ImageNet classifier" if subject.module_type == "classification" else "image features"
  description = (
    f"MobileNet V2 {what}, depth multiplier {multiplier}, {subject.image_size}x"
    f"{subject.image_size} RGB input; TF Hub {subject.handle}/{subject.hub_version} "
    f"regenerated from the TF-Slim checkpoint "
    f"{variants.checkpoint_stem(subject.depth_multiplier, subject.image_size)}. "
    f"LiteRT {subject.model_type}: {_TYPE_NOTES[subject.model_type]}."
  )
  subgraph = fb.table(
    "SubGraphMetadata",
    input_tensor_metadata=(_image_input(subject),),
    output_tensor_metadata=(_output(subject),),
  )
  return fb.table(
    "ModelMetadata",
    name=subject.handle,
    description=description,
    version=str(subject.hub_version),
    subgraph_metadata=(subgraph,),
    author=AUTHOR,
    license=LICENSE,
    min_parser_version=MIN_PARSER_VERSION,
  )


def _image_input(subject: Subject) -> fb.Table:
  low, high = input_range(subject.model_type)
  size = f"{subject.image_size}x{subject.image_size}"
  if subject.model_type in _QUANTIZED_INPUT:
    values = (
      "uint8 pixels 0..255 as they are (the tensor's scale 1/255 and zero point 0 make them "
      "the [0, 1] of the float model, which the normalization states)"
    )
  else:
    values = "float32 in [0, 1]: pixels 0..255 divided by 255"
  normalization = fb.table(
    "ProcessUnit",
    options_type=fb.Byte(fb.PROCESS_UNIT_NORMALIZATION),
    options=fb.table(
      "NormalizationOptions",
      mean=fb.Floats([NORMALIZATION_MEAN]),
      std=fb.Floats([NORMALIZATION_STD]),
    ),
  )
  return fb.table(
    "TensorMetadata",
    name="image",
    description=f"An RGB picture resized to {size}: {values}.",
    content=fb.table(
      "Content",
      content_properties_type=fb.Byte(fb.CONTENT_IMAGE),
      content_properties=fb.table("ImageProperties", color_space=fb.Byte(fb.COLOR_SPACE_RGB)),
    ),
    process_units=(normalization,),
    stats=fb.table("Stats", max=fb.Floats([high]), min=fb.Floats([low])),
  )


def _output(subject: Subject) -> fb.Table:
  feature = fb.table(
    "Content",
    content_properties_type=fb.Byte(fb.CONTENT_FEATURE),
    content_properties=fb.table("FeatureProperties"),
  )
  quantized = (
    " uint8: the real value is scale * (q - zero_point), the tensor's quantization."
    if subject.model_type == "uint8"
    else ""
  )
  if subject.module_type != "classification":
    return fb.table(
      "TensorMetadata",
      name="feature_vector",
      description="The image's feature vector: the global average of the last feature map."
      + quantized,
      content=feature,
    )
  labels_file = fb.table(
    "AssociatedFile",
    name=labels.LABELS_FILE_NAME,
    description='The 1001 class names, one a line: "background", then ImageNet\'s 1000.',
    type=fb.Byte(fb.TENSOR_AXIS_LABELS),
  )
  return fb.table(
    "TensorMetadata",
    name="logits",
    description="1001 logits (no softmax): class 0 is background; a softmax gives the "
    "probabilities." + quantized,
    content=feature,
    associated_files=(labels_file,),
  )


def attach(model: bytes, subject: Subject, labels_path: str = labels.LABELS_FILE) -> bytes:
  """`model` with its metadata, and for a classifier the labels file packed in (a zip)."""
  with_metadata = fb.with_metadata_buffer(model, METADATA_NAME, fb.serialize(describe(subject)))
  if subject.module_type != "classification":
    return with_metadata
  with open(labels_path, "rb") as labels_file:
    return fb.append_zip(with_metadata, {labels.LABELS_FILE_NAME: labels_file.read()})


def summary(subject: Subject) -> dict:
  """{field: text} of what `describe(subject)` writes, for the model cards: name, version,
  author, licence, the input's normalization and tensor, the output and its labels file."""
  model = describe(subject).fields
  (subgraph,) = model["subgraph_metadata"]
  (image,) = subgraph.fields["input_tensor_metadata"]
  (output,) = subgraph.fields["output_tensor_metadata"]
  (unit,) = image.fields["process_units"]
  options, stats = unit.fields["options"].fields, image.fields["stats"].fields
  (mean,), (std,), (low,), (high,) = options["mean"], options["std"], stats["min"], stats["max"]
  files = output.fields.get("associated_files", ())
  return {
    "name": model["name"],
    "version": model["version"],
    "author": model["author"],
    "licence": model["license"],
    "input": f"`{image.fields['name']}`, an RGB image",
    "input normalization": f"mean {mean:g}, std {std:g}: pixels 0-255 become "
    f"[{(0 - mean) / std:g}, {(255 - mean) / std:g}]",
    "input tensor": _tensor_words(subject.model_type, low, high),
    "output": f"`{output.fields['name']}`",
    "labels": ", ".join(f"`{file.fields['name']}`, packed in the file" for file in files) or "none",
  }


def _tensor_words(model_type: str, low: float, high: float) -> str:
  if model_type not in _QUANTIZED_INPUT:
    return f"float32 in [{low:g}, {high:g}]"
  scale, zero_point = pixel_quantization()
  return (
    f"{model_type} pixels in [{low:g}, {high:g}] as they are, which its quantization (scale "
    f"1/{1 / scale:g}, zero point {zero_point:g}) makes the normalized values"
  )
