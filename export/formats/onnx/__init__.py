"""ONNX: the inference function as `.onnx` models (float32, int8) with test vectors, written
beside the SavedModel and checked against it (docs/onnx.md).

`exporter` (the models beside an export, checked before they are placed), `model` (tf2onnx's
conversion of the folded network, names and bytes made stable), `quantize` (ONNX Runtime's
static QDQ quantization on exact ranges). Not yet in the registry (export/formats/registry.py):
the regeneration and the publisher do not make it; its package declares no `FORMAT` yet.

May import: `export.base`, `export.core`, `nets`, the other formats' packages (LiteRT's folded
network and calibration), tf2onnx, onnx and ONNX Runtime (only here).
"""
