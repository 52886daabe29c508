"""Artifact paths, and archives that depend only on the files' paths and bytes."""

import gzip
import os
import tarfile

import pytest

from export import hub_layout
from nets import variants

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


def test_artifact_paths(tmp_path):
  variant = variants.default()
  paths = hub_layout.artifact_paths(str(tmp_path), variant, "classification", 4)
  stem = os.path.join(str(tmp_path), "google", "imagenet", "mobilenet_v2_075_96",
                      "classification", "4")
  assert paths.handle == "google/imagenet/mobilenet_v2_075_96/classification"
  assert paths.version == 4
  assert paths.saved_model_dir == stem
  assert paths.card_path == stem + ".md"
  assert paths.archive_path == stem + ".tar.gz"
  assert (hub_layout.relative_archive_path(variants.by_name("mobilenet_v2_1.4_224"),
                                           "feature_vector", 5)
          == "google/imagenet/mobilenet_v2_140_224/feature_vector/5.tar.gz")


def test_artifact_paths_reject_bad_input(tmp_path):
  with pytest.raises(ValueError):
    hub_layout.artifact_paths(str(tmp_path), variants.default(), "segmentation", 4)
  with pytest.raises(ValueError):
    hub_layout.artifact_paths(str(tmp_path), variants.default(), "classification", 9)


def test_same_tree_gives_same_bytes(tmp_path):
  first = _make_tree(str(tmp_path / "a" / "4"), mtime=1_000_000)
  old_umask = os.umask(0o077)
  try:
    second = _make_tree(str(tmp_path / "b" / "4"), order=-1, file_mode=0o600, dir_mode=0o700,
                        mtime=2_000_000_000)
  finally:
    os.umask(old_umask)
  archive_a = hub_layout.write_reproducible_archive(first, str(tmp_path / "a" / "4.tar.gz"))
  archive_b = hub_layout.write_reproducible_archive(second, str(tmp_path / "b" / "4.tar.gz"))
  with open(archive_a, "rb") as a, open(archive_b, "rb") as b:
    assert a.read() == b.read()
  # Rewriting in place is atomic and gives the same bytes again.
  with open(archive_a, "rb") as a:
    before = a.read()
  hub_layout.write_reproducible_archive(first, archive_a)
  with open(archive_a, "rb") as a:
    assert a.read() == before
  assert sorted(os.listdir(tmp_path / "a")) == ["4", "4.tar.gz"]  # no temp file left


def test_archive_headers_and_members(tmp_path):
  source = _make_tree(str(tmp_path / "4"), file_mode=0o600, mtime=123456789)
  archive = hub_layout.write_reproducible_archive(source, str(tmp_path / "4.tar.gz"))
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
  archive = hub_layout.write_reproducible_archive(source, str(tmp_path / "out" / "x.tar.gz"))
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
    hub_layout.write_reproducible_archive(source, os.path.join(source, "x.tar.gz"))
  os.symlink("saved_model.pb", os.path.join(source, "link"))
  with pytest.raises(ValueError, match="regular files"):
    hub_layout.write_reproducible_archive(source, str(tmp_path / "x.tar.gz"))
  assert not os.path.exists(tmp_path / "x.tar.gz")
  with pytest.raises(ValueError, match="not a directory"):
    hub_layout.write_reproducible_archive(str(tmp_path / "missing"), str(tmp_path / "y.tar.gz"))
