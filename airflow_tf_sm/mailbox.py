"""What the shared poller hands its waiters: one mailbox (:class:`Subscription`) per waiter and job.

And :class:`WaitEvent`, the one event a wait yields. A mailbox holds the newest description of the job
(:class:`Snapshot`: only the newest state matters) and, when the poller reads the job's log for it, every
new log line in order (lines accumulate until taken).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

if TYPE_CHECKING:
    from airflow_tf_sm.waiting import Backoff


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; return whether it is set.

    Not ``asyncio.wait_for``: before Python 3.12 it swallows a cancellation that arrives as the event is set,
    and a trigger the triggerer cancels must end. Also no ``TimeoutError`` (not the builtin one before 3.11).
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()


@dataclass(frozen=True)
class Snapshot:
    """What a waiter receives: the job's description, or the error describing it raised.

    Attributes:
        desc: DescribeTrainingJob response, or ``None`` when ``error`` is set.
        error: The exception of a failed describe call.
    """

    desc: dict[str, Any] | None = None
    error: BaseException | None = None


class Subscription:
    """One waiter's mailbox for one job: the newest snapshot until the waiter takes it, and new log lines.

    Args:
        job_name: The watched job.
        poll_interval: How often the waiter wants news at most (the poller runs at the smallest current
            interval of its waiters).
        backoff: The waiter's intervals (default: fixed at ``poll_interval``); each poller tick moves to the next.
        logs: The poller reads the job's log for this waiter (:attr:`fed_logs`; it may fall back to the
            waiter's own reading, then :attr:`fed_logs` turns False and :attr:`shown` says what was shown).
    """

    def __init__(
        self, job_name: str, poll_interval: float, backoff: Backoff | None = None, *, logs: bool = False
    ) -> None:
        from airflow_tf_sm.waiting import Backoff

        self.job_name = job_name
        self.backoff = backoff or Backoff(poll_interval, start=poll_interval)
        self.poll_interval = self.backoff.next()
        self.fed_logs = logs
        #: Per stream (timestamp, count) of the lines the poller delivered, once it stopped feeding the log.
        self.shown: dict[str, tuple[int, int]] = {}
        self._latest: Snapshot | None = None
        self._lines: list[tuple[int, str]] | None = None  # (none while empty: fewer objects per waiter)
        self._ready = False  # news came since the waiter last looked
        self._waiter: asyncio.Future[None] | None = None  # what a waiting get() awaits

    @property
    def waiting(self) -> bool:
        """A :meth:`get` is waiting for news."""
        return self._waiter is not None

    def _wake(self) -> None:
        self._ready = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def push(self, snapshot: Snapshot) -> None:
        """Replace the pending snapshot (only the newest state matters) and wake the waiter."""
        self._latest = snapshot
        self._wake()

    def push_lines(self, entries: list[tuple[int, str]]) -> None:
        """Add new ``(level, line)`` log entries (kept in order until taken) and wake the waiter."""
        if entries:
            if self._lines is None:
                self._lines = list(entries)
            else:
                self._lines.extend(entries)
            self._wake()

    def stop_feeding(self, shown: dict[str, tuple[int, int]]) -> None:
        """Stop feeding lines: the waiter reads the log itself from now on, after the ``shown`` lines."""
        self.fed_logs = False
        self.shown = dict(shown)
        self._wake()

    def take_lines(self) -> list[tuple[int, str]]:
        """Return the log entries delivered since the last call."""
        lines, self._lines = self._lines, None
        return lines if lines is not None else []

    async def get(self, timeout: float | None = None) -> Snapshot | None:
        """Wait for news; return the next snapshot, or ``None`` after ``timeout`` s or when only lines came.

        One future (and, with ``timeout``, one timer) per wait: thousands of waiters wait at once in one
        triggerer, and every object they keep alive is walked by each full garbage collection. A cancellation
        is never lost: it is raised here even when news arrived at the same time (no ``asyncio.wait_for``).
        """
        if not self._ready:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _resolve, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._ready:
                return None
        self._ready = False
        snapshot, self._latest = self._latest, None
        return snapshot


def _resolve(waiter: asyncio.Future[None]) -> None:
    """End a wait (its timeout passed)."""
    if not waiter.done():
        waiter.set_result(None)


class WaitEvent(TriggerEvent):
    """The event of a wait: Airflow stores its payload, but logs only a one-line summary of it.

    (The triggerer logs every event it gets; the payload holds the result the task resumes with.)
    """

    def __repr__(self) -> str:
        payload = self.payload if isinstance(self.payload, Mapping) else {}
        name = next((str(v) for k, v in payload.items() if k.endswith("_name") and v), "")
        state = next(
            (str(v) for k, v in payload.items() if k.endswith("_status") and k != "secondary_status" and v), ""
        )
        summary = " ".join(part for part in (str(payload.get("status", "")), name, state) if part)
        if payload.get("status") == "error":
            summary += f" ({payload.get('error_code') or 'error'})"
        return f"TriggerEvent<{summary}>"
