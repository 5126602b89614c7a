"""What every benchmark shares: the figure row, child processes with an isolated Airflow home, small stats."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass
class Figure:
    """One row of the table: what was measured, against which goal, and whether it met it."""

    name: str
    measured: str
    goal: str
    ok: bool
    details: str = ""


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of a benchmark child: its own AIRFLOW_HOME, no examples, fake AWS settings (never used)."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AIRFLOW_TF_SM_LOCAL_FAULTS", None)
    env.update(extra)
    return env


def scratch_dir(prefix: str) -> Path:
    """A temporary directory removed when this process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def new_home() -> Path:
    """A throwaway AIRFLOW_HOME."""
    return scratch_dir("airflow_tf_sm_bench_home_")


def last_json(stdout: str) -> Any:
    """The JSON document a child printed on its last non-empty stdout line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("the benchmark child printed nothing")
    return json.loads(lines[-1])


def run_child(args: list[str], env: dict[str, str], timeout: float) -> Any:
    """Run ``python <args>`` from the repository root and return the JSON it printed last."""
    result = subprocess.run(
        [PYTHON, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return last_json(result.stdout)


def median(values: list[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def rss_mb() -> float:
    """Resident set size of this process now, in MiB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(data: Any) -> None:
    """Print the child's result as one JSON line (the parent reads the last line)."""
    print(json.dumps(data), flush=True)


def record_poller_ticks() -> list[float]:
    """Record the time of every tick of the shared pollers made in this process (for per-tick call counts).

    Returns:
        The list the tick times (``time.time()``) are appended to.
    """
    import time

    from airflow_tf_sm import polling

    ticks: list[float] = []
    original = polling.JobPoller._tick

    async def timed_tick(self: Any, already: set[str]) -> set[str]:
        ticks.append(time.time())
        return await original(self, already)

    polling.JobPoller._tick = timed_tick  # type: ignore[method-assign]
    return ticks
