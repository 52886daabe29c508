"""The formats a module is written in: one package per format and the registry that lists them.

`format` (the `Format` descriptor: a format's name, file suffix, paths, Kaggle rules and the
module implementing it), `registry` (every format, in order; lookup by name and by path),
and a package per format: `saved_model` (the Reusable SavedModel; `exporter` writes it and the
formats made beside it), `keras` (the Keras 3 file), `litert` (the LiteRT models of four
types: converter, network, calibration, metadata), `onnx` (the ONNX models and their test
vectors: exporter, model, quantize, loader), `tfjs` (the TF.js graph models, run in Node), and
`agreement` (a format's outputs against the SavedModel's); `beside` checks what an export asks
of the formats made beside it, and `beside_inputs` is what they are converted from, computed
once per export. Each package's `__init__` declares its format without importing
TensorFlow.
docs/architecture.md says how to add a format.

May import: `export.core`, `export.base`, `nets`. Never `export.runtime`, `export.verification`
or anything above, nor the binaries.
"""
