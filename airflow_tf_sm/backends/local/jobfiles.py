"""The files of a local training job that cross the object store: channels in, checkpoints and artifacts out.

What a training script can reach of the store through its job directory:

* **Inputs are private copies.** Every channel file (and every restored checkpoint) is a copy of its object,
  made with ``copy_file_range`` (an extent-sharing copy on file systems that can, such as Btrfs and XFS; an
  in-kernel copy elsewhere), so a script that rewrites, truncates or chmods its input changes its own copy,
  never the object later jobs read.
* **Channels stay in** ``input/data/``: a channel name that would resolve anywhere else is refused.
* **Links leaving the job are not followed on upload.** When checkpoints or the model and output
  directories are uploaded, a symbolic link is followed only when its target is inside the job directory;
  a link out of it (``model/x -> /etc/hostname``), a broken link and anything that is not a file or a
  directory (a FIFO would block the upload) are skipped, each with a warning in the job log.

Archives are written to a locked temp file in the job directory (``.upload-*``), so one left by a runner
that was killed is removed the next time the job is read (``tempfiles.py``).

This module imports only the standard library and sibling modules (the job runner loads it).
"""

from __future__ import annotations

import errno
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import JOB_TEMP_PREFIX
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore, relative_key, split_s3_uri
from airflow_tf_sm.backends.local.tempfiles import locked_temp

_COPY_CHUNK = 1 << 30


class JobError(Exception):
    """Ends the job Failed with ``reason`` as its FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# In: private copies
# ---------------------------------------------------------------------------------------------
def private_copy(source: Path, dest: Path) -> None:
    """Copy ``source`` to a new file ``dest`` that shares nothing writable with it (replacing ``dest``)."""
    dest.unlink(missing_ok=True)
    with open(source, "rb") as src, open(dest, "xb") as out:
        try:
            while os.copy_file_range(src.fileno(), out.fileno(), _COPY_CHUNK):
                pass
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
                raise
            out.seek(0)
            out.truncate()
            src.seek(0)
            shutil.copyfileobj(src, out, 1 << 20)


def place_channels(
    store: LocalObjectStore, channels: list[dict[str, Any]], data_dir: Path, host_index: int, host_count: int
) -> None:
    """Copy each channel's objects to ``data_dir/<channel>/`` (File mode; ``ShardedByS3Key`` splits by host).

    Raises:
        JobError: for a channel the local backend cannot place (its name, its source, no objects).
    """
    for channel in channels:
        name = channel["ChannelName"]
        target = data_dir / name
        if name in (".", "..") or target.resolve().parent != data_dir.resolve():
            raise JobError(f"ClientError: channel {name!r}: a channel name must name a directory of input/data/")
        target.mkdir(parents=True, exist_ok=True)
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise JobError(f"ClientError: channel {name}: the local backend supports S3DataSource only")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise JobError(
                f"ClientError: channel {name}: S3DataType {source.get('S3DataType')} is not supported locally"
            )
        uri = source["S3Uri"]
        try:
            bucket, prefix = split_s3_uri(uri)
            objects = list(store.iter_objects(bucket, prefix))
        except InvalidKeyError as exc:
            raise JobError(f"ClientError: channel {name}: {exc}") from None
        if not objects:
            raise JobError(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                "Please ensure that the bucket exists and that objects exist under that S3 prefix."
            )
        if source.get("S3DataDistributionType") == "ShardedByS3Key":
            objects = objects[host_index::host_count]
        for obj in objects:
            dest = target / relative_key(obj.key, prefix)
            dest.parent.mkdir(parents=True, exist_ok=True)
            private_copy(obj.path, dest)


def restore_checkpoints(store: LocalObjectStore, uri: str, targets: list[Path]) -> int:
    """Copy the objects under a checkpoint URI into each host's checkpoint directory; return how many."""
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    objects = list(store.iter_objects(bucket, prefix))
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
        for obj in objects:
            dest = target / obj.key[len(prefix) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            private_copy(obj.path, dest)
    return len(objects)


# ---------------------------------------------------------------------------------------------
# Out: what leaves the job, without following links out of it
# ---------------------------------------------------------------------------------------------
def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def job_tree(directory: Path, job_dir: Path, warn: Callable[[str], None]) -> Iterator[tuple[str, Path, bool]]:
    """Yield ``(relative path, real path, is directory)`` for what of ``directory`` may leave the job, sorted.

    Symbolic links are followed when their target is inside ``job_dir`` (a link to a directory that holds
    it is not: no loops); links out of it, broken links and special files are skipped with a warning.
    """
    job_real = job_dir.resolve()

    def shown(path: Path) -> str:
        try:
            return path.relative_to(job_real).as_posix()
        except ValueError:
            return str(path)

    def real_of(path: Path) -> Path | None:
        if not path.is_symlink():
            return path.resolve()
        target = path.resolve()
        if not _inside(target, job_real):
            warn(
                f"WARNING: {shown(path)} is a link to {os.readlink(path)}, outside the job directory: "
                "not followed, not uploaded"
            )
            return None
        if not target.exists():
            warn(f"WARNING: {shown(path)} is a broken link: not uploaded")
            return None
        return target

    def visit(real_dir: Path, relative: str, ancestors: frozenset[Path]) -> Iterator[tuple[str, Path, bool]]:
        for entry in sorted(real_dir.iterdir(), key=lambda p: p.name):
            real = real_of(entry)
            if real is None:
                continue
            name = f"{relative}{entry.name}"
            if real.is_dir():
                if real in ancestors:
                    warn(f"WARNING: {shown(entry)} is a link to a directory that holds it: not followed")
                    continue
                yield name, real, True
                yield from visit(real, f"{name}/", ancestors | {real})
            elif real.is_file():
                yield name, real, False
            else:
                warn(f"WARNING: {shown(entry)} is not a regular file or a directory: not uploaded")

    if directory.is_symlink() or directory.exists():
        root = real_of(directory)
        if root is not None and root.is_dir():
            yield from visit(root, "", frozenset({root}))


def upload_tree(store: LocalObjectStore, directory: Path, uri: str, job_dir: Path, warn: Callable[[str], None]) -> int:
    """Upload every file of ``directory`` under the ``uri`` prefix (see :func:`job_tree`); return how many."""
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    count = 0
    for relative, real, is_dir in job_tree(directory, job_dir, warn):
        if not is_dir:
            store.put_file(bucket, prefix + relative, real)
            count += 1
    return count


def upload_tar(store: LocalObjectStore, directory: Path, uri: str, job_dir: Path, warn: Callable[[str], None]) -> None:
    """Upload ``directory`` as the ``.tar.gz`` object ``uri`` (see :func:`job_tree`), through a locked temp file."""
    bucket, key = split_s3_uri(uri)
    fd, tmp = locked_temp(job_dir, JOB_TEMP_PREFIX, ".tar.gz")
    try:
        with os.fdopen(fd, "w+b", closefd=False) as fh:
            with tarfile.open(fileobj=fh, mode="w:gz") as tar:
                for relative, real, is_dir in job_tree(directory, job_dir, warn):
                    info = tar.gettarinfo(str(real), arcname=relative)
                    if is_dir:
                        tar.addfile(info)
                    else:
                        with open(real, "rb") as content:
                            tar.addfile(info, content)
            fh.flush()
            fh.seek(0)
            store.put_stream(bucket, key, fh)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)
