"""TF.js: the inference function as graph models (float32, float16, uint8 weights), written
beside the SavedModel after Node's `@tensorflow/tfjs` agrees with it (docs/tfjs.md).

`exporter` (the models of an export, checked in Node, then written), `converter` (the pinned
tensorflowjs converter, called in-process, with canonical output), `node` (running a model in
Node, the client web users run), `server` (the demo page's loopback server, for
`python -m export.serve_tfjs`). Not yet in the registry (export/formats/registry.py): the
regeneration and the publisher do not make it; its package declares no `FORMAT` yet.

May import: `export.base`, `export.core`, `nets`, the other formats' packages (LiteRT's folded
network), TensorFlow and the tensorflowjs converter.
"""
