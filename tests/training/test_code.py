from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError
from airflow_tf_sm.training.code import StagedCode, build_sourcedir, code_key

_FILES = {
    "train.py": "print('train')\n",
    "requirements.txt": "numpy\n",
    "lib/__init__.py": "",
    "lib/util.py": "X = 1\n",
    "lib/data/config.json": "{}\n",
}


def _make_tree(root: Path, order: list[str], mtime: int, mode_bits: int) -> None:
    for rel in order:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_FILES[rel])
        os.chmod(path, mode_bits)
        os.utime(path, (mtime, mtime))
    (root / "empty").mkdir()
    os.utime(root / "lib", (mtime, mtime))


def _members(staged: StagedCode) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(staged.data), mode="r:gz") as tar:
        return tar.getmembers()


def test_build_is_byte_identical_across_mtimes_modes_umask_and_order(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    old_umask = os.umask(0o022)
    try:
        _make_tree(first, list(_FILES), mtime=1_000_000, mode_bits=0o644)
        os.umask(0o077)
        _make_tree(second, list(reversed(_FILES)), mtime=1_700_000_000, mode_bits=0o600)
    finally:
        os.umask(old_umask)
    a = build_sourcedir(str(first), "train.py")
    b = build_sourcedir(str(second), "train.py")
    assert a.data == b.data
    assert a.digest == b.digest == hashlib.sha256(a.data).hexdigest()


def test_build_twice_same_bytes(tmp_path: Path) -> None:
    _make_tree(tmp_path, list(_FILES), mtime=5, mode_bits=0o644)
    assert build_sourcedir(str(tmp_path), "train.py") == build_sourcedir(str(tmp_path), "train.py")


def test_headers_are_normalised(tmp_path: Path) -> None:
    _make_tree(tmp_path, list(_FILES), mtime=123456, mode_bits=0o640)
    os.chmod(tmp_path / "train.py", 0o700)
    staged = build_sourcedir(str(tmp_path), "train.py")
    # gzip header: bytes 4-8 hold the mtime, and no file name flag
    assert staged.data[:2] == b"\x1f\x8b"
    assert staged.data[4:8] == b"\x00\x00\x00\x00"
    assert staged.data[3] & 0x08 == 0
    modes = {}
    for member in _members(staged):
        assert member.mtime == 0
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        modes[member.name] = member.mode
    assert modes["train.py"] == 0o755  # executable bit kept
    assert modes["lib/util.py"] == 0o644
    assert modes["lib"] == 0o755


def test_members_sorted_with_directories_and_files_list(tmp_path: Path) -> None:
    _make_tree(tmp_path, list(_FILES), mtime=5, mode_bits=0o644)
    staged = build_sourcedir(str(tmp_path), "train.py")
    names = [(m.name, m.isdir()) for m in _members(staged)]
    assert names == [
        ("empty", True),
        ("lib", True),
        ("lib/__init__.py", False),
        ("lib/data", True),
        ("lib/data/config.json", False),
        ("lib/util.py", False),
        ("requirements.txt", False),
        ("train.py", False),
    ]
    assert staged.files == (
        "lib/__init__.py",
        "lib/data/config.json",
        "lib/util.py",
        "requirements.txt",
        "train.py",
    )


def test_skip_rules(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    skipped_paths = (
        "__pycache__/m.cpython-311.pyc",
        ".git/HEAD",
        ".ipynb_checkpoints/nb.ipynb",
        "lib/__pycache__/a.pyc",
    )
    for skipped in skipped_paths:
        path = tmp_path / skipped
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("skip me")
    (tmp_path / "stale.pyc").write_bytes(b"\x00")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "lib" / "keep.py").write_text("y")
    (tmp_path / ".gitignore").write_text("*.pyc\n")  # only exact names are skipped
    staged = build_sourcedir(str(tmp_path), "train.py")
    assert staged.files == (".gitignore", "lib/keep.py", "train.py")
    assert [m.name for m in _members(staged) if m.isdir()] == ["lib"]


def test_entry_point_alone_packed_as_basename(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "train_mnist.py"
    script.parent.mkdir()
    script.write_text("print(1)\n")
    (tmp_path / "scripts" / "other.py").write_text("not packed")
    staged = build_sourcedir(None, str(script))
    assert staged.files == ("train_mnist.py",)
    assert [m.name for m in _members(staged)] == ["train_mnist.py"]


def test_digest_changes_when_a_file_changes(tmp_path: Path) -> None:
    _make_tree(tmp_path, list(_FILES), mtime=5, mode_bits=0o644)
    before = build_sourcedir(str(tmp_path), "train.py")
    (tmp_path / "lib" / "util.py").write_text("X = 2\n")
    after = build_sourcedir(str(tmp_path), "train.py")
    assert before.digest != after.digest
    os.chmod(tmp_path / "lib" / "util.py", 0o755)
    assert build_sourcedir(str(tmp_path), "train.py").digest != after.digest


def test_extraction_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _make_tree(src, list(_FILES), mtime=5, mode_bits=0o644)
    (src / "blob.bin").write_bytes(bytes(range(256)) * 100)
    staged = build_sourcedir(str(src), "lib/util.py")
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(staged.data), mode="r:gz") as tar:
        tar.extractall(out, filter="data")
    for rel, text in _FILES.items():
        assert (out / rel).read_text() == text
    assert (out / "blob.bin").read_bytes() == (src / "blob.bin").read_bytes()
    assert (out / "empty").is_dir()


def test_symlink_inside_is_followed(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.py").write_text("A")
    (tmp_path / "alias.py").symlink_to(tmp_path / "train.py")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    staged = build_sourcedir(str(tmp_path), "train.py")
    assert staged.files == ("alias.py", "linked/a.py", "real/a.py", "train.py")
    members = {m.name: m for m in _members(staged)}
    assert members["alias.py"].isfile()
    assert members["linked"].isdir()


def test_symlink_outside_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("x")
    (tmp_path / "secret.txt").write_text("s")
    (src / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ConfigValidationError, match="outside the source directory"):
        build_sourcedir(str(src), "train.py")


def test_dangling_symlink_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    (tmp_path / "gone.py").symlink_to(tmp_path / "deleted.py")
    with pytest.raises(ConfigValidationError, match="dangling symlink"):
        build_sourcedir(str(tmp_path), "train.py")


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ConfigValidationError, match="loop"):
        build_sourcedir(str(tmp_path), "train.py")


@pytest.mark.parametrize(
    ("source_dir", "entry_point", "field"),
    [
        ("missing-dir", "train.py", "source_dir"),
        (".", "absent.py", "entry_point"),
        (".", "/abs/train.py", "entry_point"),
        (".", "lib", "entry_point"),  # a directory, not a file
        (".", "__pycache__/x.py", "entry_point"),  # skipped, so not in the archive
        (None, "absent.py", "entry_point"),
    ],
)
def test_bad_input_errors_name_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source_dir: str | None, entry_point: str, field: str
) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.py").write_text("x")
    (tmp_path / "train.py").write_text("x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigValidationError) as info:
        build_sourcedir(source_dir, entry_point)
    assert [e.field for e in info.value.errors] == [field]


def test_large_directory(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    chunk = os.urandom(1 << 20)
    with (tmp_path / "weights.bin").open("wb") as handle:
        for _ in range(8):
            handle.write(chunk)
    with (tmp_path / "zeros.bin").open("wb") as handle:
        handle.truncate(40 << 20)
    staged = build_sourcedir(str(tmp_path), "train.py")
    assert staged.digest == hashlib.sha256(staged.data).hexdigest()
    sizes = {m.name: m.size for m in _members(staged)}
    assert sizes == {"train.py": 1, "weights.bin": 8 << 20, "zeros.bin": 40 << 20}
    assert len(gzip.decompress(staged.data)) > 48 << 20


@pytest.mark.parametrize(
    ("prefix", "expected_prefix"),
    [("code", "code/"), ("a/b/", "a/b/"), ("/a/b", "a/b/"), ("", ""), ("s3://bkt/code/", "s3://bkt/code/")],
)
def test_code_key(prefix: str, expected_prefix: str) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert code_key(prefix, digest) == f"{expected_prefix}{digest}/sourcedir.tar.gz"


@pytest.mark.parametrize("digest", ["abc", "../" + "0" * 61, "A" * 64])
def test_code_key_rejects_non_digest(digest: str) -> None:
    with pytest.raises(ValueError, match="digest"):
        code_key("code", digest)


def test_source_digest_matches_the_archive_and_follows_content_and_mode(tmp_path: Path) -> None:
    from airflow_tf_sm.training.code import source_digest

    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "util.py").write_text("X = 1\n")
    first = source_digest(str(tmp_path), "train.py")
    assert first.digest == build_sourcedir(str(tmp_path), "train.py").content_digest
    assert first.files == ("pkg/util.py", "train.py")
    assert source_digest(str(tmp_path), "train.py").digest == first.digest
    (tmp_path / "pkg" / "util.py").write_text("X = 2\n")
    changed = source_digest(str(tmp_path), "train.py")
    assert changed.digest != first.digest
    os.chmod(tmp_path / "train.py", 0o755)
    assert source_digest(str(tmp_path), "train.py").digest != changed.digest
