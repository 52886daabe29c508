"""MobileNet V2 as data, and its interpreters: the bottom layer, with no files and no binaries.

`architecture` (the layer table, variable layout, module types, validation), `variants` (the
22 released checkpoints), `mobilenet_v2` (TF-Slim's graph), `numpy_mobilenet_v2` (float64,
fixed summation order) with its compiled inner loops `exact_kernels`, `synthetic` (synthetic
checkpoint values), `compat` (tf-slim on TF 2.21).

May import: the standard library, NumPy, Numba, TensorFlow and tf-slim. Never `export`.
"""
