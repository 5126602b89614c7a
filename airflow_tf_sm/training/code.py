"""Deterministic ``sourcedir.tar.gz`` packaging of the training code.

The same files always give the same bytes (sorted entries, zero timestamps and owners, normalised
modes), so the archive can be stored under its SHA-256 digest and uploaded only when the code changed.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError

ARCHIVE_NAME = "sourcedir.tar.gz"
SKIPPED_NAMES = ("__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints", "*.pyc")
_COMPRESS_LEVEL = 9


@dataclass(frozen=True)
class StagedCode:
    """A packed ``sourcedir.tar.gz``.

    Attributes:
        data: The gzip'd tar bytes.
        digest: SHA-256 hex digest of ``data``.
        files: Archive paths of the regular files packed, sorted (POSIX separators).
        content_digest: :func:`source_digest` of the files as they were read into the archive.
    """

    data: bytes
    digest: str
    files: tuple[str, ...]
    content_digest: str = ""


@dataclass(frozen=True)
class SourceDigest:
    """What the code is, without packing it: the content address used in the staging key.

    Attributes:
        digest: SHA-256 over every packed entry's archive path, mode and content (format-versioned).
        files: Archive paths of the regular files, sorted.
        source_dir: The directory it describes (``None``: the entry point alone).
        entry_point: The entry point.
        dependencies: Extra directories packed next to the code, each under its own name.
    """

    digest: str
    files: tuple[str, ...]
    source_dir: str | None
    entry_point: str
    dependencies: tuple[str, ...] = ()


_MANIFEST_VERSION = b"airflow-tf-sm sourcedir v1\n"
_READ_CHUNK = 1 << 20


class _Manifest:
    """Accumulates the content digest entry by entry (shared by :func:`source_digest` and the archiver)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(_MANIFEST_VERSION)

    def add(self, info: tarfile.TarInfo, content_sha256: str | None) -> None:
        kind = "d" if info.isdir() else "f"
        self._hash.update(f"{kind} {info.mode:o} {content_sha256 or '-'} {info.name}\n".encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SKIPPED_NAMES)


def _error(field: str, value: object, rule: str) -> ConfigValidationError:
    return ConfigValidationError([FieldError(field, value, rule)], what="training code")


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _walk(directory: Path, arcdir: str, root: Path, seen: frozenset[Path]) -> Iterator[tuple[str, Path]]:
    """Yield ``(archive path, real path)`` for every entry under ``directory``, sorted, depth first.

    Directories are yielded before their content. Symlinks are followed when their target stays inside
    ``root``; anything else is an error.
    """
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if _skipped(entry.name):
            continue
        arcname = f"{arcdir}/{entry.name}" if arcdir else entry.name
        path = Path(entry.path)
        real = path.resolve()
        if entry.is_symlink() and not _is_within(real, root):
            raise _error("source_dir", str(path), f"symlink points outside the source directory ({real})")
        if real.is_dir():
            if real in seen:
                raise _error("source_dir", str(path), "symlink loop: points to one of its parent directories")
            yield arcname, real
            yield from _walk(real, arcname, root, seen | {real})
        elif real.is_file():
            yield arcname, real
        else:
            raise _error(
                "source_dir",
                str(path),
                "is not a regular file or directory (special file or dangling symlink)",
            )


def _tarinfo(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    """Build a tar header with everything but the name, type, size and executable bit normalised."""
    info = tarfile.TarInfo(arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    return info


def _top_level_names(source_dir: str | None, entry_point: str) -> list[str]:
    """Return the names at the top of the archive before the dependencies (sorted)."""
    if source_dir is None:
        return [Path(entry_point).name]
    return sorted(e.name for e in os.scandir(source_dir) if not _skipped(e.name))


def dependency_errors(source_dir: str | None, entry_point: str, dependencies: Sequence[str]) -> list[FieldError]:
    """Return the problems of ``dependencies``: local directories packed next to the code, each by its name.

    Each must be an existing local directory whose name is neither that of another dependency nor a
    top-level entry of ``source_dir`` (or the entry point file), and the code must be packed here (not an
    ``s3://`` ``source_dir``).
    """
    if not dependencies:
        return []
    if source_dir is not None and source_dir.startswith("s3://"):
        return [FieldError("dependencies", list(dependencies), "need a local source_dir (or none), not an s3:// one")]
    problems = []
    try:
        taken = set(_top_level_names(source_dir, entry_point))
    except OSError:
        taken = set()  # source_dir's own rule reports it
    for index, dependency in enumerate(dependencies):
        where = f"dependencies[{index}]"
        if not isinstance(dependency, str) or not dependency.strip():
            problems.append(FieldError(where, dependency, "must be a local directory path"))
            continue
        name = Path(dependency).resolve().name
        if not os.path.isdir(dependency):
            problems.append(FieldError(where, dependency, "directory not found"))
        elif name in taken:
            rule = f"its name {name!r} is already at the top of the code archive (a source_dir entry or dependency)"
            problems.append(FieldError(where, dependency, rule))
        taken.add(name)
    return problems


def _entries(source_dir: str | None, entry_point: str, dependencies: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """Resolve what goes into the archive, checking the entry point and the dependencies first."""
    problems = dependency_errors(source_dir, entry_point, dependencies)
    if problems:
        raise ConfigValidationError(problems, what="training code")
    extra: list[tuple[str, Path]] = []
    for dependency in dependencies:
        root = Path(dependency).resolve()
        extra.append((root.name, root))
        extra.extend(_walk(root, root.name, root, frozenset({root})))
    if source_dir is None:
        path = Path(entry_point)
        if not path.is_file():
            raise _error("entry_point", entry_point, "must be an existing file when no source_dir is given")
        return [(path.name, path.resolve()), *extra]
    root = Path(source_dir).resolve()
    if not root.is_dir():
        raise _error("source_dir", source_dir, "must be an existing local directory")
    if Path(entry_point).is_absolute():
        raise _error("entry_point", entry_point, "must be a path relative to source_dir")
    entries = list(_walk(root, "", root, frozenset({root})))
    wanted = Path(entry_point).as_posix()
    if not any(arcname == wanted and real.is_file() for arcname, real in entries):
        raise _error("entry_point", entry_point, f"must be a file inside source_dir {source_dir!r}")
    return [*entries, *extra]  # the dependencies after the code, in their given order


def source_digest(source_dir: str | None, entry_point: str, dependencies: Sequence[str] = ()) -> SourceDigest:
    """Return the content address of the code without compressing anything.

    Hashing the files is far cheaper than gzipping them, so an unchanged ``source_dir`` is recognised
    (and its upload skipped) quickly; the archive is built only when it must be uploaded.

    Raises:
        ConfigValidationError: as :func:`build_sourcedir`.
    """
    manifest = _Manifest()
    files: list[str] = []
    for arcname, real in _entries(source_dir, entry_point, dependencies):
        info = _tarinfo(arcname, real.stat())
        if info.isdir():
            manifest.add(info, None)
            continue
        files.append(arcname)
        content = hashlib.sha256()
        with real.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
                content.update(chunk)
        manifest.add(info, content.hexdigest())
    return SourceDigest(manifest.hexdigest(), tuple(sorted(files)), source_dir, entry_point, tuple(dependencies))


class _HashingReader:
    """File wrapper that hashes what tarfile reads from it."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


def build_sourcedir(source_dir: str | None, entry_point: str, dependencies: Sequence[str] = ()) -> StagedCode:
    """Pack the training code into a deterministic ``sourcedir.tar.gz``.

    With ``source_dir`` the whole directory is packed (paths relative to it, directories included,
    ``__pycache__``, ``.git``, ``*.pyc``, ``.DS_Store`` and ``.ipynb_checkpoints`` skipped) and
    ``entry_point`` must be a file inside it. Without ``source_dir`` only the ``entry_point`` file is
    packed, under its base name. Symlinks are followed (packed as what they point to) when they stay
    inside ``source_dir``. Each of ``dependencies`` (the SDK's argument: extra local directories) is packed
    next to the code under its own directory name, so ``import <name>`` works from the entry point.

    Entries are sorted; timestamps (tar and gzip headers) are 0, owners 0/empty, modes 0o644 or 0o755
    (executable files and directories), so the same files always give the same bytes.

    Args:
        source_dir: Local directory with the training code, or None.
        entry_point: The script to run, relative to ``source_dir`` (or a file path without it).
        dependencies: Extra local directories to pack next to the code.

    Returns:
        The archive bytes, their SHA-256 digest and the list of packed files.

    Raises:
        ConfigValidationError: a missing directory or entry point, or a symlink leaving ``source_dir``.
    """
    entries = _entries(source_dir, entry_point, dependencies)
    buffer = io.BytesIO()
    files: list[str] = []
    manifest = _Manifest()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=_COMPRESS_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for arcname, real in entries:
            info = _tarinfo(arcname, real.stat())
            if info.isdir():
                tar.addfile(info)
                manifest.add(info, None)
                continue
            files.append(arcname)
            with real.open("rb") as handle:
                reader = _HashingReader(handle)
                tar.addfile(info, reader)  # type: ignore[arg-type]
            manifest.add(info, reader.sha256.hexdigest())
    data = buffer.getvalue()
    return StagedCode(
        data=data,
        digest=hashlib.sha256(data).hexdigest(),
        files=tuple(sorted(files)),
        content_digest=manifest.hexdigest(),
    )


def code_key(code_prefix: str, digest: str) -> str:
    """Return the content-addressed object key of a code archive.

    Args:
        code_prefix: Key prefix, e.g. ``airflow-tf-sm/code``, or a URI prefix such as
            ``s3://bucket/code`` (leading/trailing ``/`` ignored; may be empty).
        digest: The archive's SHA-256 hex digest.

    Returns:
        ``<code_prefix>/<digest>/sourcedir.tar.gz`` (``s3://bucket/code/<digest>/sourcedir.tar.gz``
        for a URI prefix).

    Raises:
        ValueError: if ``digest`` is not a 64-character lowercase hex string.
    """
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"digest: {digest!r} -- must be a SHA-256 hex digest")
    prefix = code_prefix.strip("/")
    return f"{prefix}/{digest}/{ARCHIVE_NAME}" if prefix else f"{digest}/{ARCHIVE_NAME}"
