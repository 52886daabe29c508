"""From a TF-Slim checkpoint to the published formats, and back to running them.

`checkpoint` (reading a prefix or a released .tgz, strict accounting, the EMA rule),
`network` (MobileNet V2 in TF2, interpreting nets/architecture.py), `reusable_module` (the TF
Hub Reusable SavedModel around it), `options` (what an export is asked for, checked without
TensorFlow), `exporter` (the library behind the export binary), `keras_model` and
`keras_exporter` (the Keras 3 file), `litert*` (the LiteRT models: folding, calibration,
conversion, agreement, metadata), `tfjs*` (the TF.js graph models: conversion with the pinned
converter, Node as their judge, the demo page's loopback server), `reference` (the
checkpoint in TF-Slim's own graph),
`synthetic_checkpoint` (writes nets/synthetic.py's values as a checkpoint), `labels`,
`images` and `classifier` (image files through a module to labels). `onnx_*`: the ONNX
models (tf2onnx conversion of the folded network, int8 quantization with exact ranges, checks
and test vectors); they alone import tf2onnx, onnx and ONNX Runtime.

May import: `export.base`, `nets`, TensorFlow. Never `export.verification`, `export.publish`,
`export.pipeline` or the binaries.
"""
