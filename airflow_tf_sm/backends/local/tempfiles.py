"""Temporary files whose writer may be killed: locked while written, removed by whoever finds them unlocked.

A writer gets its temp file from :func:`locked_temp` and holds an ``fcntl`` lock on it until it has renamed
or removed the file; the kernel drops the lock when the writer dies, however it dies (``SIGKILL`` included).
:func:`remove_abandoned` removes the temp files no live process holds, so the next process that touches
the directory (the next write to the object store, the next describe of a job) cleans what a killed one
left behind, and never a file still being written.

A file is created under a ``.fresh-`` name and renamed to its working name only once locked, so a cleaner
never sees an unlocked file that is merely not locked *yet*.

This module imports only the standard library (the job runner and the model server load it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path

_FRESH = ".fresh-"
#: A ``.fresh-`` file older than this was left by a crash between its creation and its lock (seconds).
FRESH_SECONDS = 3600.0


def locked_temp(directory: Path, prefix: str, suffix: str = "") -> tuple[int, Path]:
    """Create a temp file in ``directory`` whose name starts with ``prefix``, locked by this process.

    Returns:
        ``(fd, path)``: the open descriptor (read/write) holding the lock, and the file's path. Rename or
        remove the file before closing the descriptor.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, fresh = tempfile.mkstemp(dir=directory, prefix=_FRESH + prefix, suffix=suffix)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = directory / Path(fresh).name[len(_FRESH) :]
        os.rename(fresh, path)
    except BaseException:
        os.close(fd)
        Path(fresh).unlink(missing_ok=True)
        raise
    return fd, path


def remove_abandoned(directory: Path, prefix: str) -> list[str]:
    """Remove the temp files of ``prefix`` in ``directory`` that no live process holds; return their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for entry in entries:
        if entry.name.startswith(prefix):
            if _unlink_if_unlocked(Path(entry.path)):
                removed.append(entry.name)
        elif entry.name.startswith(_FRESH + prefix):
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > FRESH_SECONDS:
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def _unlink_if_unlocked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its writer is alive
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(fd)
