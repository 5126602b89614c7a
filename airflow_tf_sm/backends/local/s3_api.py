"""The S3 API of the local backend: objects of ``s3://`` URIs kept in the local object store (``store.py``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from airflow_tf_sm.backends.local.store import DiskWriteError, InvalidKeyError, LocalObjectStore, fd_etag
from airflow_tf_sm.backends.local.wire import (
    StreamingBody,
    client_error,
    decode_token,
    encode_token,
    metadata,
    storage_error,
    to_datetime,
)


class LocalS3Client:
    """The S3 object API over the local object store (buckets appear on first write).

    Args:
        root: The local backend root directory.
        region: Region reported by ``meta.region_name``.
    """

    def __init__(self, root: str | os.PathLike[str], region: str = "us-east-1") -> None:
        self.store = LocalObjectStore(root)
        self.meta = SimpleNamespace(region_name=region)

    def _path(self, bucket: str, key: str, op: str) -> Path:
        try:
            return self.store.object_path(bucket, key)
        except InvalidKeyError as exc:
            raise client_error("InvalidArgument", str(exc), op) from None

    def _existing(self, bucket: str, key: str, op: str, *, head: bool = False) -> Path:
        path = self._path(bucket, key, op)
        if path.is_file():
            return path
        if head:
            raise client_error("404", "Not Found", op, 404)
        if not self.store.bucket_path(bucket).is_dir():
            raise client_error("NoSuchBucket", "The specified bucket does not exist", op, 404)
        raise client_error("NoSuchKey", "The specified key does not exist.", op, 404)

    def create_bucket(self, *, Bucket: str, **_ignored: Any) -> dict[str, Any]:
        """Create a bucket (a directory); succeeds if it exists, like us-east-1."""
        try:
            self.store.bucket_path(Bucket).mkdir(parents=True, exist_ok=True)
        except InvalidKeyError as exc:
            raise client_error("InvalidBucketName", str(exc), "CreateBucket") from None
        return {"Location": f"/{Bucket}", "ResponseMetadata": metadata()}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes | str | IO[bytes] = b"",
        ContentType: str | None = None,
        Metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store an object from bytes, text or a binary file-like object; return its ETag."""
        op = "PutObject"
        self._path(Bucket, Key, op)
        if isinstance(Body, str):
            Body = Body.encode("utf-8")
        try:
            stored = (
                self.store.put_bytes(Bucket, Key, bytes(Body))
                if isinstance(Body, bytes | bytearray)
                else self.store.put_stream(Bucket, Key, Body)
            )
        except DiskWriteError as exc:
            raise storage_error(exc, op) from None
        return {"ETag": stored.etag, "ResponseMetadata": metadata()}

    def _open(self, bucket: str, key: str, op: str, *, head: bool = False) -> tuple[IO[bytes], os.stat_result]:
        """Open an object once: its size, time and ETag all come from the bytes this handle reads."""
        path = self._existing(bucket, key, op, head=head)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:  # deleted meanwhile
            return self._open(bucket, key, op, head=head)
        return fh, os.fstat(fh.fileno())

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Return ``{"Body", "ContentLength", "ETag", "LastModified", ...}``; NoSuchKey when missing."""
        fh, st = self._open(Bucket, Key, "GetObject")
        return {
            "Body": StreamingBody(fh, st.st_size),
            "ContentLength": st.st_size,
            "ETag": fd_etag(fh.fileno()),
            "LastModified": to_datetime(st.st_mtime),
            "ContentType": "binary/octet-stream",
            "ResponseMetadata": metadata(),
        }

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Return the object's metadata; ClientError code ``404`` (HTTP 404) when missing, like boto3."""
        fh, st = self._open(Bucket, Key, "HeadObject", head=True)
        with fh:
            etag = fd_etag(fh.fileno())
        return {
            "ContentLength": st.st_size,
            "ETag": etag,
            "LastModified": to_datetime(st.st_mtime),
            "ContentType": "binary/octet-stream",
            "ResponseMetadata": metadata(),
        }

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Delete an object (no error when missing, like S3)."""
        self._path(Bucket, Key, "DeleteObject")
        self.store.delete(Bucket, Key)
        return {"ResponseMetadata": metadata(204)}

    def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        ContinuationToken: str | None = None,
        MaxKeys: int = 1000,
        StartAfter: str | None = None,
        Delimiter: str | None = None,
    ) -> dict[str, Any]:
        """List objects by key order with S3's paging fields (``Contents`` is absent when empty)."""
        op = "ListObjectsV2"
        try:
            bucket_dir = self.store.bucket_path(Bucket)
        except InvalidKeyError as exc:
            raise client_error("InvalidBucketName", str(exc), op) from None
        if not bucket_dir.is_dir():
            raise client_error("NoSuchBucket", "The specified bucket does not exist", op, 404)
        after = StartAfter or ""
        if ContinuationToken:
            after = str(decode_token(ContinuationToken, op).get("after", ""))
        contents: list[dict[str, Any]] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        for info in self.store.iter_objects(Bucket, Prefix):
            if info.key.encode() <= after.encode():
                continue
            entry_prefix = None
            if Delimiter:
                rest = info.key[len(Prefix) :]
                if Delimiter in rest:
                    entry_prefix = Prefix + rest.split(Delimiter, 1)[0] + Delimiter
                    if prefixes and prefixes[-1] == entry_prefix:
                        last = info.key
                        continue
            if len(contents) + len(prefixes) >= MaxKeys:
                truncated = True
                break
            if entry_prefix is not None:
                prefixes.append(entry_prefix)
            else:
                try:
                    with open(info.path, "rb") as fh:  # size, time and ETag of one version of the object
                        st, etag = os.fstat(fh.fileno()), fd_etag(fh.fileno())
                except FileNotFoundError:  # deleted meanwhile
                    continue
                contents.append(
                    {
                        "Key": info.key,
                        "LastModified": to_datetime(st.st_mtime),
                        "ETag": etag,
                        "Size": st.st_size,
                        "StorageClass": "STANDARD",
                    }
                )
            last = info.key
        resp: dict[str, Any] = {
            "IsTruncated": truncated,
            "Name": Bucket,
            "Prefix": Prefix,
            "MaxKeys": MaxKeys,
        }
        if contents:
            resp["Contents"] = contents
        if prefixes:
            resp["CommonPrefixes"] = [{"Prefix": p} for p in prefixes]
            resp["Delimiter"] = Delimiter
        resp["KeyCount"] = len(contents) + len(prefixes)
        if ContinuationToken:
            resp["ContinuationToken"] = ContinuationToken
        if truncated:
            resp["NextContinuationToken"] = encode_token({"after": last})
        resp["ResponseMetadata"] = metadata()
        return resp

    def upload_file(
        self,
        Filename: str,
        Bucket: str,
        Key: str,
        ExtraArgs: Any = None,
        Callback: Any = None,
        Config: Any = None,
    ) -> None:
        """Copy a local file into the store (atomic)."""
        self._path(Bucket, Key, "PutObject")
        with open(Filename, "rb") as source:  # a missing local file is boto3's OSError too
            try:
                self.store.put_stream(Bucket, Key, source)
            except DiskWriteError as exc:
                raise storage_error(exc, "PutObject") from None

    def download_file(
        self,
        Bucket: str,
        Key: str,
        Filename: str,
        ExtraArgs: Any = None,
        Callback: Any = None,
        Config: Any = None,
    ) -> None:
        """Copy an object to a local file (atomic); ClientError ``404`` when missing, like boto3."""
        source = self._existing(Bucket, Key, "HeadObject", head=True)
        target = Path(Filename)
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
