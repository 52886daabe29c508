"""The parts of scripts/benchmark.py: `measure` (what is timed and sized, and the fresh
processes that time exports and loads) and `report` (targets, Markdown and chart).

May import: `export`, `nets`. Imported only by scripts/benchmark.py, which puts this folder's
parent on sys.path by being run from it.
"""
