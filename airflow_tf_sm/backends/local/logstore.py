"""Log streams of the local backend, CloudWatch-Logs style.

A stream is a JSON-lines file ``<root>/logs/<quoted group>/<quoted stream>.jsonl``; each line is one
event ``{"timestamp": ms, "message": str, "ingestionTime": ms}``. Readers page through a stream with
byte offsets, which become CloudWatch-like tokens ``f/<offset>`` and ``b/<offset>``.
This module imports only the standard library (the runner loads it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class StreamInfo:
    """What ``describe_log_streams`` reports about one stream."""

    name: str
    path: Path
    creation_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    stored_bytes: int


class LogStore:
    """Log groups and streams under ``<root>/logs``.

    Args:
        root: The local backend root directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.base = Path(root) / "logs"

    def group_path(self, group: str) -> Path:
        """Return the directory of a log group."""
        return self.base / quote(group, safe="")

    def stream_path(self, group: str, stream: str) -> Path:
        """Return the file of a log stream."""
        return self.group_path(group) / (quote(stream, safe="") + _SUFFIX)

    def create_stream(self, group: str, stream: str) -> Path:
        """Create an empty stream (and its group) if missing; return its file."""
        path = self.stream_path(group, stream)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return path

    def streams(self, group: str) -> list[StreamInfo]:
        """Return the streams of a group (unsorted); raise FileNotFoundError for an unknown group."""
        gdir = self.group_path(group)
        if not gdir.is_dir():
            raise FileNotFoundError(group)
        found: list[StreamInfo] = []
        for path in gdir.iterdir():
            if not path.name.endswith(_SUFFIX):
                continue
            st = path.stat()
            first, last = _first_last_timestamps(path)
            found.append(
                StreamInfo(
                    name=unquote(path.name[: -len(_SUFFIX)]),
                    path=path,
                    creation_ms=first if first is not None else int(st.st_mtime * 1000),
                    first_event_ms=first,
                    last_event_ms=last,
                    stored_bytes=st.st_size,
                )
            )
        return found

    @staticmethod
    def read_events(path: Path, start: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Read up to ``limit`` whole events from byte offset ``start``; return them and the next offset."""
        events: list[dict[str, Any]] = []
        offset = start
        with open(path, "rb") as fh:
            fh.seek(start)
            while len(events) < limit:
                line = fh.readline()
                if not line or not line.endswith(b"\n"):
                    break  # end of file, or a line still being written
                offset += len(line)
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        return events, offset

    @staticmethod
    def read_events_before(path: Path, end: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Read up to ``limit`` whole events that end at or before byte offset ``end``.

        Returns:
            The events in order, and the offset where the first of them starts.
        """
        with open(path, "rb") as fh:
            data = fh.read(end)
        lines = data.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            lines.pop()
        chosen = lines[-limit:] if limit > 0 else []
        start = sum(len(line) for line in lines[: len(lines) - len(chosen)])
        events: list[dict[str, Any]] = []
        for line in chosen:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events, start


class StreamWriter:
    """Appends events to one log stream; safe to share between threads.

    Args:
        path: The stream file (created if missing).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab")
        self._lock = threading.Lock()

    def write(self, message: str, timestamp: float | None = None, stream: str | None = None) -> None:
        """Append one event (a line of output, without its newline).

        ``stream="stderr"`` marks a line the process wrote to its standard error (a local extension of
        the CloudWatch event: readers use it to pick the line's log level).
        """
        now = time.time()
        ts = now if timestamp is None else timestamp
        record: dict[str, Any] = {"timestamp": int(ts * 1000), "message": message, "ingestionTime": int(now * 1000)}
        if stream:
            record["stream"] = stream
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        """Close the stream file."""
        with self._lock:
            self._fh.close()


def _first_last_timestamps(path: Path) -> tuple[int | None, int | None]:
    with open(path, "rb") as fh:
        first_line = fh.readline()
        if not first_line.endswith(b"\n"):
            return None, None
        size = path.stat().st_size
        fh.seek(max(0, size - 65536))
        tail = [line for line in fh.read().splitlines() if line.strip()]
    try:
        first = int(json.loads(first_line)["timestamp"])
        last = int(json.loads(tail[-1])["timestamp"]) if tail else first
    except (ValueError, KeyError, IndexError):
        return None, None
    return first, last
