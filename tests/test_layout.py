"""The layout holds: imports go downward only, in no circle, modules stay small, `nets` is ours.

Each package's `__init__.py` states what it may import; this test enforces it on every
import statement (top-level and inside functions), so a shortcut cannot creep in. The
scripts/*.py binaries may import anything; scripts/benchmarking, the package beside them, has
its rule like every other.
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
  "export.testing": ("nets", "export.base"),
  "export.formats": ("nets", "export.base", "export.core"),
  "export.runtime": ("nets", "export.base", "export.core", "export.formats"),
  "export.verification": (
    "nets",
    "export.base",
    "export.core",
    "export.formats",
    "export.runtime",
  ),
  "export.publish": ("nets", "export.base", "export.core", "export.formats"),
  "export.pipeline": (
    "nets",
    "export.base",
    "export.core",
    "export.formats",
    "export.runtime",
    "export.verification",
    "export.publish",
  ),
  "export.kaggle": ("nets", "export.base", "export.formats", "export.publish", "export.pipeline"),
}
# A format's package has the rule of `export.formats`.
ALLOWED.update(
  {
    f"export.formats.{path.name}": ALLOWED["export.formats"]
    for path in (ROOT / "export" / "formats").iterdir()
    if (path / "__init__.py").is_file()
  }
)
# The libraries under `export`, not its binaries.
ALLOWED["benchmarking"] = (
  "nets",
  *(package for package in ALLOWED if package.startswith("export.")),
)
# Top-level names of the project's modules; scripts/ is on sys.path when its binaries run.
PROJECT_NAMES = ("nets", "export", "benchmarking") + tuple(
  path.stem for path in (ROOT / "scripts").glob("*.py")
)
MAX_LINES = 400


def _modules(*folders):
  for folder in folders:
    for path in sorted((ROOT / folder).rglob("*.py")):
      yield path


def _module_name(path: pathlib.Path) -> str:
  # scripts/ is on sys.path when its binaries run: scripts/benchmarking/x.py is benchmarking.x.
  root = ROOT / "scripts" if path.is_relative_to(ROOT / "scripts") else ROOT
  parts = path.relative_to(root).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(*folders) -> dict:
  """Module name -> source of every module under `folders`."""
  return {_module_name(path): path.read_text() for path in _modules(*folders)}


def _imported_names(source: str) -> set:
  """Every name an import statement of `source` names, at any depth of the code."""
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names |= {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names |= {f"{node.module}.{alias.name}" for alias in node.names}
  return names


def _project_imports(source: str) -> set:
  return {name for name in _imported_names(source) if name.split(".")[0] in PROJECT_NAMES}


def _package(module: str) -> str:
  if module.split(".")[0] in ("nets", "benchmarking"):
    return module.split(".")[0]
  if module in BINARIES or module == "export":
    return module
  return ".".join(module.split(".")[:2])


def _layer_problems(module: str, source: str) -> list:
  package = _package(module)
  if package not in ALLOWED:
    return []  # a binary: it may import any library
  allowed = (package,) + ALLOWED[package]
  return [
    f"{module} imports {name}"
    for name in sorted(_project_imports(source))
    if _package(name) not in allowed and not name.startswith(allowed)
  ]


def test_imports_go_downward_only():
  sources = _sources("nets", "export", "scripts")
  problems = [p for module, source in sources.items() for p in _layer_problems(module, source)]
  assert problems == []


@pytest.mark.parametrize(
  "module,statement,problem",
  [
    ("export.core.probe", "from export.formats import registry", "export.formats.registry"),
    (
      "export.kaggle.probe",
      "from export.verification import verifier",
      "export.verification.verifier",
    ),
    ("benchmarking.probe", "from export import cli", "export.cli"),
    ("benchmarking.probe", "import benchmark", "benchmark"),
  ],
)
def test_the_checker_sees_an_upward_import(module, statement, problem):
  source = f"def f():\n  {statement}\n"  # inside a function: still an import
  assert _layer_problems(module, source) == [f"{module} imports {problem}"]


def test_every_package_has_an_import_rule():
  packages = {
    _module_name(init)
    for folder in ("nets", "export", "scripts")
    for init in (ROOT / folder).rglob("__init__.py")
  }
  assert sorted(packages - set(ALLOWED) - {"export"}) == []


# --- no circles ----------------------------------------------------------------------------
def _import_graph(sources: dict) -> dict:
  """Module -> the modules of `sources` it imports; `from a import b` is a.b if that is a
  module, else a."""
  graph = {}
  for module, source in sources.items():
    graph[module] = set()
    for name in _imported_names(source):
      while name not in sources and "." in name:
        name = name.rsplit(".", 1)[0]
      if name in sources and name != module:
        graph[module].add(name)
  return graph


def _circles(graph: dict) -> list:
  """The sets of modules that import one another, directly or around a circle, sorted."""
  reaches = {module: set() for module in graph}
  for start in graph:
    stack = list(graph[start])
    while stack:
      module = stack.pop()
      if module not in reaches[start]:
        reaches[start].add(module)
        stack.extend(graph[module])
  circles = {
    tuple(sorted(other for other in reaches[module] if module in reaches[other]))
    for module in graph
    if module in reaches[module]
  }
  return sorted(list(circle) for circle in circles)


def test_no_modules_import_each_other():
  # Function-level imports count: deferring an import (to keep TensorFlow out of a process
  # that does not need it) defers the loading, not the dependency.
  assert _circles(_import_graph(_sources("nets", "export", "scripts"))) == []


def test_the_circle_finder_sees_a_circle_closed_inside_a_function():
  sources = {
    "pkg": "",
    "pkg.low": "def f():\n  from pkg import high\n",
    "pkg.middle": "from pkg import low\n",
    "pkg.high": "import pkg.middle\n",
    "pkg.top": "from pkg.high import CONSTANT\n",
  }
  assert _circles(_import_graph(sources)) == [["pkg.high", "pkg.low", "pkg.middle"]]


def test_the_base_layer_does_not_import_tensorflow():
  for path in _modules("export/base"):
    tree = ast.parse(path.read_text())
    imported = {
      alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
    }
    assert "tensorflow" not in imported, path


# Read before TensorFlow is imported: the binaries check their options, and the orchestrator
# plans, in milliseconds. Imported for real, so an import hidden in a function body called at
# import time, or one pulled in by another module, counts too.
TENSORFLOW_FREE = (
  "export.core.options",
  "export.formats.registry",
  "export.runtime.loading",
  "export.pipeline.plan",
)


@pytest.mark.parametrize("module", TENSORFLOW_FREE)
def test_options_and_the_format_registry_import_no_tensorflow(module):
  code = (
    f"import sys, {module}; "
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')))"
  )
  result = subprocess.run(
    [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("folder", ["nets", "export", "scripts"])
def test_no_module_is_over_400_lines(folder):
  long = {
    str(path.relative_to(ROOT)): n
    for path in _modules(folder)
    if (n := len(path.read_text().splitlines())) > MAX_LINES
  }
  assert long == {}


def test_every_package_says_its_job_and_what_it_may_import():
  inits = [ROOT / "nets" / "__init__.py", ROOT / "scripts" / "benchmarking" / "__init__.py"]
  for init in sorted((ROOT / "export").rglob("__init__.py")) + inits:
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
