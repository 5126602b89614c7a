"""Install a job's ``requirements.txt`` on the local backend, once per requirements digest.

The SageMaker training container runs ``pip install -r requirements.txt`` in its own image before the
script. Here the job's Python is the worker's (or ``AIRFLOW_TF_SM_LOCAL_PYTHON``), whose environment
must not change, so the packages go to a directory of their own, put first on the script's
``PYTHONPATH``: ``<root>/packages/<digest>/``, where the digest covers the requirements text, the
interpreter and the index settings. The next job with the same file reuses it; an install runs under a
lock, into a temporary directory renamed into place when it succeeded, so a failed or killed install
leaves nothing half-made behind.

The installer is whatever is there: ``uv`` (on ``PATH`` or as ``python -m uv``), else ``pip`` of the job's
Python, else a clear error saying what to install. The environment's index settings (``PIP_INDEX_URL``,
``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, ``UV_*``) apply. This module imports only the standard library.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

#: Environment variables with index settings, part of the cache key and handed to the installer.
INDEX_SETTINGS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
)
#: Marker of a complete install directory.
COMPLETE = ".complete"


class RequirementsError(Exception):
    """The requirements could not be installed (the message says why and what to do)."""


def installer(python: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Return the name and the command prefix of the installer to use for ``python``.

    Raises:
        RequirementsError: neither uv nor pip is available.
    """
    uv = shutil.which("uv", path=env.get("PATH"))
    if uv:
        return "uv", [uv, "pip", "install", "--python", python]
    for candidate in dict.fromkeys((python, sys.executable)):
        if _runs(candidate, "uv"):
            return "uv", [candidate, "-m", "uv", "pip", "install", "--python", python]
    if _runs(python, "pip"):
        return "pip", [python, "-m", "pip", "install", "--disable-pip-version-check"]
    raise RequirementsError(
        f"InstallRequirementsError: neither uv nor pip is available for {python}: install one of them into "
        f"that environment (e.g. '{python} -m ensurepip' or 'pip install uv'), or set the job Environment "
        "AIRFLOW_TF_SM_LOCAL_PYTHON to an interpreter that has pip"
    )


def _runs(python: str, module: str) -> bool:
    try:
        done = subprocess.run([python, "-m", module, "--version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _interpreter_id(python: str) -> str:
    """Return what identifies the interpreter's packages: its version, ABI and platform."""
    probe = "import sys, sysconfig; print(sys.version, sys.implementation.cache_tag, sysconfig.get_platform())"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() or python


def requirements_digest(text: str, python: str, env: Mapping[str, str]) -> str:
    """Return the cache key of ``text`` installed for ``python`` with ``env``'s index settings."""
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(_interpreter_id(python).encode())
    for name in INDEX_SETTINGS:
        digest.update(f"\n{name}={env.get(name, '')}".encode())
    return digest.hexdigest()[:32]


def _index_arguments(kind: str, env: Mapping[str, str]) -> list[str]:
    """Return the index options for the installer (pip reads PIP_* itself; uv gets them as options)."""
    if kind != "uv":
        return []
    arguments: list[str] = []
    if env.get("PIP_INDEX_URL"):
        arguments += ["--index-url", env["PIP_INDEX_URL"]]
    for name, option in (("PIP_EXTRA_INDEX_URL", "--extra-index-url"), ("PIP_FIND_LINKS", "--find-links")):
        for value in env.get(name, "").split():
            arguments += [option, value]
    return arguments


def install_requirements(
    requirements: Path, root: Path, python: str, env: Mapping[str, str], log: Callable[[str], None]
) -> Path:
    """Install ``requirements`` for ``python`` (once per digest) and return the directory to put on PYTHONPATH.

    Raises:
        RequirementsError: no installer, or the install failed (the reason has the installer's last lines).
    """
    text = requirements.read_text(errors="replace")
    target = root / "packages" / requirements_digest(text, python, env)
    if (target / COMPLETE).is_file():
        log(f"Requirements already installed for this requirements.txt and Python: reusing {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if (target / COMPLETE).is_file():  # another job installed it meanwhile
            log(f"Requirements already installed for this requirements.txt and Python: reusing {target}")
            return target
        kind, command = installer(python, env)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            cmd = [*command, *_index_arguments(kind, env), "--target", str(staging), "-r", str(requirements)]
            log(f"Installing requirements with {kind}: {' '.join(cmd)}")
            done = subprocess.run(
                cmd, capture_output=True, text=True, env=dict(env), cwd=requirements.parent, check=False
            )
            output = (done.stdout + done.stderr).splitlines()
            for line in output:
                log(line)
            if done.returncode != 0:
                tail = "\n".join(output[-10:]).replace('"', "'")
                raise RequirementsError(
                    f'InstallRequirementsError:\nExitCode {done.returncode}\nErrorMessage "{tail}"\n'
                    f'Command "{" ".join(cmd)}"'
                )
            (staging / COMPLETE).touch()
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(target)  # an incomplete leftover
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
