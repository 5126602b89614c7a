"""The CloudWatch Logs read API of the local backend, over the log streams of ``logstore.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_tf_sm.backends.local.logstore import LogStore
from airflow_tf_sm.backends.local.wire import client_error, decode_token, encode_token, metadata, paginate
from airflow_tf_sm.sagemaker.resources import LOCAL_ACCOUNT_ID as ACCOUNT_ID


class LocalLogsClient:
    """The CloudWatch Logs read API over the local log streams.

    Args:
        root: The local backend root directory.
        region: Region reported by ``meta.region_name``.
    """

    def __init__(self, root: str | os.PathLike[str], region: str = "us-east-1") -> None:
        self.logs = LogStore(root)
        self.region = region
        self.meta = SimpleNamespace(region_name=region)

    def describe_log_streams(
        self,
        *,
        logGroupName: str,
        logStreamNamePrefix: str | None = None,
        orderBy: str = "LogStreamName",
        descending: bool = False,
        nextToken: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Return ``{"logStreams": [...], "nextToken"?}``; ResourceNotFoundException for an unknown group."""
        op = "DescribeLogStreams"
        if orderBy not in ("LogStreamName", "LastEventTime"):
            raise client_error("InvalidParameterException", f"Invalid orderBy: {orderBy}", op)
        if orderBy == "LastEventTime" and logStreamNamePrefix:
            raise client_error(
                "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.", op
            )
        try:
            streams = self.logs.streams(logGroupName)
        except FileNotFoundError:
            raise client_error("ResourceNotFoundException", "The specified log group does not exist.", op) from None
        if logStreamNamePrefix:
            streams = [s for s in streams if s.name.startswith(logStreamNamePrefix)]
        if orderBy == "LogStreamName":
            streams.sort(key=lambda s: s.name, reverse=descending)
        else:
            streams.sort(key=lambda s: (s.last_event_ms or 0, s.name), reverse=descending)
        page, token = paginate(streams, nextToken, limit, op)
        group_arn = f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{logGroupName}"
        out = []
        for s in page:
            item: dict[str, Any] = {
                "logStreamName": s.name,
                "creationTime": s.creation_ms,
                "arn": f"{group_arn}:log-stream:{s.name}",
                "storedBytes": s.stored_bytes,
            }
            if s.first_event_ms is not None:
                item["firstEventTimestamp"] = s.first_event_ms
                item["lastEventTimestamp"] = s.last_event_ms
                item["lastIngestionTime"] = s.last_event_ms
            out.append(item)
        resp: dict[str, Any] = {"logStreams": out}
        if token:
            resp["nextToken"] = token
        resp["ResponseMetadata"] = metadata()
        return resp

    def get_log_events(
        self,
        *,
        logStreamName: str,
        logGroupName: str | None = None,
        startFromHead: bool = False,
        nextToken: str | None = None,
        limit: int = 10000,
        startTime: int | None = None,
        endTime: int | None = None,
    ) -> dict[str, Any]:
        """Return ``{"events", "nextForwardToken", "nextBackwardToken"}`` like CloudWatch Logs.

        Without a token the read starts at the head (``startFromHead=True``) or returns the newest events
        (the service default). A forward token continues after the caller's position and comes back
        unchanged when there is nothing new.
        """
        op = "GetLogEvents"
        if logGroupName is None:
            raise client_error("InvalidParameterException", "logGroupName is required", op)
        try:
            self.logs.streams(logGroupName)
        except FileNotFoundError:
            raise client_error("ResourceNotFoundException", "The specified log group does not exist.", op) from None
        path = self.logs.stream_path(logGroupName, logStreamName)
        if not path.is_file():
            raise client_error("ResourceNotFoundException", "The specified log stream does not exist.", op)
        limit = max(1, min(int(limit), 10000))
        if nextToken:
            direction, _, number = nextToken.partition("/")
            if direction not in ("f", "b") or not number.isdigit():
                raise client_error("InvalidParameterException", "The specified nextToken is invalid.", op)
            offset = int(number)
            if direction == "f":
                events, end = self.logs.read_events(path, offset, limit)
                start = offset
            else:
                events, start = self.logs.read_events_before(path, offset, limit)
                end = offset
        elif startFromHead:
            events, end = self.logs.read_events(path, 0, limit)
            start = 0
        else:
            size = path.stat().st_size
            events, start = self.logs.read_events_before(path, size, limit)
            end = self._line_end(path, start, len(events))
        if startTime is not None:
            events = [e for e in events if e["timestamp"] >= startTime]
        if endTime is not None:
            events = [e for e in events if e["timestamp"] < endTime]
        return {
            "events": events,
            "nextForwardToken": f"f/{end:020d}",
            "nextBackwardToken": f"b/{start:020d}",
            "ResponseMetadata": metadata(),
        }

    def filter_log_events(
        self,
        *,
        logGroupName: str,
        logStreamNames: list[str] | None = None,
        logStreamNamePrefix: str | None = None,
        startTime: int | None = None,
        endTime: int | None = None,
        filterPattern: str | None = None,
        nextToken: str | None = None,
        limit: int = 10000,
        interleaved: bool | None = None,
    ) -> dict[str, Any]:
        """Return ``{"events": [...], "nextToken"?}`` of the group's streams, like CloudWatch Logs.

        Events (``logStreamName``, ``timestamp``, ``message``, ``ingestionTime``, ``eventId``) come sorted by
        timestamp, then ingestion time, across the chosen streams (``interleaved`` is ignored: always
        interleaved, as the service does since 2019); ``startTime`` is inclusive, ``endTime`` too (events
        later than it are left out); at most ``limit`` (1-10,000) a page, then a ``nextToken``. Names in
        ``logStreamNames`` that do not exist match nothing. ``filterPattern`` is not supported locally
        (InvalidParameterException). The local ``stream`` marker of stderr lines is kept.
        """
        op = "FilterLogEvents"
        if logStreamNames is not None and logStreamNamePrefix is not None:
            raise client_error(
                "InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive", op
            )
        if logStreamNames is not None and not 1 <= len(logStreamNames) <= 100:
            raise client_error("InvalidParameterException", "logStreamNames must hold 1 to 100 names", op)
        if not 1 <= int(limit) <= 10000:
            raise client_error("InvalidParameterException", "limit must be between 1 and 10000", op)
        if filterPattern:
            raise client_error("InvalidParameterException", "filterPattern is not supported by the local backend", op)
        try:
            streams = self.logs.streams(logGroupName)
        except FileNotFoundError:
            raise client_error("ResourceNotFoundException", "The specified log group does not exist.", op) from None
        if logStreamNames is not None:
            wanted = set(logStreamNames)
            streams = [s for s in streams if s.name in wanted]
        elif logStreamNamePrefix:
            streams = [s for s in streams if s.name.startswith(logStreamNamePrefix)]
        after: list[Any] | None = None
        if nextToken:
            data = decode_token(nextToken, op)
            after = data.get("after")
            if not isinstance(after, list) or len(after) != 4:
                raise client_error("InvalidParameterException", "The specified nextToken is invalid.", op)
        found: list[tuple[tuple[int, int, str, int], dict[str, Any]]] = []
        for stream in streams:
            offset = 0
            with open(stream.path, "rb") as fh:
                for line in fh:
                    start, offset = offset, offset + len(line)
                    if not line.endswith(b"\n"):
                        break  # a line still being written
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    when = int(event.get("timestamp", 0))
                    if (startTime is not None and when < startTime) or (endTime is not None and when > endTime):
                        continue
                    key = (when, int(event.get("ingestionTime", when)), stream.name, start)
                    if after is not None and list(key) <= after:
                        continue
                    found.append((key, {**event, "logStreamName": stream.name, "eventId": f"{stream.name}@{start}"}))
        found.sort(key=lambda item: item[0])
        page = found[: int(limit)]
        resp: dict[str, Any] = {"events": [event for _, event in page], "searchedLogStreams": []}
        if len(found) > len(page):
            resp["nextToken"] = encode_token({"after": list(page[-1][0])})
        resp["ResponseMetadata"] = metadata()
        return resp

    @staticmethod
    def _line_end(path: Path, start: int, count: int) -> int:
        """Return the byte offset after ``count`` whole lines that start at ``start``."""
        return LogStore.read_events(path, start, count)[1] if count else start
