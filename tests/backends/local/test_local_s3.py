"""The local S3 client: boto3 semantics over the on-disk object store."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_tf_sm.backends.local.clients import LocalS3Client
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore, split_s3_uri


@pytest.fixture
def s3(local_root: Path) -> LocalS3Client:
    return LocalS3Client(local_root)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_put_get_head_roundtrip_with_etag(s3: LocalS3Client, local_root: Path) -> None:
    put = s3.put_object(Bucket="my-bucket", Key="a/b/c.txt", Body=b"hello")
    etag = f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket="my-bucket", Key="a/b/c.txt")
    assert got["Body"].read() == b"hello"
    assert got["ContentLength"] == 5 and got["ETag"] == etag
    assert isinstance(got["LastModified"], datetime) and got["LastModified"].tzinfo is not None
    head = s3.head_object(Bucket="my-bucket", Key="a/b/c.txt")
    assert head["ContentLength"] == 5 and head["ETag"] == etag
    assert (local_root / "s3" / "my-bucket" / "a" / "b" / "c.txt").read_bytes() == b"hello"


def test_body_can_be_text_or_file_like(s3: LocalS3Client) -> None:
    s3.put_object(Bucket="my-bucket", Key="text", Body="héllo")
    s3.put_object(Bucket="my-bucket", Key="stream", Body=io.BytesIO(b"x" * 3_000_000))
    assert s3.get_object(Bucket="my-bucket", Key="text")["Body"].read() == "héllo".encode()
    body = s3.get_object(Bucket="my-bucket", Key="stream")["Body"]
    assert len(b"".join(body.iter_chunks(1 << 20))) == 3_000_000


def test_missing_objects_raise_like_boto3(s3: LocalS3Client) -> None:
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket="my-bucket", Key="nope")
    assert error_of(err) == ("404", 404)
    assert err.value.operation_name == "HeadObject"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="my-bucket", Key="nope")
    assert error_of(err) == ("NoSuchBucket", 404)
    s3.put_object(Bucket="my-bucket", Key="other", Body=b"")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="my-bucket", Key="nope")
    assert error_of(err) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="empty-bucket")
    assert error_of(err) == ("NoSuchBucket", 404)


def test_keys_escaping_the_root_are_refused(s3: LocalS3Client, local_root: Path) -> None:
    for key in ("../escape", "a/../../b", "/abs", "a//b", "dir/"):
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="my-bucket", Key=key, Body=b"x")
        assert error_of(err)[0] == "InvalidArgument"
    with pytest.raises(ClientError):
        s3.put_object(Bucket="..", Key="x", Body=b"x")
    assert not (local_root / "escape").exists()
    with pytest.raises(InvalidKeyError):
        LocalObjectStore(local_root).uri_path("s3://bucket/../x")


def test_list_objects_v2_paging_prefix_and_delimiter(s3: LocalS3Client) -> None:
    keys = [f"data/part-{i:02d}.csv" for i in range(5)] + ["data/sub/x.csv", "other/y.csv"]
    for key in keys:
        s3.put_object(Bucket="my-bucket", Key=key, Body=key.encode())
    listed: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": "my-bucket", "Prefix": "data/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        listed += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        token = page["NextContinuationToken"]
    assert pages == 3
    assert listed == sorted(k for k in keys if k.startswith("data/"))
    first = s3.list_objects_v2(Bucket="my-bucket", Prefix="data/part-00")["Contents"][0]
    assert first["Size"] == len(b"data/part-00.csv") and first["ETag"].startswith('"')
    assert s3.list_objects_v2(Bucket="my-bucket", Prefix="missing/")["KeyCount"] == 0
    assert "Contents" not in s3.list_objects_v2(Bucket="my-bucket", Prefix="missing/")
    partial = s3.list_objects_v2(Bucket="my-bucket", Prefix="data/part-0")
    assert partial["KeyCount"] == 5
    grouped = s3.list_objects_v2(Bucket="my-bucket", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["data/", "other/"]
    assert "Contents" not in grouped


def test_upload_download_and_delete(s3: LocalS3Client, tmp_path: Path) -> None:
    src = tmp_path / "model.tar.gz"
    src.write_bytes(b"\x1f\x8b data")
    s3.upload_file(str(src), "my-bucket", "models/model.tar.gz")
    dest = tmp_path / "copy.tar.gz"
    s3.download_file("my-bucket", "models/model.tar.gz", str(dest))
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(ClientError) as err:
        s3.download_file("my-bucket", "models/missing", str(tmp_path / "x"))
    assert error_of(err) == ("404", 404)
    assert not (tmp_path / "x").exists()
    assert s3.delete_object(Bucket="my-bucket", Key="models/model.tar.gz")["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.delete_object(Bucket="my-bucket", Key="models/model.tar.gz")  # deleting twice is fine, like S3
    with pytest.raises(ClientError):
        s3.head_object(Bucket="my-bucket", Key="models/model.tar.gz")
    assert s3.list_objects_v2(Bucket="my-bucket")["KeyCount"] == 0


def test_writes_are_atomic_and_leave_no_temp_files(s3: LocalS3Client, local_root: Path) -> None:
    class Exploding(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise OSError("network went away")

    s3.put_object(Bucket="my-bucket", Key="k", Body=b"old")
    with pytest.raises(OSError):
        s3.put_object(Bucket="my-bucket", Key="k", Body=Exploding())
    assert s3.get_object(Bucket="my-bucket", Key="k")["Body"].read() == b"old"
    assert list((local_root / "s3-tmp").iterdir()) == []
    assert [c["Key"] for c in s3.list_objects_v2(Bucket="my-bucket")["Contents"]] == ["k"]


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://bkt/k/x.tar.gz") == ("bkt", "k/x.tar.gz")
    assert split_s3_uri("s3://bkt") == ("bkt", "")
    # the package's one parser: the same bucket and key rules as the specs and the request validation
    for bad in ("http://bkt/k", "s3:///k", "s3://b/k", "s3://-bucket/x", "s3://bkt/a/../b", "s3://bkt/a//b"):
        with pytest.raises(InvalidKeyError):
            split_s3_uri(bad)
