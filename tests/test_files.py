"""export/base/files.py: atomic placement, permissions under the umask, reproducible archives."""

import hashlib
import os
import pathlib
import stat
import tarfile

import pytest

from export.base import files

# A SavedModel-shaped tree: relative path -> bytes (None for an empty directory).
_TREE = {
  "saved_model.pb": b"graph" * 100,
  "fingerprint.pb": b"\x00\x01\x02",
  "variables/variables.index": b"index",
  "variables/variables.data-00000-of-00001": os.urandom(4096),
  "assets/ImageNetLabels.txt": b"background\ntench\n",
  "empty": None,
}


def _make_tree(root, order=1, file_mode=0o644, dir_mode=0o755, mtime=None):
  """Writes _TREE under `root`, in the given creation order and with the given modes/mtimes."""
  for relative, data in sorted(_TREE.items(), reverse=order < 0):
    path = os.path.join(root, *relative.split("/"))
    if data is None:
      os.makedirs(path, exist_ok=True)
    else:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "wb") as f:
        f.write(data)
      os.chmod(path, file_mode)
  for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames:
      os.chmod(os.path.join(dirpath, name), dir_mode)
    if mtime is not None:
      for name in dirnames + filenames:
        os.utime(os.path.join(dirpath, name), (mtime, mtime))
  return root


def test_same_tree_gives_same_bytes(tmp_path):
  first = _make_tree(str(tmp_path / "a" / "4"), mtime=1_000_000)
  old_umask = os.umask(0o077)
  try:
    second = _make_tree(
      str(tmp_path / "b" / "4"), order=-1, file_mode=0o600, dir_mode=0o700, mtime=2_000_000_000
    )
  finally:
    os.umask(old_umask)
  archive_a = files.write_reproducible_archive(first, str(tmp_path / "a" / "4.tar.gz"))
  archive_b = files.write_reproducible_archive(second, str(tmp_path / "b" / "4.tar.gz"))
  with open(archive_a, "rb") as a, open(archive_b, "rb") as b:
    assert a.read() == b.read()
  # Rewriting in place is atomic and gives the same bytes again.
  with open(archive_a, "rb") as a:
    before = a.read()
  files.write_reproducible_archive(first, archive_a)
  with open(archive_a, "rb") as a:
    assert a.read() == before
  assert sorted(os.listdir(tmp_path / "a")) == ["4", "4.tar.gz"]  # no temp file left


def test_archive_headers_and_members(tmp_path):
  source = _make_tree(str(tmp_path / "4"), file_mode=0o600, mtime=123456789)
  archive = files.write_reproducible_archive(source, str(tmp_path / "4.tar.gz"))
  with open(archive, "rb") as f:
    header = f.read(10)
  assert header[:2] == b"\x1f\x8b"
  assert header[3] & 0x08 == 0  # no FNAME field
  assert header[4:8] == b"\x00\x00\x00\x00"  # mtime 0

  with tarfile.open(archive, "r:gz") as tar:
    members = tar.getmembers()
  names = [m.name for m in members]
  assert names == sorted(names)
  expected = set(_TREE) | {"variables", "assets"}
  assert set(names) == expected
  for member in members:
    assert not member.name.startswith(("/", "./"))
    assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
    assert member.mode == (0o755 if member.isdir() else 0o644)
    assert member.isdir() or member.isfile()


def test_extraction_reproduces_the_files(tmp_path):
  source = _make_tree(str(tmp_path / "src"))
  archive = files.write_reproducible_archive(source, str(tmp_path / "out" / "x.tar.gz"))
  target = tmp_path / "extracted"
  with tarfile.open(archive, "r:gz") as tar:
    tar.extractall(target, filter="data")
  for relative, data in _TREE.items():
    path = target.joinpath(*relative.split("/"))
    if data is None:
      assert path.is_dir() and not any(path.iterdir())
    else:
      assert path.read_bytes() == data


def test_archive_refuses_links_and_self_inclusion(tmp_path):
  source = _make_tree(str(tmp_path / "src"))
  with pytest.raises(ValueError, match="inside"):
    files.write_reproducible_archive(source, os.path.join(source, "x.tar.gz"))
  os.symlink("saved_model.pb", os.path.join(source, "link"))
  with pytest.raises(ValueError, match="regular files"):
    files.write_reproducible_archive(source, str(tmp_path / "x.tar.gz"))
  assert not os.path.exists(tmp_path / "x.tar.gz")
  with pytest.raises(ValueError, match="not a directory"):
    files.write_reproducible_archive(str(tmp_path / "missing"), str(tmp_path / "y.tar.gz"))


# --- placement and permissions -------------------------------------------------------------
@pytest.fixture
def umask_022():
  old = os.umask(0o022)
  yield
  os.umask(old)


def _mode(path) -> int:
  return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
  "mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)]
)
def test_placed_files_and_directories_get_the_umasks_modes(tmp_path, mask, file_mode, dir_mode):
  old = os.umask(mask)
  try:
    assert files.umask() == mask
    files.write_file(tmp_path / "out" / "a.txt", "text")
    with files.staged_directory(tmp_path / "out" / "tree") as staging:
      (pathlib.Path(staging) / "inside.txt").write_text("x")
    files.write_reproducible_archive(tmp_path / "out" / "tree", tmp_path / "out" / "t.tar.gz")
  finally:
    os.umask(old)
  assert _mode(tmp_path / "out" / "a.txt") == file_mode
  assert _mode(tmp_path / "out" / "t.tar.gz") == file_mode
  assert _mode(tmp_path / "out" / "tree") == dir_mode
  assert _mode(tmp_path / "out") == dir_mode


def test_staged_directory_replaces_the_old_tree_whole(tmp_path, umask_022):
  target = tmp_path / "module"
  target.mkdir()
  (target / "old.txt").write_text("old")
  with files.staged_directory(target) as staging:
    assert (target / "old.txt").exists()  # untouched until the new tree is complete
    (pathlib.Path(staging) / "new.txt").write_text("new")
  assert sorted(os.listdir(target)) == ["new.txt"]
  assert sorted(os.listdir(tmp_path)) == ["module"]  # no staging or retired tree left


def test_a_failure_inside_staged_directory_leaves_nothing(tmp_path, umask_022):
  with pytest.raises(RuntimeError, match="boom"):
    with files.staged_directory(tmp_path / "new" / "parents" / "module") as staging:
      (pathlib.Path(staging) / "half.txt").write_text("half")
      raise RuntimeError("boom")
  assert os.listdir(tmp_path) == []  # the parents it created are gone too


def test_unwritable_places_fail_before_the_work_on_one_line(tmp_path):
  (tmp_path / "a_file").write_text("")
  with pytest.raises(files.UnwritableError) as error:
    with files.staged_directory(tmp_path / "a_file" / "module"):
      pytest.fail("the body must not run")
  assert str(error.value) == (
    f"{tmp_path / 'a_file' / 'module'}: cannot create it, {tmp_path / 'a_file'} is not a directory"
  )
  assert os.listdir(tmp_path) == ["a_file"]


def test_sha256_of_one_file_and_of_several_in_order(tmp_path):
  (tmp_path / "a").write_bytes(b"abc")
  (tmp_path / "b").write_bytes(b"def")
  assert files.sha256(tmp_path / "a") == hashlib.sha256(b"abc").hexdigest()
  assert files.sha256([tmp_path / "a", tmp_path / "b"]) == hashlib.sha256(b"abcdef").hexdigest()
