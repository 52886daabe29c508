"""The style is kept by a tool: ruff's lint and format (pyproject.toml) hold on the project's own
sources, and only on them. What the docs' commands write into the checkout (a regeneration's
hub/ with its model cards, checkpoints/, out/, ...) is not checked, whether or not .gitignore
lists it: pyproject.toml's `include` names the sources, and the checks ignore .gitignore."""

import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# What pyproject.toml's `include` draws from; copied to try the checks on a stray file.
SOURCES = ("export", "nets", "scripts", "tests", "docs", "README.md", "WORKSPACE-notes.md")
BADLY_FORMATTED_PYTHON = "import os\nx  =  [1,2]\n"  # an unused import, and spacing
BADLY_FORMATTED_MARKDOWN = "# A card\n\n```python\nx  =  [1,2]\n```\n"
# Where the README and docs write into the checkout; a model card is a .md with Python in it.
OUTPUTS = (
  "hub/google/imagenet/mobilenet_v2_075_96/classification/5.md",
  "hub/stray.py",
  "checkpoints/stray.py",
  "out/stray.py",
  "quickstart_out/stray.md",
)


def _ruff(root, *arguments):
  return subprocess.run(
    [sys.executable, "-m", "ruff", *arguments, "--no-respect-gitignore", "."],
    cwd=root,
    capture_output=True,
    text=True,
    timeout=120,
  )


def _lint(root=ROOT):
  return _ruff(root, "check", "--output-format=concise")


def _format_check(root=ROOT):
  return _ruff(root, "format", "--check")


def test_ruff_lint_is_clean():
  result = _lint()
  assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
  result = _format_check()
  assert result.returncode == 0, result.stdout + result.stderr


def _write(path: pathlib.Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def test_only_the_projects_own_sources_are_checked(tmp_path):
  checkout = tmp_path / "checkout"
  checkout.mkdir()
  shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
  for name in SOURCES:
    source = ROOT / name
    if source.is_dir():
      shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
      shutil.copy(source, checkout / name)
  for output in OUTPUTS:
    _write(
      checkout / output,
      BADLY_FORMATTED_MARKDOWN if output.endswith(".md") else BADLY_FORMATTED_PYTHON,
    )
  # Not run as a git checkout, and told to ignore .gitignore: only the configuration decides.
  assert not (checkout / ".gitignore").exists()
  assert _lint(checkout).returncode == 0, _lint(checkout).stdout
  assert _format_check(checkout).returncode == 0, _format_check(checkout).stdout

  # The same files among the sources are found, so the checks above did look.
  _write(checkout / "export" / "stray.py", BADLY_FORMATTED_PYTHON)
  _write(checkout / "docs" / "stray.md", BADLY_FORMATTED_MARKDOWN)
  lint, format_check = _lint(checkout), _format_check(checkout)
  assert lint.returncode == 1
  assert _flagged(lint.stdout) == {"export/stray.py"}  # F401; .md files are formatted only
  assert format_check.returncode == 1
  assert _flagged(format_check.stdout) == {"export/stray.py", "docs/stray.md"}


def _flagged(output: str) -> set:
  """The files a ruff report names (`path:line:column` in its concise and full forms)."""
  return set(re.findall(r"^(?: *--> )?([^\s:]+\.(?:py|md)):\d+:\d+", output, re.MULTILINE))
