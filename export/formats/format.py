"""What a format declares, once: the `Format` descriptor that `registry` lists.

A format is one kind of file made from a module (the SavedModel directory, the Keras 3 file,
the LiteRT models). Its descriptor says how `--formats` names it, where its files go (beside a
single export and in TF Hub's layout), how it is published on Kaggle, and which module of the
format implements writing and loading it. Nothing here imports TensorFlow: the implementation
is imported on first use, so the binaries and the regeneration's orchestrator can read every
format's rules in milliseconds.
"""

import dataclasses
import importlib
import os
from typing import Callable
from typing import Optional

from export.base import errors
from export.formats import agreement as agreement_lib

# Which TF Hub versions a format publishes on Kaggle (`Format.kaggle_hub_versions`).
ALL_VERSIONS = "all"  # every produced version, oldest first: Kaggle versions 1, 2, ...
LATEST_VERSION = "latest"  # the latest produced version only
NO_VERSION = "none"  # one file per module, made from the checkpoint, with no hub version


class LoadError(errors.Failure):
  """An export that cannot be loaded or run; the message is one line naming its path."""


def check_model_file(path: str) -> None:
  """LoadError unless `path` is a file (without reading it): a file format's `check`."""
  if not os.path.isfile(path):
    raise LoadError(f"{path}: model file not found")


def read_model_file(path: str) -> bytes:
  """The bytes of the model file `path`; LoadError if there is none."""
  check_model_file(path)
  with open(path, "rb") as stored:
    return stored.read()


@dataclasses.dataclass(frozen=True)
class Loaded:
  """An export loaded on its own, as verification and classification run it."""

  path: str
  run: Callable  # float32 images [N, S, S, 3] in [0, 1] -> float32 outputs [N, K]
  image_sizes: frozenset  # (height, width) of the inputs it takes; (None, None) for any
  num_outputs: Optional[int]  # K, when the export says
  # () -> {TF-Slim name: value} of what it holds; None: its weights are constants under no
  # TF-Slim name (LiteRT, ONNX, TF.js), so verification compares its outputs only
  variables: Optional[Callable]
  has_head: Optional[bool] = None  # whether it holds the Logits layer, when that is known
  labels_path: Optional[str] = None  # its own labels file; None: it carries none
  labels: Optional[tuple] = None  # its own class names, packed inside it (LiteRT metadata)
  kind: str = ""  # which of its format's types it is ("" for the first)


@dataclasses.dataclass(frozen=True)
class Written:
  """One file (or directory) of a format made beside the SavedModel, checked against it."""

  model_type: str
  path: str
  size_bytes: int
  sha256: str  # of the file; of a directory, `files.tree_sha256`-style over its files
  agreement: agreement_lib.Agreement  # with the SavedModel on the probe images

  def summary(self) -> str:
    agreement = self.agreement
    return (
      f"on the probes: max |diff| {agreement.max_abs_difference:.2g}, min cosine "
      f"{agreement.min_cosine:.4f}"
    )


@dataclasses.dataclass(frozen=True)
class Format:
  """One format's rules. Its files are named `<stem><infix><suffix>`, where the infix is
  `.<type>` for every type but the first (`5.tflite`, `5.int8.tflite`)."""

  name: str  # as --formats spells it; it keys its files in the manifest and the lock
  # (`<name>_sha256`, export/pipeline/manifest.py), the SavedModel's own fields aside
  label: str  # its name in a sentence: "LiteRT"
  title: str  # a few words for version notes and overviews; `{kind}` stands for the type
  suffix: str  # of its file; "" for a directory
  implementation: str  # the module defining `check(path)` and `load(path) -> Loaded`
  types: tuple = ("",)  # the kinds of file one module gets, the default first
  per_version: bool = True  # a file per module version (else one per module, in `<name>/`)
  made_with: Optional[str] = None  # the format whose export writes this one beside it
  # per type: how closely its outputs must reproduce the SavedModel's (export/formats/agreement.py)
  thresholds: tuple = (agreement_lib.Threshold(max_relative_difference=0.0),)
  verifiable: bool = False  # verify checks it against the checkpoint (variables where it has them)
  kaggle_framework: str = ""
  kaggle_slug_suffixes: tuple = ("",)  # per type: appended to the variation slug
  kaggle_hub_versions: str = ALL_VERSIONS
  fine_tunable: bool = False
  # A format made per module: the module defining `write_module_file(checkpoint_path, path,
  # spec=ModelSpec, use_ema=bool)`, which writes it from a checkpoint.
  writer: str = ""
  # A format made with the SavedModel (`made_with="saved_model"`) is asked for by the export
  # binary's `--<export_flag>` and `--<export_flag>_types`, which fill the ExportOptions fields of
  # the same names. `beside_writer` is the module defining `convert_beside(inputs, export_dir,
  # types, hub_version) -> [(written, content)]`: each file converted from the shared
  # `inputs` (export/formats/beside_inputs.py) and checked, nothing written; `content` is a
  # file's bytes, or {relative path: bytes} for a directory. The types in `calibrated_types`
  # are calibrated on images.
  export_flag: str = ""
  beside_writer: str = ""
  calibrated_types: tuple = ()
  # The export's result -> (type, path, extra manifest fields) of each file written.
  files_written: Callable = lambda result: []
  # Each file written comes with a directory `<file><companion_suffix>` (ONNX's test vectors),
  # placed with it and recorded in its manifest entry (`companions`); "": none.
  companion_suffix: str = ""
  # What its files add to a module version's time in a regeneration (export/pipeline/estimate.py),
  # in units of one artifact's fixed cost: per type, and per billion multiply-adds of the variant.
  cost_per_type: float = 0.0
  cost_per_billion_macs: float = 0.0
  # (Kaggle handle, the instance's file name, image size) -> Python lines that download and
  # load it with its own client, for the instance's usage notes
  kaggle_usage: Callable = lambda handle, file_name, image_size: []

  def export_request(self, types) -> dict:
    """The ExportOptions fields that make these types beside a SavedModel export."""
    return {self.export_flag: True, f"{self.export_flag}_types": tuple(types)}

  def requested_types(self, options) -> tuple:
    """The types an ExportOptions asks of this format; () for none."""
    if not self.export_flag or not getattr(options, self.export_flag):
      return ()
    return tuple(getattr(options, f"{self.export_flag}_types"))

  def convert_beside(self, inputs, export_dir: str, types, **options) -> list:
    """[(written, content)] of each type, converted from `inputs` and checked; writes nothing."""
    module = importlib.import_module(self.beside_writer)
    return module.convert_beside(inputs, export_dir, types, **options)

  def describe(self, kind: str = "") -> str:
    return self.title.format(kind=kind or self.types[0])

  @property
  def typed(self) -> bool:
    """Whether one module gets several kinds of this file (LiteRT's float32 ... uint8)."""
    return self.types != ("",)

  def infix(self, kind: str = "") -> str:
    kind = kind or self.types[0]
    if kind not in self.types:
      raise ValueError(f"unknown {self.name} type {kind!r}; expected one of {self.types}")
    return "" if kind == self.types[0] else f".{kind}"

  def path_beside(self, export_path: str, kind: str = "") -> str:
    """This format's file beside an export: `<export_dir>.int8.tflite`."""
    return f"{export_path}{self.infix(kind)}{self.suffix}"

  def relative_path(self, handle: str, version: Optional[int], stem: str, kind: str = "") -> str:
    """Its path in TF Hub's layout: `<handle>/<version><infix><suffix>` for a file per
    version, `<handle>/<name>/<stem><infix><suffix>` for a file per module."""
    if self.per_version:
      return f"{handle}/{version}{self.infix(kind)}{self.suffix}"
    return f"{handle}/{self.name}/{stem}{self.infix(kind)}{self.suffix}"

  def file_name(self, stem: str, kind: str = "") -> str:
    """A file of this format named after its module: `<stem>_int8.tflite`."""
    infix = self.infix(kind)
    return f"{stem}{infix.replace('.', '_')}{self.suffix}"

  def owns(self, path: str) -> bool:
    """Whether `path` names a file of this format, or a directory of a directory format with
    a suffix (`5.tfjs/`); the SavedModel, a directory without one, owns no suffix."""
    return bool(self.suffix) and str(path).rstrip("/" + os.sep).endswith(self.suffix)

  def kaggle_slug_suffix(self, kind: str = "") -> str:
    kind = kind or self.types[0]
    return self.kaggle_slug_suffixes[self.types.index(kind)]

  def agreement(self, outputs, reference, module_type: str, kind: str = ""):
    """How closely `outputs` reproduce the SavedModel's `reference` on the same images, against
    this format's threshold for `kind` (`agreement.Agreement`; `.passed`, `.shortfalls`)."""
    kind = kind or self.types[0]
    threshold = self.thresholds[self.types.index(kind)]
    return agreement_lib.measure(kind or self.name, outputs, reference, module_type, threshold)

  def write_module_file(self, checkpoint_path: str, path: str, *, spec, use_ema: bool) -> None:
    """Writes a format made per module from a checkpoint (`spec`: a nets.variants.ModelSpec)."""
    module = importlib.import_module(self.writer)
    module.write_module_file(checkpoint_path, path, spec=spec, use_ema=use_ema)

  def implementation_module(self):
    return importlib.import_module(self.implementation)

  def check(self, path: str) -> None:
    """LoadError (one line) unless `path` looks like an export of this format; reads little."""
    self.implementation_module().check(path)

  def load(self, path: str) -> Loaded:
    """The export at `path` loaded on its own; LoadError (one line) if it cannot be."""
    loader: Callable[[str], Loaded] = self.implementation_module().load
    return loader(path)
