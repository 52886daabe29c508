"""The parts of the benchmark binaries, scripts/benchmark.py and scripts/benchmark_litert.py,
each importing only those listed before it:

  processes   the variant measured, and the fresh processes (`benchmark.py --child`) that
              measure what must not share a process
  keras_twin  Keras' own MobileNetV2 carrying the checkpoint's weights, the yardstick
  keras3      the .keras file on the TensorFlow and JAX backends
  litert      the LiteRT models' speed, size and agreement
  measure     exports, serving, sizes and load times, and what each `--child` measures
  report      the targets, the Markdown report and the chart

May import: `nets` and the libraries of `export` (never its binaries, nor a script). Imported
only by the scripts/benchmark*.py binaries, which put this folder's parent on sys.path by
being run from it.
"""
