"""Settings of the ``[airflow_tf_sm]`` config section, read when asked (never at import time)."""

from __future__ import annotations

import os
from pathlib import Path

SECTION = "airflow_tf_sm"
BACKENDS = ("sagemaker", "local")


def _conf_get(key: str, fallback: str | None) -> str | None:
    from airflow.configuration import conf

    value = conf.get(SECTION, key, fallback=fallback)
    return None if value is None or value == "" else str(value)


def resolve_backend(backend: str | None = None) -> str:
    """Return the backend to use: the explicit argument, else ``[airflow_tf_sm] backend``, else ``sagemaker``.

    Raises:
        ValueError: for a name other than ``sagemaker`` or ``local``.
    """
    chosen = backend or _conf_get("backend", None) or "sagemaker"
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
    configured = _conf_get("local_root", None)
    if configured:
        return Path(configured).expanduser().resolve()
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return (Path(home) / "airflow_tf_sm").resolve()
