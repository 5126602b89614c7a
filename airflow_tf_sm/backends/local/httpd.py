"""The HTTP/1.1 server under the local model server: bounded in threads, connections and time.

One event loop thread reads every connection; a request is handed to a fixed pool of worker threads only
once it has fully arrived, so clients that connect and send nothing (or send slowly) hold a socket, never a
thread. Each connection gets :data:`READ_TIMEOUT_SECONDS` to send its whole request (then 408, or a
silent close if it sent nothing); past :attr:`BoundedHTTPServer.max_connections` the connection that has
been reading longest is dropped to make room, so a flood of half-open connections cannot lock out a
health check. Requests the application answers without its body (``GET /ping``, 404, 405) are answered
on the event loop, so they never wait for a busy worker either.

Every answer has a JSON body, ``Content-Length`` and ``Connection: close`` (one request per connection,
as the local clients send them): malformed request lines and headers get 400, a ``Content-Length`` that
is not a number 400, a body over the limit 413, a chunked body 411, headers over 64 KiB 431.

This module imports only the standard library (the model server loads it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from http import HTTPStatus
from typing import NamedTuple

#: Seconds a connection has to send its request line, headers and body.
READ_TIMEOUT_SECONDS = 30.0
#: Worker threads answering requests that need the application (``POST /invocations``).
WORKERS = 8
#: Open connections at most (fewer when the process's file limit is lower).
MAX_CONNECTIONS = 4096
#: Seconds a stopping server waits for the requests its workers are answering.
DRAIN_SECONDS = 60.0
MAX_HEAD_BYTES = 64 * 1024
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@contextlib.asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)`` (Python 3.11+), or the same on 3.10: ``TimeoutError`` once it passes."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is not None:
        async with timeout(seconds):
            yield
        return
    task = asyncio.current_task()
    fired = False

    def cancel() -> None:
        nonlocal fired
        fired = True
        if task is not None:
            task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, cancel)
    try:
        yield
    except asyncio.CancelledError:
        if fired:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


class HTTPRequest(NamedTuple):
    """A request that has fully arrived.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: The request target (path and query).
        headers: Header names lower-cased.
        body: The body (``Content-Length`` bytes).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


#: An answer: status, JSON body, extra headers.
Reply = tuple[int, bytes, Mapping[str, str]]


def json_reply(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    """Return an error answer with body ``{"error": message}``."""
    return status, json.dumps({"error": message}).encode(), headers or {}


class _BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])
        self.reply = reply


class _Dropped(Exception):
    pass


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.started = time.monotonic()
        self.reading = True  # while reading its request it may be dropped to make room
        self.dropped = False

    def drop(self) -> None:
        """Close the connection at once; its reads end (the task is never cancelled: 3.11 logs that)."""
        self.dropped = True
        self.reading = False
        self.writer.transport.abort()


class BoundedHTTPServer:
    """An HTTP server on ``127.0.0.1`` with a fixed worker pool (the ``socketserver`` calls the model server uses).

    Args:
        early: Called on the event loop with ``(method, path)`` before the body is read: an answer, or None
            when the request goes to ``handle`` with its body. It must be quick.
        handle: Called in a worker thread with the full request; returns the answer.
        port: Port to bind (0: a free one).
        log: Called with one line per request.
        workers: Size of the worker pool.
        read_timeout: Seconds a connection has to send its whole request.
        max_connections: Open connections at most (capped below the process's file limit).
        max_body: Largest body accepted (413 above).
    """

    def __init__(
        self,
        early: Callable[[str, str], Reply | None],
        handle: Callable[[HTTPRequest], Reply],
        port: int = 0,
        *,
        log: Callable[[str], None] = lambda line: None,
        workers: int = WORKERS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        max_body: int = 6 * 1024 * 1024,
    ) -> None:
        self.early = early
        self.handle = handle
        self.log = log
        self.read_timeout = read_timeout
        self.max_body = max_body
        self.max_connections = min(max_connections, _file_limit() - 64)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen(1024)
        self.socket.setblocking(False)
        self.server_address: tuple[str, int] = self.socket.getsockname()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="http-worker")
        self._connections: dict[asyncio.Task[None], _Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()

    # -- the socketserver-like surface -------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (``poll_interval`` is accepted for ``socketserver`` compatibility)."""
        try:
            asyncio.run(self._serve())
        finally:
            self._started.set()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serving: no new connections, requests being answered finish first; wait for :meth:`serve_forever`."""
        self._started.wait(timeout=10)
        if self._loop is not None and self._stop is not None and not self._stopped.is_set():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
            self._stopped.wait(timeout=DRAIN_SECONDS + 10)

    def server_close(self) -> None:
        """Close the listening socket and wait for the worker pool."""
        self.socket.close()
        self.pool.shutdown(wait=True)

    # -- the event loop ----------------------------------------------------------------------------
    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._accept, sock=self.socket, limit=MAX_HEAD_BYTES)
        self._started.set()
        await self._stop.wait()
        server.close()  # no new connections
        for conn in list(self._connections.values()):
            if conn.reading:  # still sending its request: dropped
                conn.drop()
        busy = [task for task, conn in self._connections.items() if not conn.reading]
        if busy:  # being answered: they finish first, up to DRAIN_SECONDS
            _, late = await asyncio.wait(busy, timeout=DRAIN_SECONDS)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.max_connections and not self._make_room():
            writer.transport.abort()  # every connection is being answered: no room for another
            return
        conn = self._connections[task] = _Connection(writer)
        try:
            await self._one_request(reader, conn)
        except (ConnectionError, asyncio.IncompleteReadError, _Dropped):
            pass
        finally:
            del self._connections[task]
            if conn.reading:
                writer.transport.abort()
            else:
                writer.close()

    def _make_room(self) -> bool:
        """Drop the connection that has been reading its request longest; False when none is reading."""
        candidates = [(conn.started, task) for task, conn in self._connections.items() if conn.reading]
        if not candidates:
            return False
        _, oldest = min(candidates, key=lambda item: item[0])
        self._connections[oldest].drop()  # counted out at once; its task ends soon
        return True

    async def _one_request(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        peer = conn.writer.get_extra_info("peername") or ("?", 0)
        method, path = "-", "-"
        try:
            async with deadline(self.read_timeout):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    raise _BadRequest(json_reply(431, "the request line and headers must be under 64 KiB")) from None
                except asyncio.IncompleteReadError as exc:
                    if conn.dropped:
                        raise _Dropped from None
                    if exc.partial.strip():
                        raise _BadRequest(json_reply(400, "the request ended before its headers did")) from None
                    return
                method, path, headers = _parse_head(head)
                reply = self._early(method, path)
                try:
                    length = _content_length(headers, self.max_body)
                except _BadRequest:
                    if reply is None:
                        raise
                    length = 0  # answered without its body anyway
                body = await reader.readexactly(length) if length else b""  # read, so the answer is not lost
        except TimeoutError:
            await self._send(conn, json_reply(408, f"the request did not arrive within {self.read_timeout:g} s"))
            self.log(f'{peer[0]} "{method} {path}" 408')
            return
        except _BadRequest as bad:
            await self._send(conn, bad.reply, method)
            self.log(f'{peer[0]} "{method} {path}" {bad.reply[0]}')
            return
        conn.reading = False
        if reply is None:
            request = HTTPRequest(method, path, headers, body)
            loop = asyncio.get_running_loop()
            try:
                reply = await loop.run_in_executor(self.pool, self.handle, request)
            except Exception as exc:  # a bug of the application: still a JSON answer
                reply = json_reply(500, f"{type(exc).__name__}: {exc}")
        await self._send(conn, reply, method)
        self.log(f'{peer[0]} "{method} {path}" {reply[0]}')

    def _early(self, method: str, path: str) -> Reply | None:
        try:
            return self.early(method, path)
        except Exception as exc:
            return json_reply(500, f"{type(exc).__name__}: {exc}")

    async def _send(self, conn: _Connection, reply: Reply, method: str = "-") -> None:
        status, body, extra = reply
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in extra.items()]
        lines += ["Connection: close", "", ""]
        conn.reading = False
        conn.writer.write("\r\n".join(lines).encode("latin-1") + (b"" if method == "HEAD" else body))
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with deadline(self.read_timeout):
                await conn.writer.drain()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Return the method, target and headers (names lower-cased) of a request head.

    Raises:
        _BadRequest: for a malformed request line or header.
    """
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(json_reply(400, f"malformed request line: {lines[0][:100]!r}"))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _BadRequest(json_reply(400, f"malformed header line: {line[:100]!r}"))
        key = name.lower()
        value = value.strip()
        if key == "content-length" and key in headers and headers[key] != value:
            raise _BadRequest(json_reply(400, "conflicting Content-Length headers"))
        headers[key] = f"{headers[key]}, {value}" if key in headers and key != "content-length" else value
    return parts[0], parts[1], headers


def _content_length(headers: Mapping[str, str], limit: int) -> int:
    """Return the body length a request announces.

    Raises:
        _BadRequest: 400 for a length that is not a number, 411 for a chunked body, 413 over ``limit``.
    """
    if "transfer-encoding" in headers:
        raise _BadRequest(json_reply(411, "send the body with a Content-Length (chunked bodies are not supported)"))
    text = headers.get("content-length")
    if text is None:
        return 0
    if not text.isdigit() or not text.isascii():
        raise _BadRequest(json_reply(400, f"Content-Length must be a number of bytes, not {text[:40]!r}"))
    if int(text) > limit:
        raise _BadRequest(json_reply(413, f"the payload must be at most {limit} bytes"))
    return int(text)


def _file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (sockets are files); return the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20
