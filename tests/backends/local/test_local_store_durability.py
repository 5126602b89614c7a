"""The local object store under a full disk, killed writers and concurrent writers of one key."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_tf_sm.backends.local.s3_api import LocalS3Client

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def s3(local_root: Path) -> LocalS3Client:
    return LocalS3Client(local_root)


def _md5(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True, **kwargs)


def test_put_object_on_a_full_disk_raises_the_s3_error_and_the_store_recovers(
    s3: LocalS3Client, local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket="bkt", Key="data/k", Body=b"old version")
    real_mkstemp = tempfile.mkstemp

    def full_disk_mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        # the temp file is created for real, but its bytes go to /dev/full: every write gets ENOSPC
        fd, path = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_RDWR), path

    monkeypatch.setattr(tempfile, "mkstemp", full_disk_mkstemp)
    for body in (b"new version " * 100_000, b"x"):
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="bkt", Key="data/k", Body=body)
        error = err.value.response["Error"]
        assert (error["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalError", 500)
        assert "No space left on device" in error["Message"]
        assert err.value.operation_name == "PutObject"
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="bkt", Key="data/other", Body=body)
        assert err.value.response["Error"]["Code"] == "InternalError"
    monkeypatch.undo()  # space freed

    # nothing partial: the old object is intact, no new object, no temp file left
    assert s3.get_object(Bucket="bkt", Key="data/k")["Body"].read() == b"old version"
    assert [c["Key"] for c in s3.list_objects_v2(Bucket="bkt")["Contents"]] == ["data/k"]
    assert list((local_root / "s3-tmp").iterdir()) == []
    # and the store works again
    answer = s3.put_object(Bucket="bkt", Key="data/k", Body=b"after")
    got = s3.get_object(Bucket="bkt", Key="data/k")
    assert (got["Body"].read(), got["ETag"], answer["ETag"]) == (b"after", _md5(b"after"), _md5(b"after"))
    assert s3.put_object(Bucket="bkt", Key="data/other", Body=b"o")["ETag"] == _md5(b"o")


def test_a_write_cut_off_by_the_file_size_limit_leaves_no_partial_object(local_root: Path) -> None:
    """A real kernel refusal in the middle of a write (RLIMIT_FSIZE: EFBIG after 1 MiB), then the limit lifted."""
    child = _python(
        """
        import json, resource, signal, sys
        from botocore.exceptions import ClientError
        from airflow_tf_sm.backends.local.s3_api import LocalS3Client
        s3 = LocalS3Client(sys.argv[1])
        s3.put_object(Bucket="bkt", Key="k", Body=b"old")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, hard))
        out = {}
        try:
            s3.put_object(Bucket="bkt", Key="k", Body=b"n" * (5 * 2**20))
        except ClientError as exc:
            out["error"] = [exc.response["Error"]["Code"], exc.response["Error"]["Message"]]
        out["tmp_after_failure"] = sorted(p.name for p in s3.store.tmp.iterdir())
        out["after_failure"] = s3.get_object(Bucket="bkt", Key="k")["Body"].read().decode()
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        out["etag"] = s3.put_object(Bucket="bkt", Key="k", Body=b"n" * (5 * 2**20))["ETag"]
        out["size"] = s3.head_object(Bucket="bkt", Key="k")["ContentLength"]
        print(json.dumps(out))
        """,
        str(local_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    out = json.loads(stdout)
    assert out["error"][0] == "InternalError" and "File too large" in out["error"][1]
    assert out["tmp_after_failure"] == []
    assert out["after_failure"] == "old"
    assert (out["etag"], out["size"]) == (_md5(b"n" * (5 * 2**20)), 5 * 2**20)


def test_a_killed_writer_s_temp_file_is_removed_by_the_next_write(s3: LocalS3Client, local_root: Path) -> None:
    writer = _python(
        """
        import sys
        from airflow_tf_sm.backends.local.store import LocalObjectStore

        class Stalling:
            sent = False
            def read(self, size=-1):
                if not self.sent:
                    self.sent = True
                    return b"x" * 4_000_000
                sys.stdin.read()  # never returns: killed while writing
        LocalObjectStore(sys.argv[1]).put_stream("bkt", "big", Stalling())
        """,
        str(local_root),
        stdin=subprocess.PIPE,
    )
    tmp = local_root / "s3-tmp"
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size >= 4_000_000 for p in tmp.glob("*")):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never wrote its temp file"
            time.sleep(0.02)
        # a live writer's temp file is left alone
        s3.put_object(Bucket="bkt", Key="small", Body=b"1")
        assert [p.stat().st_size for p in tmp.iterdir()] == [4_000_000]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    s3.put_object(Bucket="bkt", Key="small", Body=b"2")
    assert list(tmp.iterdir()) == []
    assert not s3.store.exists("bkt", "big")


def test_concurrent_writers_of_one_key_every_get_returns_the_etag_of_its_bytes(
    s3: LocalS3Client, local_root: Path
) -> None:
    stop = local_root / "stop"
    writers = [
        _python(
            """
            import hashlib, sys
            from pathlib import Path
            from airflow_tf_sm.backends.local.s3_api import LocalS3Client
            s3 = LocalS3Client(sys.argv[1])
            stop, tag, wrong, n = Path(sys.argv[2]), sys.argv[3], 0, 0
            while not stop.exists() and n < 20000:
                body = f"{tag}-{n}-".encode() * (1 + n % 50)
                etag = s3.put_object(Bucket="bkt", Key="hot", Body=body)["ETag"]
                wrong += etag != '"%s"' % hashlib.md5(body).hexdigest()
                n += 1
            print(n, wrong)
            """,
            str(local_root),
            str(stop),
            tag,
            stdout=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    try:
        s3.put_object(Bucket="bkt", Key="hot", Body=b"first")
        seen: set[bytes] = set()
        deadline = time.monotonic() + 60
        while seen != {b"a", b"b"}:  # both writers are writing
            assert time.monotonic() < deadline, f"the writers never started: {seen}"
            seen.add(s3.get_object(Bucket="bkt", Key="hot")["Body"].read()[:1])
            seen.discard(b"f")
        mismatched = []
        for _ in range(3000):
            answer = s3.get_object(Bucket="bkt", Key="hot")
            body = answer["Body"].read()
            if answer["ETag"] != _md5(body) or answer["ContentLength"] != len(body):
                mismatched.append(body[:12])
    finally:
        stop.touch()
        results = [w.communicate(timeout=60)[0].split() for w in writers]
    assert mismatched == []
    puts = [int(n) for n, _ in results]
    assert all(n > 10 for n in puts), f"the writers barely ran: {puts}"
    assert [int(wrong) for _, wrong in results] == [0, 0], "put_object returned another writer's ETag"
