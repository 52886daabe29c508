"""What tests, goldens, benchmarks and the quickstart are made from, never the library.

`synthetic_checkpoint` writes nets/synthetic.py's seeded values as a checkpoint in the released
layout (the inverse of `export.core.checkpoint`). Its users are scripts/make_*.py,
scripts/benchmark*.py, scripts/quickstart.sh (through make_synthetic_checkpoint.py) and the
tests; no module of `export` imports it.

May import: `export.base`, `nets`, TensorFlow. Never any other `export` package.
"""
