"""The commands and Python snippets in README.md and docs/*.md name things that exist.

Shell blocks (```sh): every command's program must exist (a module for `python -m`, a file
for `python scripts/x.py` and `bash scripts/x.sh`, an entry of setup.cfg for a console
script) and every `--flag` must be one the program defines, as its own `--helpfull` lists
them; the values of --variant, --variants, --module_type and --version must be valid. The
`--helpfull` run is the command as a reader pastes it, into a fresh shell in the project's
root: a minimal PATH, and the project's virtualenv only once the page has said
`source .venv/bin/activate` (a bare `python` finds no TensorFlow, or no Python, otherwise).
Programs outside the project must be on a short list. Python blocks (```python) must parse,
and every module, name and module attribute they use from `export` and `nets` must exist.
The checker itself is tested on a page of rotten docs, so it cannot silently pass everything.

tests/test_doc_pages.py then follows each page, running its commands as a reader would.
"""

import ast
import configparser
import dataclasses
import functools
import importlib
import importlib.util
import os
import pathlib
import re
import shlex
import subprocess
import sys
from typing import Optional

import pytest

from export.base import versions
from nets import variants

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_LANGUAGES = ("sh", "bash", "shell")
PROJECT_PACKAGES = ("export", "nets")
PYTHONS = ("python", "python3", "python3.11")
# Programs the docs may run that are not the project's; their arguments are not checked.
OTHER_PROGRAMS = ("cd", "pip", "git", "ls", "tar", "mkdir", "source")
SEPARATORS = ("&&", "||", ";", "|", "&")
ACTIVATION = "source .venv/bin/activate"
# A fresh login's PATH on the machines the README is for: no virtualenv, no pyenv shims.
FRESH_PATH = "/usr/local/bin:/usr/bin:/bin"
REDIRECTIONS = (">", ">>", "<", "2>")


@dataclasses.dataclass(frozen=True)
class Block:
  where: str  # file:line of the first line inside the fence
  language: str
  text: str


@dataclasses.dataclass(frozen=True)
class Command:
  where: str
  program: tuple  # ("module", "export.verify"), ("script", path), ("bash", path) or ("other", name)
  arguments: tuple
  interpreter: str = "python"  # the word that runs it, as written (python, .venv/bin/python, ...)
  activated: bool = False  # whether the page said to activate the virtualenv before it


def blocks(path: pathlib.Path, text: Optional[str] = None) -> list:
  text = path.read_text() if text is None else text
  name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
  return [
    Block(f"{name}:{text.count(chr(10), 0, match.start()) + 2}", match.group(1), match.group(2))
    for match in FENCE.finditer(text)
  ]


# --- shell blocks ------------------------------------------------------------------------
def shell_words(line: str) -> list:
  lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
  lexer.whitespace_split = True
  lexer.commenters = "#"
  return list(lexer)


def commands(block: Block, activated: bool = False) -> list:
  """The commands of a shell block, split at separators, with environment settings dropped;
  those after `source .venv/bin/activate` (or with `activated`) run in the virtualenv."""
  found = []
  for line in block.text.replace("\\\n", " ").splitlines():
    words, current = shell_words(line), []
    for word in words + [";"]:
      if word in SEPARATORS:
        if current:
          found.append(_command(block.where, current, activated))
          activated = activated or current[:2] == ACTIVATION.split()
        current = []
      else:
        current.append(word)
  return found


def _command(where: str, words: list, activated: bool) -> Command:
  words = list(words)
  while words and re.match(r"^[A-Za-z_]\w*=", words[0]):  # CHECKPOINT=... bash ...
    words.pop(0)
  words = [
    word
    for i, word in enumerate(words)
    if word not in REDIRECTIONS and (i == 0 or words[i - 1] not in REDIRECTIONS)
  ]
  program, rest = words[0], words[1:]
  if program in PYTHONS or program.endswith("/bin/python"):
    if rest[:1] == ["-m"]:
      return Command(where, ("module", rest[1]), tuple(rest[2:]), program, activated)
    return Command(where, ("script", rest[0]), tuple(rest[1:]), program, activated)
  if program == "bash":
    return Command(where, ("bash", rest[0]), tuple(rest[1:]), program, activated)
  if program in console_scripts():
    return Command(where, ("module", console_scripts()[program]), tuple(rest), program, activated)
  return Command(where, ("other", program), tuple(rest), program, activated)


def page_commands(page_blocks: list) -> list:
  """The commands of one page's shell blocks, each knowing whether the page activated the
  virtualenv before it."""
  found, activated = [], False
  for block in page_blocks:
    if block.language in SHELL_LANGUAGES:
      found += commands(block, activated)
      activated = activated or ACTIVATION in block.text
  return found


@functools.lru_cache(maxsize=None)
def console_scripts() -> dict:
  """Console-script name -> module, from setup.cfg."""
  config = configparser.ConfigParser()
  config.read(ROOT / "setup.cfg")
  entries = config["options.entry_points"]["console_scripts"].strip().splitlines()
  return {
    name.strip(): target.split(":")[0].strip()
    for name, target in (entry.split("=") for entry in entries)
  }


def program_problem(program: tuple):
  """Why the program does not exist, or None."""
  kind, name = program
  if kind == "module":
    try:
      found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
      found = None
    return None if found else f"no module {name}"
  if kind in ("script", "bash"):
    return None if (ROOT / name).is_file() else f"no file {name}"
  return None if name in OTHER_PROGRAMS else f"unknown program {name!r}"


def _helpfull_command(launch: tuple) -> list:
  """The shell line that asks the program for its flags, as the docs launch it."""
  (kind, name), interpreter, activated = launch
  if interpreter in console_scripts():
    line = f"{interpreter} --helpfull"
  else:
    target = f"-m {name}" if kind == "module" else shlex.quote(name)
    line = f"{shlex.quote(interpreter)} {target} --helpfull"
  return ["bash", "-c", f"{ACTIVATION} && {line}" if activated else line]


def defined_flags(launches) -> dict:
  """(program, interpreter, activated) -> {flag name: is boolean} (or the error it gave), from
  --helpfull run in a fresh shell as a reader would, in parallel."""
  env = {"PATH": FRESH_PATH, "HOME": os.environ.get("HOME", "/"), "TF_CPP_MIN_LOG_LEVEL": "2"}
  running = {
    launch: subprocess.Popen(
      _helpfull_command(launch),
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for launch in launches
  }
  flags = {}
  for launch, process in running.items():
    stdout, stderr = process.communicate(timeout=180)
    names = {
      name: bool(no)
      for no, name in re.findall(r"^\s+(?:-\w+,)?--(\[no\])?(\w+):", stdout, re.MULTILINE)
    }
    flags[launch] = names or (stderr.strip().splitlines() or ["no output"])[-1]
  return flags


def _launch(command: Command) -> tuple:
  return command.program, command.interpreter, command.activated


def _variant_list(value: str) -> None:
  if value != "all":
    for name in value.split(","):
      variants.by_name(name)


def _module_type(value: str) -> None:
  if value not in variants.MODULE_TYPES:
    raise ValueError(f"not a module type: {value}")


VALUE_CHECKS = {
  "variant": variants.by_name,
  "variants": _variant_list,
  "module_type": _module_type,
  "version": lambda value: versions.get(int(value)),
}


def flag_problems(command: Command, flags) -> list:
  if isinstance(flags, str):
    where = "" if command.activated else f" (the page never says {ACTIVATION!r})"
    return [f"{command.program[1]} does not run as written{where}: {flags}"]
  problems = []
  for argument in command.arguments:
    match = re.match(r"^\[?--(\w+)(?:=([^\]]*))?\]?$", argument)
    if not match:
      continue  # a positional argument or a short option
    name, value = match.groups()
    known = name in flags or (name.startswith("no") and flags.get(name[2:]) is True)
    if not known:
      problems.append(f"{command.program[1]} has no flag --{name}")
    elif name in VALUE_CHECKS and value and not re.search(r"[<$]", value):
      try:
        VALUE_CHECKS[name](value)
      except ValueError as error:
        problems.append(f"--{name}={value}: {error}")
  return problems


def shell_problems(all_commands: list) -> list:
  problems = [f"{c.where}: {p}" for c in all_commands if (p := program_problem(c.program))]
  with_flags = {
    _launch(c)
    for c in all_commands
    if c.program[0] in ("module", "script") and not program_problem(c.program)
  }
  flags = defined_flags(sorted(with_flags))
  for command in all_commands:
    if _launch(command) in flags:
      problems += [f"{command.where}: {p}" for p in flag_problems(command, flags[_launch(command)])]
  return problems


# --- python blocks -----------------------------------------------------------------------
def _is_project(module_name: str) -> bool:
  return module_name.split(".")[0] in PROJECT_PACKAGES


def python_problems(block: Block) -> list:
  try:
    tree = ast.parse(block.text)
  except SyntaxError as error:
    return [f"{block.where}: does not parse ({error.msg}, line {error.lineno})"]
  problems, modules = [], {}  # local name -> imported project module
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if _is_project(alias.name):
          try:
            module = importlib.import_module(alias.name)
          except ImportError:
            problems.append(f"{block.where}: no module {alias.name}")
            continue
          local = alias.asname or alias.name.split(".")[0]
          modules[local] = module if alias.asname else importlib.import_module(local)
    elif isinstance(node, ast.ImportFrom) and node.module and _is_project(node.module):
      for alias in node.names:
        try:
          value = importlib.import_module(f"{node.module}.{alias.name}")
        except ImportError:
          value = getattr(importlib.import_module(node.module), alias.name, None)
        if value is None:
          problems.append(f"{block.where}: {node.module} has no {alias.name}")
        elif isinstance(value, type(sys)):
          modules[alias.asname or alias.name] = value
  for node in ast.walk(tree):
    if (
      isinstance(node, ast.Attribute)
      and isinstance(node.value, ast.Name)
      and node.value.id in modules
      and not hasattr(modules[node.value.id], node.attr)
    ):
      problems.append(f"{block.where}: {modules[node.value.id].__name__} has no {node.attr}")
  return problems


# --- the tests ---------------------------------------------------------------------------
def _doc_blocks():
  return [block for path in DOC_FILES for block in blocks(path)]


def _doc_commands():
  return [command for path in DOC_FILES for command in page_commands(blocks(path))]


@pytest.mark.slow
def test_every_command_in_the_docs_exists_with_its_flags():
  all_commands = _doc_commands()
  assert len(all_commands) >= 10, "the docs lost their commands, or the parser broke"
  assert shell_problems(all_commands) == []


def test_every_python_snippet_in_the_docs_uses_what_exists():
  python_blocks = [block for block in _doc_blocks() if block.language == "python"]
  assert python_blocks
  assert [problem for block in python_blocks for problem in python_problems(block)] == []


def test_every_console_script_is_documented():
  documented = {command.program[1] for command in _doc_commands() if command.program[0] == "module"}
  assert sorted(set(console_scripts().values()) - documented) == []


ROTTEN_PAGE = """
```sh
python -m export.model_card --variant=mobilenet_v2_075_96
source .venv/bin/activate
```

```sh
python -m export.no_such_module --flag=1
python -m export.model_card --no_such_flag=1 --variant=mobilenet_v2_999_96 \\
    --module_type=segmentation --version=9 --nomodule_type
CHECKPOINT=x bash scripts/no_such.sh && frobnicate --x   # a comment --not_a_flag
```

```python
from export import model_card, no_such_module
from nets import variants as table
model_card.no_such_function()
table.VARIANTS, table.NO_SUCH_TABLE
```

```python
def broken(:
```
"""


def test_the_checker_finds_rotten_docs(tmp_path):
  page = tmp_path / "rotten.md"
  page.write_text(ROTTEN_PAGE)
  found = blocks(page)
  shell = page_commands(found)
  assert [(c.program, c.activated) for c in shell] == [
    (("module", "export.model_card"), False),
    (("other", "source"), False),
    (("module", "export.no_such_module"), True),
    (("module", "export.model_card"), True),
    (("bash", "scripts/no_such.sh"), True),
    (("other", "frobnicate"), True),
  ]
  problems = shell_problems(shell)
  assert [p.split(": ", 1)[1] for p in problems] == [
    "no module export.no_such_module",
    "no file scripts/no_such.sh",
    "unknown program 'frobnicate'",
    "export.model_card does not run as written (the page never says 'source "
    ".venv/bin/activate'): bash: line 1: python: command not found",
    "export.model_card has no flag --no_such_flag",
    "--variant=mobilenet_v2_999_96: unknown variant 'mobilenet_v2_999_96'; expected a "
    "TF-Slim name such as mobilenet_v2_0.75_96 or a TF Hub name such as mobilenet_v2_075_96",
    "--module_type=segmentation: not a module type: segmentation",
    "--version=9: unknown module version 9; published versions are 1, 2, 3, 4, 5",
    "export.model_card has no flag --nomodule_type",  # not a boolean flag
  ]
  assert problems[0].startswith(f"{page}:8: ")
  python = [p for b in found if b.language == "python" for p in python_problems(b)]
  assert [p.split(": ", 1)[1] for p in python] == [
    "export has no no_such_module",
    "export.model_card has no no_such_function",
    "nets.variants has no NO_SUCH_TABLE",
    "does not parse (invalid syntax, line 1)",
  ]
