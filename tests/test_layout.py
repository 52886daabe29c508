"""The layout holds: imports go downward only, modules stay small, `nets` is ours.

Each package's `__init__.py` states what it may import; this test enforces it on every
import statement (top-level and inside functions), so a shortcut cannot creep in.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BINARIES = (
  "export.cli",
  "export.export_saved_model",
  "export.verify",
  "export.classify",
  "export.model_card",
)
# package -> the project packages its modules may import (besides their own package).
ALLOWED = {
  "nets": (),
  "export.base": ("nets",),
  "export.core": ("nets", "export.base"),
  "export.verification": ("nets", "export.base", "export.core"),
  "export.publish": ("nets", "export.base", "export.core"),
  "export.pipeline": (
    "nets",
    "export.base",
    "export.core",
    "export.verification",
    "export.publish",
  ),
}
MAX_LINES = 400


def _modules(*folders):
  for folder in folders:
    for path in sorted((ROOT / folder).rglob("*.py")):
      yield path


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_imports(path: pathlib.Path) -> set:
  names = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names |= {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names |= {f"{node.module}.{alias.name}" for alias in node.names}
  return {name for name in names if name.split(".")[0] in ("nets", "export")}


def _package(module: str) -> str:
  if module.startswith("nets"):
    return "nets"
  if module in BINARIES or module == "export":
    return module
  return ".".join(module.split(".")[:2])


def _layer_problems(path: pathlib.Path) -> list:
  module = _module_name(path)
  package = _package(module)
  if package not in ALLOWED:
    return []  # a binary: it may import any library
  allowed = (package,) + ALLOWED[package]
  return [
    f"{module} imports {name}"
    for name in sorted(_project_imports(path))
    if _package(name) not in allowed and not name.startswith(allowed)
  ]


def test_imports_go_downward_only():
  problems = [p for path in _modules("nets", "export") for p in _layer_problems(path)]
  assert problems == []


def test_the_checker_sees_an_upward_import(tmp_path):
  fake = ROOT / "export" / "base" / "_upward_probe.py"
  fake.write_text("from export.core import exporter\n")
  try:
    assert _layer_problems(fake) == ["export.base._upward_probe imports export.core.exporter"]
  finally:
    fake.unlink()


def test_the_base_layer_does_not_import_tensorflow():
  for path in _modules("export/base"):
    tree = ast.parse(path.read_text())
    imported = {
      alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
    }
    assert "tensorflow" not in imported, path


@pytest.mark.parametrize("folder", ["nets", "export", "scripts"])
def test_no_module_is_over_400_lines(folder):
  long = {
    str(path.relative_to(ROOT)): n
    for path in _modules(folder)
    if (n := len(path.read_text().splitlines())) > MAX_LINES
  }
  assert long == {}


def test_every_package_says_its_job_and_what_it_may_import():
  for init in sorted((ROOT / "export").rglob("__init__.py")) + [ROOT / "nets" / "__init__.py"]:
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert "import" in doc.lower() and len(doc.splitlines()) >= 2, init


def test_another_nets_package_on_the_path_is_refused_at_import(tmp_path):
  # tensorflow/models' research/slim also has a top-level `nets` package; people converting
  # TF-Slim checkpoints often have it on PYTHONPATH.
  impostor = tmp_path / "nets"
  impostor.mkdir()
  (impostor / "__init__.py").write_text("")
  (impostor / "mobilenet_v2.py").write_text("")
  (impostor / "architecture.py").write_text("")
  result = subprocess.run(
    [sys.executable, "-c", "from export.base import versions"],
    cwd=tmp_path,
    env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin"},
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode != 0
  assert (
    result.stderr.strip()
    .splitlines()[-1]
    .endswith(
      f"'nets' is {impostor}, not this project's ({ROOT / 'nets'}): another package named "
      f"nets (tensorflow/models' research/slim has one) is earlier on sys.path; remove it "
      f"from PYTHONPATH"
    )
  )
