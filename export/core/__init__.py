"""The network and checkpoint core: from a TF-Slim checkpoint to a TF2 module, and pictures.

`checkpoint` (reading a prefix or a released .tgz, strict accounting, the EMA rule),
`network` (MobileNet V2 in TF2, interpreting nets/architecture.py), `reusable_module` (the TF
Hub Reusable SavedModel around it), `options` (what an export is asked for, checked without
TensorFlow), `labels` (the 1001 ImageNet labels), `images` (picture files decoded and resized
as the network takes them). The formats written from a module are in `export.formats`.

May import: `export.base`, `nets`, TensorFlow (never in `options`). Never `export.formats` or
anything above it, nor the binaries.
"""
