"""Many waiters in one event loop: start them a few per loop step; keep them out of full garbage collections.

The shared poller (``polling.py``) lets thousands of triggers wait in one triggerer; two things then stall its
event loop, and this module bounds both.

Start-up: a triggerer that gets thousands of triggers at once would run every first step in one pass of the
loop; :class:`StartGate` lets :data:`START_SLICE` waiters start per step.

Garbage collection: with Airflow imported a process holds some 160,000 container objects (modules,
classes, functions), and every full (generation 2) collection walks them all -- about 0.1 s on a 2-vCPU
machine, on the event loop of the triggerer whenever the loop's own allocations trigger it (the log lines
of thousands of waiters do so every few intervals). So the first poller to start in a process calls
``gc.freeze()`` once (:func:`freeze_start_up`; ``[airflow_tf_sm] triggerer_gc_freeze = False`` turns it
off): the objects alive then move to the permanent generation and later collections only walk what was
made after. It is process-wide and never undone, which is safe because those objects live as long as the
process; the price is that the few of them that would become cyclic garbage later are never freed. The
waiting triggers made after the first freeze would bring the pauses back (thousands of them: 0.1 s and
more a collection), so the same setting also freezes again right after a full collection -- when all
that is left is reachable -- once :data:`REFREEZE_WAITERS` new waiters came (see
:func:`_freeze_after_full_collection`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Shared waiters that start (find their poller and subscribe) in one step of the event loop.
START_SLICE = 50
#: New shared waiters after which the next full garbage collection is followed by ``gc.freeze()``.
REFREEZE_WAITERS = 500

_frozen = False
_refreeze = False  # the setting allowed freezing: re-freeze after full collections (see freeze_start_up)
_new_waiters = 0  # shared waiters subscribed since the last freeze


def freeze_start_up() -> bool:
    """Call ``gc.freeze()`` once per process unless ``[airflow_tf_sm] triggerer_gc_freeze`` is off; return if it did.

    See the module docstring (garbage collection). Cheap (no collection runs): it only moves the tracked
    objects to the permanent generation. It also installs :func:`_freeze_after_full_collection`.
    """
    global _frozen, _refreeze
    if _frozen:
        return False
    from airflow_tf_sm.settings import triggerer_gc_freeze

    _frozen = True
    if not triggerer_gc_freeze():
        return False
    gc.freeze()
    _refreeze = True
    gc.callbacks.append(_freeze_after_full_collection)
    log.debug("gc.freeze(): %d start-up objects left out of garbage collections", gc.get_freeze_count())
    return True


def waiter_subscribed() -> None:
    """Count a new shared waiter (for :func:`_freeze_after_full_collection`)."""
    global _new_waiters
    _new_waiters += 1


def _freeze_after_full_collection(phase: str, info: Mapping[str, Any]) -> None:
    """After a full collection, once :data:`REFREEZE_WAITERS` shared waiters came since the last freeze: freeze.

    Right after a full (generation 2) collection every tracked object is reachable -- the collection just
    freed the cyclic garbage -- so freezing then leaves out of later collections only live objects: mostly
    the coroutines, tasks and mailboxes of the waiting triggers, which otherwise every full collection walks
    (about 0.1 s for 5,000 waiters on 2 vCPUs, on the event loop). A frozen object that dies is still freed
    by its reference count; only one that ends up in a reference cycle is never freed. A waiting trigger
    leaves none when it ends (measured: 500 triggers frozen while waiting, then ended, left no cyclic
    garbage but the finished event loop's own), and this runs at most once per :data:`REFREEZE_WAITERS`
    new waiters, after a collection that ran anyway (it never starts one).
    """
    global _new_waiters
    if phase == "stop" and info.get("generation") == 2 and _refreeze and _new_waiters >= REFREEZE_WAITERS:
        _new_waiters = 0
        gc.freeze()


class StartGate:
    """Let at most ``per_step`` waiters start in one step of the event loop; the others start in the next steps.

    A triggerer that gets thousands of triggers at once (a restart, a big backfill) would otherwise run every
    first step -- find the poller, subscribe, build the state machine -- in one pass of the loop. Waiters
    start in the order they arrived; one cancelled while waiting is skipped. Use it inside one event loop
    (it keeps no reference to it: the per-loop registry must not keep a closed loop alive).

    Args:
        per_step: Waiters started per step.
    """

    def __init__(self, per_step: int = START_SLICE) -> None:
        self.per_step = per_step
        self._queue: deque[asyncio.Future[None]] = deque()
        self._started = 0  # in this step
        self._scheduled = False

    async def enter(self) -> None:
        """Return at once when this step has room and nobody waits, else in a later step."""
        self._schedule()
        if not self._queue and self._started < self.per_step:
            self._started += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._queue.append(waiter)
        await waiter

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_step)

    def _next_step(self) -> None:
        self._scheduled = False
        self._started = 0
        while self._queue and self._started < self.per_step:
            waiter = self._queue.popleft()
            if not waiter.done():  # (a cancelled one is done)
                waiter.set_result(None)
                self._started += 1
        if self._queue or self._started:
            self._schedule()


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StartGate] = weakref.WeakKeyDictionary()


def start_gate() -> StartGate:
    """Return the running event loop's :class:`StartGate` of shared waiters."""
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = StartGate()
    return gate
