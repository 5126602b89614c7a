"""Processes of the local backend: start a detached helper (job runner, tuner, model server), know it, stop it.

This module imports only the standard library (the job runner and the model server load it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Directory holding the ``airflow_tf_sm`` package: put on PYTHONPATH so helper processes import it.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


def process_token(pid: int) -> str | None:
    """Return an identity token of a live process (its start time), or None when it is gone.

    A zombie counts as gone. The token guards against a recycled pid.
    """
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        return None
    except OSError:  # pragma: no cover - no /proc on this platform
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "unknown"
        return "unknown"
    fields = text[text.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]  # starttime, field 22 of /proc/<pid>/stat


def process_alive(pid: int, token: str | None) -> bool:
    """Return whether process ``pid`` still runs and is the one that had ``token``."""
    current = process_token(pid)
    if current is None:
        return False
    return token is None or current == token or "unknown" in (token, current)


def holder_gone(state: Mapping[str, Any], heartbeat: Path, timeout: float, holder: str) -> bool:
    """Return whether the detached process that runs a busy job is gone (its job must be marked Failed).

    Gone: no heartbeat (the ``heartbeat`` file's modification time; the job's creation time before the
    first) for more than ``timeout`` seconds, or the process recorded under ``state[holder]`` (``pid``,
    ``token``) no longer alive. A job whose process is not recorded yet is still being launched: the
    heartbeat covers a launcher that never came up.
    """
    try:
        beat = heartbeat.stat().st_mtime
    except FileNotFoundError:
        beat = state.get("creation_time", 0.0)
    if time.time() - beat > timeout:
        return True
    process = state.get(holder)
    if not process:
        return False
    return not process_alive(int(process["pid"]), process.get("token"))


def kill_group(pid: int, token: str | None, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid`` if that process is still the same one.

    Returns:
        Whether a signal was sent.
    """
    if not process_alive(pid, token):
        return False
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_gone(pids: Sequence[tuple[int, str | None]], timeout: float) -> bool:
    """Wait until none of ``(pid, token)`` runs any more; return whether that happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(process_alive(pid, token) for pid, token in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def helper_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a helper process: this one's, the package importable, plus ``extra``."""
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
    return env


def launch_detached(module: str, args: Sequence[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Run ``python -m module args --detach`` in a new session, output appended to ``log_path``.

    The module forks the long-lived process itself and its launcher exits at once, so this returns as
    soon as the process exists; a launcher stuck for 120 s is killed (exit code then non-zero).

    Returns:
        The launcher's exit code (0: the process was started).
    """
    with open(log_path, "ab") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--detach"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
            cwd=str(cwd),
        )
        try:
            return launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            launcher.kill()
            return launcher.wait()


def detach_and_record(record: Callable[[dict[str, Any]], object]) -> bool:
    """Fork; the parent hands the child's ``{"pid", "token"}`` to ``record`` and reports True.

    The child starts a new session and gets False.
    """
    pid = os.fork()
    if pid > 0:
        record({"pid": pid, "token": process_token(pid)})
        return True
    os.setsid()
    return False


def own_record() -> dict[str, Any]:
    """Return ``{"pid", "token"}`` of this process."""
    return {"pid": os.getpid(), "token": process_token(os.getpid())}


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports free on 127.0.0.1 just now (held together while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()
