"""Runs a page of the docs as a reader would: its ```sh blocks, in order, in one shell, in a
scratch checkout.

A scratch checkout is a fresh directory laid out like the project's root: `scripts/`,
`export/`, `nets/` and `.venv` link to the real ones (read-only use; `.venv` to the tests'
warm copy of it, tests/warm_python.py, whose `python` starts with TensorFlow imported), `setup.cfg`,
`pyproject.toml` and `tests/regeneration.lock.json` are copies, and nothing else is there. The
shell starts with a fresh login's PATH, so `python` is the project's only after the page says
`source .venv/bin/activate`, as for a reader.

A page steers the run with HTML comments, which the rendered page does not show:

  <!-- test_docs: given the quickstart -->
      the page starts after the README's quickstart: its `quickstart_out/` is there.
  <!-- test_docs: given the released checkpoints/mobilenet_v2_0.75_96.tgz -->
      a released archive is at that path (here a synthetic one, made as
      docs/synthetic_checkpoints.md says, with `--archive`).
  <!-- test_docs: not run: `TEXT`: REASON -->
      just above a block: its commands containing TEXT are not run (a download, an upload, the
      test suite itself, a regeneration of minutes); the test reports each one it leaves out.
  <!-- test_docs: run on PAGE: `TEXT` -->
      just above a block: its commands containing TEXT are run by PAGE, which has them word
      for word (checked), starting as this page does (the quickstart's outputs, say): a
      command shown on two pages runs once.
  <!-- test_docs: output of `COMMAND` -->
      just above a block of output: that is what COMMAND, run earlier on the page, prints; a
      line `...` stands for any number of lines.

`bash scripts/quickstart.sh` runs once per test run (the `quickstart` fixture); a page that
runs it gets that run's output and `quickstart_out/`.
"""

import dataclasses
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from typing import Optional

import warm_python

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)")
MARKER = re.compile(r"^<!-- test_docs: (.*?) -->$")
SHELL_LANGUAGES = ("sh", "bash", "shell")
FRESH_PATH = "/usr/local/bin:/usr/bin:/bin"  # a fresh login's: no virtualenv, no pyenv shims
QUICKSTART = "bash scripts/quickstart.sh"
LINKED = ("scripts", "export", "nets", "tfjs")
COPIED = ("setup.cfg", "pyproject.toml", "tests/regeneration.lock.json")


@dataclasses.dataclass
class Command:
  where: str  # page:line of its first line
  text: str  # as written, continuation lines included
  not_run: Optional[str] = None  # why, when a marker leaves it out
  run_on: Optional[str] = None  # the page that runs it as written, when a marker says so


@dataclasses.dataclass
class Sample:
  where: str
  command: str
  text: str


@dataclasses.dataclass
class Page:
  name: str
  commands: list
  samples: list
  givens: list
  problems: list  # markers that say nothing, or nothing that exists


def words(text: str) -> str:
  """A command as one normalized line: the words of the shell, comments dropped."""
  return " ".join(shlex.split(text.replace("\\\n", " "), comments=True))


def read_page(path: pathlib.Path, name: str) -> Page:
  page = Page(name, [], [], [], [])
  lines = path.read_text().splitlines()
  pending, index = [], 0  # markers waiting for the block below them
  while index < len(lines):
    line, where = lines[index], f"{name}:{index + 1}"
    marker = MARKER.match(line.strip())
    fence = FENCE.match(line)
    if marker:
      if marker.group(1).startswith("given "):
        page.givens.append((where, marker.group(1)[len("given ") :]))
      else:
        pending.append((where, marker.group(1)))
      index += 1
      continue
    if not fence:
      if line.strip():
        page.problems += [f"{w}: not just above a block: {m}" for w, m in pending]
        pending = []
      index += 1
      continue
    end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith("```")), len(lines))
    body = lines[index + 1 : end]
    if fence.group(1) in SHELL_LANGUAGES:
      _add_commands(page, body, index + 2, pending)
    else:
      _add_sample(page, "\n".join(body), where, pending)
    pending, index = [], end + 1
  page.problems += [f"{w}: not just above a block: {m}" for w, m in pending]
  return page


def _add_commands(page: Page, body: list, first_line: int, markers: list) -> None:
  commands, start = [], None
  for offset, line in enumerate(body):
    start = offset if start is None else start
    if line.endswith("\\"):
      continue
    text = "\n".join(body[start : offset + 1])
    if words(text):
      commands.append(Command(f"{page.name}:{first_line + start}", text))
    start = None
  for where, marker in markers:
    found = re.fullmatch(r"not run: `([^`]+)`: (.+)", marker)
    elsewhere = re.fullmatch(r"run on (\S+): `([^`]+)`", marker)
    if not found and not elsewhere:
      page.problems.append(f"{where}: not a marker for commands: {marker}")
      continue
    text = found.group(1) if found else elsewhere.group(2)
    matched = [command for command in commands if text in command.text]
    if not matched:
      page.problems.append(f"{where}: no command below contains {text!r}")
    for command in matched:
      command.not_run = found.group(2) if found else f"run on {elsewhere.group(1)}"
      command.run_on = None if found else elsewhere.group(1)
  page.commands += commands


def _add_sample(page: Page, text: str, where: str, markers: list) -> None:
  for marker_where, marker in markers:
    found = re.fullmatch(r"output of `([^`]+)`", marker)
    if not found:
      page.problems.append(f"{marker_where}: not a marker for output: {marker}")
    elif words(found.group(1)) not in [words(c.text) for c in page.commands if not c.not_run]:
      page.problems.append(f"{marker_where}: no command run above it is {found.group(1)!r}")
    else:
      page.samples.append(Sample(where, words(found.group(1)), text))


def run_elsewhere_problems(page: Page, root: pathlib.Path) -> list:
  """Each command the page says another page runs (`run on PAGE`) that PAGE does not run word
  for word."""
  problems = []
  for command in page.commands:
    if command.run_on:
      path = root / command.run_on
      other = read_page(path, command.run_on) if path.is_file() else Page("", [], [], [], [])
      runs = [words(c.text) for c in other.commands if not c.not_run]
      if words(command.text) not in runs:
        problems.append(f"{command.where}: {command.run_on} does not run it as written")
  return problems


def scratch_checkout(directory: pathlib.Path) -> pathlib.Path:
  """A fresh directory laid out like the project's root (module docstring)."""
  directory.mkdir(parents=True, exist_ok=True)
  for name in LINKED:
    (directory / name).symlink_to(ROOT / name)
  (directory / ".venv").symlink_to(warm_python.venv())
  for name in COPIED:
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / name, directory / name)
  (directory / "home").mkdir()
  return directory


def shell_environment(checkout: pathlib.Path) -> dict:
  return {"PATH": FRESH_PATH, "HOME": str(checkout / "home"), "LANG": "C.UTF-8"}


@dataclasses.dataclass
class Ran:
  command: Command
  status: int
  stdout: str
  stderr: str


def run_commands(commands: list, checkout: pathlib.Path, quickstart=None, timeout=1200) -> list:
  """Runs the commands in order in one bash in `checkout`, up to the first that fails; returns
  what each that ran printed and its status. `quickstart` is the session's (checkout, run), given
  for `bash scripts/quickstart.sh`."""
  token = f"@@doc-runner-{os.getpid()}-{id(commands)}@@"
  script = []
  for number, command in enumerate(commands):
    text = command.text
    if words(text) == QUICKSTART and quickstart is not None:
      text = _shared_quickstart(quickstart, checkout)
    script += [
      f"printf '%s\\n' '{token} {number}'; printf '\\n%s\\n' '{token} {number}' >&2",
      text,
      f"status=$?; printf '\\n%s %s\\n' '{token} status' \"$status\"",
      '[ "$status" -eq 0 ] || exit 0',
    ]
  run = subprocess.run(
    ["bash", "-c", "\n".join(script)],
    cwd=checkout,
    env=shell_environment(checkout),
    stdin=subprocess.DEVNULL,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  stdouts = _split(run.stdout, token)
  stderrs = _split(run.stderr, token)
  ran = []
  for number, command in enumerate(commands):
    if number not in stdouts:
      break
    output, _, status = stdouts[number].rpartition(f"\n{token} status ")
    status = int(status) if status.strip().isdigit() else -1
    ran.append(Ran(command, status, output, stderrs.get(number, "")))
  return ran


def _split(output: str, token: str) -> dict:
  parts = re.split(rf"^{re.escape(token)} (\d+)\n", output, flags=re.MULTILINE)
  return {int(number): text for number, text in zip(parts[1::2], parts[2::2])}


def _shared_quickstart(quickstart, checkout: pathlib.Path) -> str:
  source, run = quickstart
  log = checkout / "home" / "quickstart.log"
  log.write_text(run.stdout)
  (checkout / "home" / "quickstart.err").write_text(run.stderr)
  return (
    f"cp -R {shlex.quote(str(source / 'quickstart_out'))} quickstart_out; "
    f"cat {shlex.quote(str(log))}; cat {shlex.quote(str(log.with_suffix('.err')))} >&2; "
    f"( exit {run.returncode} )"
  )


def run_quickstart(checkout: pathlib.Path) -> subprocess.CompletedProcess:
  """The README's first command, as a reader runs it in a fresh checkout."""
  # Its set-up step must find the venv current, or it would install the scratch checkout.
  stamp = pathlib.Path(sys.prefix, ".slim-mobilenet-hub-setup")
  wanted = hashlib.sha256(
    (ROOT / "setup.cfg").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
  )
  if not stamp.is_file() or stamp.read_text().strip() != wanted.hexdigest():
    raise RuntimeError(f"{sys.prefix} is not set up for this checkout: bash scripts/setup_venv.sh")
  return subprocess.run(
    ["bash", "-c", QUICKSTART],
    cwd=checkout,
    env=shell_environment(checkout),
    stdin=subprocess.DEVNULL,
    capture_output=True,
    text=True,
    timeout=1200,
  )


def apply_givens(page: Page, checkout: pathlib.Path, quickstart, released_archive) -> list:
  """Puts in place what the page says it starts from; returns what it says that is unknown.
  `quickstart` and `released_archive` are called for what they give only when needed."""
  problems = []
  for where, given in page.givens:
    archive = re.fullmatch(r"the released (\S+/)?(mobilenet_v2_0\.75_96\.tgz)\b.*", given)
    if given == "the quickstart":
      shutil.copytree(quickstart()[0] / "quickstart_out", checkout / "quickstart_out")
    elif archive:
      target = checkout / (archive.group(1) or "") / archive.group(2)
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.copy(released_archive(), target)
    else:
      problems.append(f"{where}: unknown prerequisite: {given}")
  return problems


def sample_matches(sample: str, output: str) -> bool:
  """Whether the output is the sample, a line `...` standing for any number of lines."""
  pattern = "".join(
    r"(?:.*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n"
    for line in sample.splitlines()
  )
  return re.fullmatch(pattern, output if output.endswith("\n") else output + "\n") is not None
