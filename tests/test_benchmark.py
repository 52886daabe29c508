"""scripts/benchmark.py refuses at once what would make it fail after minutes of work, and
writes into the checkout's docs/ only when asked (the benchmark itself is not run here)."""

import os
import pathlib

import binaries
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMITTED = ("benchmark.md", "benchmark.png")


def _benchmark(*flags, blocked=(), path=()):
  # `benchmark` as a module from scripts/, where its `benchmarking` package lives. TensorFlow is
  # blocked too: every refusal here must come before the work imports it.
  return binaries.run(
    "benchmark",
    *flags,
    blocked=("tensorflow", *blocked),
    environment={"PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), *map(str, path)])},
  )


def _committed() -> dict:
  return {name: (ROOT / "docs" / name).read_bytes() for name in COMMITTED}


@pytest.mark.parametrize(
  "blocked,needs,extras",
  [
    (("matplotlib",), "matplotlib", "benchmark"),
    (("matplotlib", "jax"), "matplotlib and jax", "benchmark,jax"),
  ],
)
def test_missing_optional_modules_are_one_line_before_any_work(tmp_path, blocked, needs, extras):
  committed = _committed()
  run = _benchmark(f"--output_dir={tmp_path / 'out'}", blocked=blocked)
  assert run.returncode == 1, run.stderr
  plural = "s" if "," in extras else ""
  assert run.stderr.splitlines() == [
    f"error: scripts/benchmark.py needs {needs}, not installed: install the {extras} "
    f"extra{plural} (pip install -e '.[{extras}]')"
  ]
  assert run.stdout == ""
  assert not (tmp_path / "out").exists()
  assert _committed() == committed


def test_the_output_directory_must_be_given(tmp_path):
  committed = _committed()
  run = _benchmark(blocked=("matplotlib",))
  assert run.returncode == 2, run.stderr
  assert run.stderr.splitlines() == ["error: --output_dir is required"]
  assert _committed() == committed


def test_an_unwritable_output_directory_is_one_line_before_any_work(tmp_path):
  # Stand-ins, so that the optional modules count as installed wherever the test runs.
  for name in ("matplotlib", "jax"):
    (tmp_path / "stubs" / name).mkdir(parents=True)
    (tmp_path / "stubs" / name / "__init__.py").write_text("")
  (tmp_path / "file").write_text("")
  output = tmp_path / "file" / "out"
  run = _benchmark(f"--output_dir={output}", path=[tmp_path / "stubs"])
  assert run.returncode == 1, run.stderr
  assert run.stderr.splitlines() == [
    f"error: --output_dir={output}: cannot create it, {tmp_path / 'file'} is not a directory"
  ]
