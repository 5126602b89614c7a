r"""A job's metric definitions applied to its log in a helper process, each regex within a time budget.

Python's ``re`` cannot be interrupted and holds the interpreter while it matches, so a catastrophic
regex (a nested quantifier such as ``(\d+)+$`` on a long run of digits) run in the job runner would stop
its heartbeat thread too and get a live job declared dead. The runner instead hands the definitions and the log to
``python -m airflow_tf_sm.backends.local.metrics``, which prints one result line per definition, and
waits for each line at most ``budget`` seconds (the helper is restarted after the definition that ran
out of time, which gets no value and a warning in the job log). The runner holds no lock meanwhile.

The budget is :data:`DEFAULT_BUDGET_SECONDS` per definition, or the job Environment's
``AIRFLOW_TF_SM_LOCAL_METRIC_SECONDS``.

This module imports only the standard library and sibling modules (the job runner loads it).
"""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from airflow_tf_sm.backends.local.container import extract_metrics

DEFAULT_BUDGET_SECONDS = 10.0
BUDGET_ENV = "AIRFLOW_TF_SM_LOCAL_METRIC_SECONDS"


def metric_budget(environment: Mapping[str, Any] | None) -> float:
    """Return the seconds each metric regex may take, from a job's Environment (else the default)."""
    try:
        value = float((environment or {}).get(BUDGET_ENV, DEFAULT_BUDGET_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_BUDGET_SECONDS
    return value if value > 0 else DEFAULT_BUDGET_SECONDS


def final_metrics(
    definitions: list[dict[str, str]],
    events: list[dict[str, Any]],
    budget: float,
    warn: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Return :func:`~airflow_tf_sm.backends.local.container.extract_metrics` of the events, in definition order.

    A definition whose regex takes longer than ``budget`` seconds gets no value and a warning.
    """
    if not definitions:
        return []
    payload = {
        "definitions": definitions,
        "events": [{"message": e.get("message", ""), "timestamp": e.get("timestamp", 0)} for e in events],
    }
    results: dict[int, list[dict[str, Any]]] = {}
    start = 0
    while start < len(definitions):
        reached, timed_out = _run_helper(payload, start, budget, results)
        if reached < len(definitions) and not timed_out:
            names = ", ".join(str(d.get("Name", "?")) for d in definitions[reached:])
            warn(f"WARNING: the metric helper process failed: no value for {names}")
            break
        if reached < len(definitions):  # that definition ran out of time
            name = definitions[reached].get("Name", "?")
            warn(
                f"WARNING: metric {name}: its Regex took longer than {budget:g} s on the log: no value "
                f"(set {BUDGET_ENV} in the job Environment to allow more)"
            )
            reached += 1
        start = reached
    return [metric for index in sorted(results) for metric in results[index]]


def _run_helper(
    payload: dict[str, Any], start: int, budget: float, results: dict[int, list[dict[str, Any]]]
) -> tuple[int, bool]:
    """Run the helper from definition ``start``.

    Returns:
        The index of the first definition without a result, and whether the helper ran out of time on it
        (False: it ended or failed).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_tf_sm.backends.local.metrics"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, {**payload, "start": start}), daemon=True)
    feeder.start()
    index = start
    lines = _Lines(proc.stdout, budget)
    try:
        for line in lines:
            item = json.loads(line)
            results[int(item["index"])] = list(item["metrics"])
            index = int(item["index"]) + 1
            if index >= len(payload["definitions"]):
                break
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        feeder.join(timeout=5)
    return index, lines.timed_out


def _feed(stdin: IO[bytes], payload: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the helper was killed before it read everything
        stdin.write(json.dumps(payload).encode())
        stdin.close()


class _Lines:
    """The helper's output lines, each within ``budget`` seconds of the previous one, until EOF or a timeout."""

    def __init__(self, stream: IO[bytes], budget: float) -> None:
        self.stream = stream
        self.budget = budget
        self.timed_out = False

    def __iter__(self) -> Iterator[bytes]:
        selector = selectors.DefaultSelector()
        selector.register(self.stream, selectors.EVENT_READ)
        buffer = b""
        deadline = time.monotonic() + self.budget
        try:
            while True:
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line
                    deadline = time.monotonic() + self.budget
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.timed_out = True
                    return
                chunk = self.stream.read1(65536)  # type: ignore[attr-defined]
                if not chunk:
                    return
                buffer += chunk
        finally:
            selector.close()


def main() -> int:
    """Run the helper: read ``{"definitions", "events", "start"}`` on stdin, print one result line each."""
    payload = json.load(sys.stdin)
    definitions, events = payload["definitions"], payload["events"]
    for index in range(int(payload.get("start", 0)), len(definitions)):
        metrics = extract_metrics([definitions[index]], events)
        sys.stdout.write(json.dumps({"index": index, "metrics": metrics}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
