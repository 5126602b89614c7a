"""Every setting the package reads, read when asked (never at import time).

``[airflow_tf_sm] backend`` and ``local_root`` choose the backend and the local backend's state root;
``local_max_hosts`` bounds the hosts of one local training job; ``triggerer_gc_freeze`` lets the first
shared poller of a process call ``gc.freeze()``; ``[operators] default_deferrable`` is Airflow's default of
every ``deferrable`` argument.
"""

from __future__ import annotations

import os
from pathlib import Path

SECTION = "airflow_tf_sm"
BACKENDS = ("sagemaker", "local")
BACKEND_ENV = "AIRFLOW__AIRFLOW_TF_SM__BACKEND"
LOCAL_ROOT_ENV = "AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT"
LOCAL_MAX_HOSTS_ENV = "AIRFLOW__AIRFLOW_TF_SM__LOCAL_MAX_HOSTS"
#: How the host limit of the local backend is named in messages.
LOCAL_MAX_HOSTS_SETTING = f"[{SECTION}] local_max_hosts (environment variable {LOCAL_MAX_HOSTS_ENV})"


def get(key: str, fallback: str | None = None, section: str = SECTION) -> str | None:
    """Return a setting (``None`` or ``fallback`` when unset or empty)."""
    from airflow_tf_sm.compat import conf

    value = conf().get(section, key, fallback=fallback)
    return fallback if value is None or value == "" else str(value)


def resolve_backend(backend: str | None = None) -> str:
    """Return the backend to use: the explicit argument, else ``[airflow_tf_sm] backend``, else ``sagemaker``.

    Raises:
        ValueError: for a name other than ``sagemaker`` or ``local``.
    """
    chosen = backend or get("backend") or "sagemaker"
    chosen = chosen.strip().lower()
    if chosen == "aws":
        chosen = "sagemaker"
    if chosen not in BACKENDS:
        raise ValueError(f"backend: {chosen!r} -- must be one of {', '.join(BACKENDS)}")
    return chosen


def resolve_local_root(local_root: str | os.PathLike[str] | None = None) -> Path:
    """Return the local backend's state root.

    Order: the explicit argument, ``[airflow_tf_sm] local_root``, then ``$AIRFLOW_HOME/airflow_tf_sm``
    (``~/airflow/airflow_tf_sm`` when AIRFLOW_HOME is unset).
    """
    if local_root:
        return Path(local_root).expanduser().resolve()
    configured = get("local_root")
    if configured:
        return Path(configured).expanduser().resolve()
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return (Path(home) / "airflow_tf_sm").resolve()


def local_max_hosts() -> int:
    """Return ``[airflow_tf_sm] local_max_hosts``: the most hosts one local training job may have.

    Each host of a local job is a process with its own copy of the code and data on this machine.
    Default: the machine's CPU count.

    Raises:
        ValueError: the setting is not a whole number >= 1 (the message names the setting).
    """
    configured = get("local_max_hosts")
    if configured is None:
        return max(1, os.cpu_count() or 1)
    try:
        value = int(configured.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{LOCAL_MAX_HOSTS_SETTING}: {configured!r} -- must be a whole number >= 1")
    return value


def triggerer_gc_freeze() -> bool:
    """Return ``[airflow_tf_sm] triggerer_gc_freeze`` (default True): may the first shared poller call gc.freeze()."""
    configured = get("triggerer_gc_freeze")
    return configured is None or configured.strip().lower() not in ("false", "0", "no", "off")


def default_deferrable() -> bool:
    """Return ``[operators] default_deferrable`` (read when a task is built, not at import)."""
    from airflow_tf_sm.compat import conf

    return bool(conf().getboolean("operators", "default_deferrable", fallback=False))
