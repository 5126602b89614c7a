"""Start a detached helper process (job runner, model server) and wait only for its launcher to fork."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Directory holding the ``airflow_tf_sm`` package: put on PYTHONPATH so helper processes import it.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


def launch_detached(cmd: Sequence[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Run ``cmd`` in a new session with output appended to ``log_path``; return the launcher's exit code.

    The command forks the long-lived process itself and its launcher exits at once, so this returns as
    soon as the process exists; a launcher stuck for 120 s is killed (exit code then non-zero).
    """
    with open(log_path, "ab") as log:
        launcher = subprocess.Popen(
            list(cmd),
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
