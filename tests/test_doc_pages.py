"""Each page of the docs can be followed as written: its ```sh blocks run in order, in one
shell, in a scratch checkout, from the state the page says it starts from (the quickstart's
output, a released archive); a command that fails, or a sample output that is not what its
command printed, fails the page. tests/doc_runner.py runs them and describes the markers a page
uses to say what it starts from, which commands are not run (reported as warnings), which
another page runs as written (checked) and which output a block shows. The runner itself is
tested on a rotten page.
"""

import pathlib
import re
import warnings

import doc_runner
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))]


def _needs_the_quickstart(name: str) -> bool:
  page = doc_runner.read_page(ROOT / name, name)
  runs_it = any(doc_runner.words(c.text) == doc_runner.QUICKSTART for c in page.commands)
  return runs_it or any(given == "the quickstart" for _, given in page.givens)


# The pages that start from the quickstart last: pytest-xdist hands out each page on its own
# after test_quickstart.py's group (larger groups first), so the workers run the other pages
# while one of them makes it (tests/conftest.py).
RUN_ORDER = sorted(PAGES, key=_needs_the_quickstart)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_ORDER)
def test_the_page_can_be_followed_as_written(name, tmp_path, request):
  page = doc_runner.read_page(ROOT / name, name)
  assert page.problems == []
  assert doc_runner.run_elsewhere_problems(page, ROOT) == []
  for command in page.commands:
    if command.not_run and not command.run_on:
      warnings.warn(
        f"{command.where}: not run ({command.not_run}): {doc_runner.words(command.text)}",
        stacklevel=1,
      )
  runnable = [command for command in page.commands if not command.not_run]
  if not runnable:
    return
  checkout = doc_runner.scratch_checkout(tmp_path / "checkout")

  def quickstart():
    return request.getfixturevalue("quickstart")

  assert (
    doc_runner.apply_givens(
      page, checkout, quickstart, lambda: request.getfixturevalue("synthetic_archive_075_96")
    )
    == []
  )
  shared = (
    quickstart()
    if any(doc_runner.words(c.text) == doc_runner.QUICKSTART for c in runnable)
    else None
  )
  ran = doc_runner.run_commands(runnable, checkout, shared)
  for result in ran:
    assert result.status == 0, (
      f"{result.command.where}: exit {result.status}: {doc_runner.words(result.command.text)}\n"
      + "\n".join(result.stderr.strip().splitlines()[-5:])
    )
  assert [result.command for result in ran] == runnable
  for sample in page.samples:
    printed = next(r.stdout for r in ran if doc_runner.words(r.command.text) == sample.command)
    assert doc_runner.sample_matches(sample.text, printed), (
      f"{sample.where}: the page shows\n{sample.text}\nbut {sample.command} printed\n{printed}"
    )


ROTTEN_PAGE = """
<!-- test_docs: given the keys to the kingdom -->
<!-- test_docs: not run: `no-such-text`: nothing below has it -->
```sh
mkdir made
echo hello   # a comment
```

<!-- test_docs: output of `echo hello` -->
```
goodbye
```

<!-- test_docs: output of `echo never` -->
```
never
```

<!-- test_docs: frobnicate -->
Prose between a marker and its block.

<!-- test_docs: not run: `mkdir again`: kept out -->
```sh
mkdir again && echo never
mkdir made \\
    && echo made twice
echo after
```

<!-- test_docs: run on rotten.md: `echo` -->
```sh
echo hello
echo elsewhere
```
"""


def test_the_runner_finds_a_page_that_cannot_be_followed(tmp_path):
  (tmp_path / "rotten.md").write_text(ROTTEN_PAGE)
  page = doc_runner.read_page(tmp_path / "rotten.md", "rotten.md")
  assert page.problems == [
    "rotten.md:3: no command below contains 'no-such-text'",
    "rotten.md:14: no command run above it is 'echo never'",
    "rotten.md:19: not just above a block: frobnicate",
  ]
  assert [(c.where, doc_runner.words(c.text), c.not_run) for c in page.commands] == [
    ("rotten.md:5", "mkdir made", None),
    ("rotten.md:6", "echo hello", None),
    ("rotten.md:24", "mkdir again && echo never", "kept out"),
    ("rotten.md:25", "mkdir made && echo made twice", None),
    ("rotten.md:27", "echo after", None),
    ("rotten.md:32", "echo hello", "run on rotten.md"),
    ("rotten.md:33", "echo elsewhere", "run on rotten.md"),
  ]
  # rotten.md runs `echo hello` above, as written, but not `echo elsewhere`.
  assert doc_runner.run_elsewhere_problems(page, tmp_path) == [
    "rotten.md:33: rotten.md does not run it as written"
  ]
  checkout = doc_runner.scratch_checkout(tmp_path / "checkout")
  assert doc_runner.apply_givens(page, checkout, None, None) == [
    "rotten.md:2: unknown prerequisite: the keys to the kingdom"
  ]
  runnable = [command for command in page.commands if not command.not_run]
  ran = doc_runner.run_commands(runnable, checkout)
  # In order, in one shell, up to the first that fails: `mkdir made` the second time.
  assert [(r.command.where, r.status, r.stdout) for r in ran] == [
    ("rotten.md:5", 0, ""),
    ("rotten.md:6", 0, "hello\n"),
    ("rotten.md:25", 1, ""),
  ]
  assert "made" in ran[2].stderr and "File exists" in ran[2].stderr
  assert not (checkout / "again").exists()
  [sample] = page.samples
  assert (sample.command, sample.text) == ("echo hello", "goodbye")
  assert not doc_runner.sample_matches(sample.text, ran[1].stdout)
  assert doc_runner.sample_matches("hello", ran[1].stdout)
  assert doc_runner.sample_matches("a\n  ...\nd", "a\nb\nc\nd\n")
  assert doc_runner.sample_matches("a\n...", "a\n")
  assert not doc_runner.sample_matches("a\n...\nd", "a\nb\nc\n")


# The flag through which each program writes a new path, refusing one that exists.
WRITES = {
  "export.export_saved_model": "export_dir",
  "export.export_keras": "output",
  "scripts/make_synthetic_checkpoint.py": "output_dir",
  "export.verify": "write_golden",
}


def test_pages_write_apart_and_inside_the_checkout():
  """Pasting one page after another must not fail with "exists", and no page reaches outside
  the checkout (a /tmp path collides with another checkout's, and is left behind)."""
  written, problems = {}, []
  for name in PAGES:
    for command in doc_runner.read_page(ROOT / name, name).commands:
      words = doc_runner.words(command.text).split()
      problems += [f"{command.where}: {w}" for w in words if re.match(r"^(--\w+=)?/", w)]
      program = next((w for w in words if w in WRITES), None)
      for word in words if program and "--overwrite" not in words else ():
        if word.startswith(f"--{WRITES[program]}="):
          path = word.split("=", 1)[1].rstrip("/")
          if path in written and not written[path].startswith(f"{name}:"):
            problems.append(f"{command.where}: writes {path}, as {written[path]} does")
          written.setdefault(path, command.where)
  assert written, "no page writes anything: the parser broke"
  assert problems == []
