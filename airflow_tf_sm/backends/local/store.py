"""The local object store: ``s3://bucket/key`` lives at ``<root>/s3/<bucket>/<key>``.

Writes are atomic (a locked temp file in ``<root>/s3-tmp`` then ``os.replace``), so a reader never sees a
half-written object, a failed write leaves no part of one, and the temp files of killed writers are removed
by the next write (``tempfiles.py``). Keys that would escape the store (``..``) are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from airflow_tf_sm.backends.local.tempfiles import locked_temp, remove_abandoned
from airflow_tf_sm.sagemaker.s3 import BUCKET_PATTERN, S3UriError, key_problem, parse_s3_uri

_CHUNK = 1024 * 1024
_TMP_PREFIX = "obj-"


class InvalidKeyError(ValueError):
    """A bucket name or key that the local store cannot hold safely."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing says about one object.

    Attributes:
        key: The object key.
        size: Size in bytes.
        mtime: Last modification time (epoch seconds).
        path: Where the bytes live on disk.
    """

    key: str
    size: int
    mtime: float
    path: Path


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key/part`` into ``("bucket", "key/part")`` with the package's one parser.

    Raises:
        InvalidKeyError: when the text is not an ``s3://`` URI the store can hold.
    """
    try:
        return parse_s3_uri(uri)
    except S3UriError as exc:
        raise InvalidKeyError(str(exc)) from None


class DiskWriteError(OSError):
    """The local disk refused a write of the store (full, read-only, no permission): the OSError's errno says which."""


@contextlib.contextmanager
def _disk() -> Iterator[None]:
    try:
        yield
    except DiskWriteError:
        raise
    except OSError as exc:
        raise DiskWriteError(exc.errno, exc.strerror or str(exc), exc.filename) from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class StoredObject(NamedTuple):
    """An object just written: its file and the ETag of the bytes written."""

    path: Path
    etag: str


def fd_etag(fd: int) -> str:
    """Return the S3-style ETag (quoted MD5 hex digest) of an open file, leaving its offset where it is.

    An object read through one descriptor gets the ETag of the bytes that descriptor reads, even when a
    concurrent write replaces the object's file meanwhile.
    """
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return f'"{digest.hexdigest()}"'


def file_etag(path: Path) -> str:
    """Return the S3-style ETag (quoted MD5 hex digest) of a file."""
    with open(path, "rb") as fh:
        return fd_etag(fh.fileno())


def relative_key(key: str, prefix: str) -> str:
    """Return an object's path relative to the prefix it was listed under, as SageMaker keeps it.

    Used for a training channel's files (File mode) and a batch transform's outputs
    (``<output>/<relative key>.out``): ``prefix/a.csv`` -> ``a.csv``, ``prefix/day/b.csv`` -> ``day/b.csv``.
    A prefix ending inside a name keeps the path from the prefix's directory; the object named by the
    prefix itself keeps its file name.
    """
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if not prefix or prefix.endswith("/"):
        return key[len(prefix) :]
    if key[len(prefix)] == "/":
        return key[len(prefix) + 1 :]
    head = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    return key[len(head) :]


class LocalObjectStore:
    """Objects as files under ``<root>/s3``.

    Args:
        root: The local backend root directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.base = self.root / "s3"
        self.tmp = self.root / "s3-tmp"

    # -- paths -------------------------------------------------------------------------------
    def bucket_path(self, bucket: str) -> Path:
        """Return the directory of a bucket (it may not exist yet).

        Raises:
            InvalidKeyError: for a bucket name S3 would refuse.
        """
        if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket) or ".." in bucket:
            raise InvalidKeyError(f"invalid bucket name: {bucket!r}")
        return self.base / bucket

    def object_path(self, bucket: str, key: str) -> Path:
        """Return the file that holds ``s3://bucket/key``.

        Raises:
            InvalidKeyError: for an empty key, a key ending in ``/``, or one with ``.``/``..`` parts.
        """
        if not isinstance(key, str) or not key or key.endswith("/") or key.startswith("/") or key_problem(key):
            raise InvalidKeyError(f"invalid key: {key!r}")
        parts = key.split("/")
        return self.bucket_path(bucket).joinpath(*parts)

    def uri_path(self, uri: str) -> Path:
        """Return the file that holds an ``s3://`` URI."""
        bucket, key = split_s3_uri(uri)
        return self.object_path(bucket, key)

    # -- writes ------------------------------------------------------------------------------
    def put_stream(self, bucket: str, key: str, stream: IO[bytes]) -> StoredObject:
        """Write an object from a binary stream, atomically; return where it is and the ETag of its bytes.

        The bytes go to a locked temp file in ``<root>/s3-tmp`` that replaces the object only once complete:
        a failed write (a full disk, a killed writer) leaves the old object, or none, never part of one.
        Temp files of writers that died are removed by the next write.

        Raises:
            InvalidKeyError: for a key the store cannot hold.
            DiskWriteError: when the local disk refuses the write (the temp file is removed).
            OSError: whatever reading ``stream`` raises, unchanged.
        """
        target = self.object_path(bucket, key)
        with _disk():
            remove_abandoned(self.tmp, _TMP_PREFIX)
            fd, tmp_path = locked_temp(self.tmp, _TMP_PREFIX)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                with _disk():
                    _write_all(fd, chunk)
            with _disk():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_path, target)  # while still locked: a cleaner never takes a file in use
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return StoredObject(target, f'"{digest.hexdigest()}"')

    def put_bytes(self, bucket: str, key: str, data: bytes) -> StoredObject:
        """Write an object from bytes, atomically (see :meth:`put_stream`)."""
        return self.put_stream(bucket, key, io.BytesIO(data))

    def put_file(self, bucket: str, key: str, filename: str | os.PathLike[str]) -> StoredObject:
        """Copy a local file into the store, atomically (see :meth:`put_stream`)."""
        with open(filename, "rb") as src:
            return self.put_stream(bucket, key, src)

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing object is not an error (like S3)."""
        path = self.object_path(bucket, key)
        path.unlink(missing_ok=True)
        # tidy empty directories up to the bucket
        bucket_dir = self.bucket_path(bucket)
        parent = path.parent
        while parent != bucket_dir and bucket_dir in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    # -- reads -------------------------------------------------------------------------------
    def exists(self, bucket: str, key: str) -> bool:
        """Return whether ``s3://bucket/key`` exists."""
        try:
            return self.object_path(bucket, key).is_file()
        except InvalidKeyError:
            return False

    def iter_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield the objects of a bucket whose key starts with ``prefix``, sorted by key (UTF-8 order)."""
        bucket_dir = self.bucket_path(bucket)
        if not bucket_dir.is_dir():
            return
        # walk only the deepest directory the prefix names
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = bucket_dir.joinpath(*[p for p in head.split("/") if p]) if head else bucket_dir
        if ".." in head.split("/") or not start.is_dir():
            return
        found: list[ObjectInfo] = []
        for dirpath, _dirnames, filenames in os.walk(start):
            for fname in filenames:
                path = Path(dirpath) / fname
                key = path.relative_to(bucket_dir).as_posix()
                if key.startswith(prefix):
                    st = path.stat()
                    found.append(ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime, path=path))
        found.sort(key=lambda info: info.key.encode("utf-8"))
        yield from found
