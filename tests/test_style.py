"""The style is kept by a tool: ruff's lint and format (pyproject.toml) hold on the whole tree."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff(*arguments):
  return subprocess.run(
    [sys.executable, "-m", "ruff", *arguments, "."],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )


def test_ruff_lint_is_clean():
  result = _ruff("check", "--output-format=concise")
  assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
  result = _ruff("format", "--check")
  assert result.returncode == 0, result.stdout + result.stderr
