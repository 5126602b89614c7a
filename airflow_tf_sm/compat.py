"""Every difference between the Airflow versions the package supports (3.1, 3.2, 3.3), in one place.

Nothing else in the package imports a version-specific Airflow path. Imports happen inside the
functions, so importing this module costs nothing at DAG parse time.

============================  =============================  ==============================
what                          Airflow 3.1                    Airflow 3.2+
============================  =============================  ==============================
configuration ``conf``        ``airflow.configuration``      ``airflow.sdk.configuration``
TaskDeferred, skip, timeout   ``airflow.exceptions``         ``airflow.sdk.exceptions``
``DagBag``                    ``airflow.models.dagbag``      ``airflow.dag_processing.dagbag``
hook lineage collector        ``airflow.lineage.hook``       ``airflow.sdk.lineage``
``Asset``, ``AssetAlias``     ``airflow.sdk``                ``airflow.sdk`` (the same)
``BaseTrigger.on_kill``       never called                   3.2: never called; 3.3+: called
============================  =============================  ==============================

On 3.2+ the old locations still import but warn, so the new one is tried first, and a name is read from
the module's own namespace (the old paths' ``__getattr__`` shims warn).

On 3.1 and 3.2 a user's kill of a *deferred* task (mark failed, clear) is not passed to the trigger, so
the trigger cannot stop the job; :func:`trigger_kill_supported` tells, and the operators warn when they
defer there. A later try of the task (a clear re-runs it) attaches to that still-running job: it never
starts a second one.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


def _first(*candidates: tuple[str, str]) -> Any:
    """Return the first ``(module, attribute)`` that exists, without tripping an old path's warning."""
    errors = []
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        if attribute in vars(module):
            return vars(module)[attribute]
        try:
            return getattr(module, attribute)
        except AttributeError as exc:
            errors.append(f"{module_name}.{attribute}: {exc}")
    raise ImportError("; ".join(errors))


@cache
def conf() -> Any:
    """Return Airflow's configuration object (``airflow.sdk.configuration.conf`` from 3.2)."""
    return _first(("airflow.sdk.configuration", "conf"), ("airflow.configuration", "conf"))


@cache
def _exception(name: str) -> type[BaseException]:
    exc: type[BaseException] = _first(("airflow.sdk.exceptions", name), ("airflow.exceptions", name))
    return exc


def task_deferral_timeout() -> type[BaseException]:
    """Return ``TaskDeferralTimeout`` (raised when a deferred task's timeout passes)."""
    return _exception("TaskDeferralTimeout")


def skip_exception() -> type[BaseException]:
    """Return ``AirflowSkipException``."""
    return _exception("AirflowSkipException")


def task_deferred() -> type[BaseException]:
    """Return ``TaskDeferred`` (raised by ``BaseOperator.defer``)."""
    return _exception("TaskDeferred")


def dagbag_class() -> type:
    """Return ``DagBag`` (``airflow.dag_processing.dagbag`` from 3.2)."""
    bag: type = _first(("airflow.dag_processing.dagbag", "DagBag"), ("airflow.models.dagbag", "DagBag"))
    return bag


def hook_lineage_collector() -> Any:
    """Return Airflow's hook lineage collector (``get_hook_lineage_collector()``)."""
    return _first(
        ("airflow.sdk.lineage", "get_hook_lineage_collector"), ("airflow.lineage.hook", "get_hook_lineage_collector")
    )()


@cache
def asset_types() -> tuple[type, type]:
    """Return ``(Asset, AssetAlias)`` (``airflow.sdk`` on every supported version)."""
    return (
        _first(("airflow.sdk", "Asset"), ("airflow.sdk.definitions.asset", "Asset")),
        _first(("airflow.sdk", "AssetAlias"), ("airflow.sdk.definitions.asset", "AssetAlias")),
    )


def airflow_version() -> tuple[int, int, int]:
    """Return the installed Airflow core version as ``(major, minor, micro)``."""
    import re

    from airflow import __version__

    major, minor, micro = (int(n) for n in re.findall(r"\d+", __version__)[:3])
    return major, minor, micro


def trigger_kill_supported() -> bool:
    """Return True when Airflow calls ``BaseTrigger.on_kill`` for a user's kill of a deferred task (3.3+)."""
    from airflow.triggers.base import BaseTrigger

    return callable(getattr(BaseTrigger, "on_kill", None))
