"""Every difference between the Airflow versions the package supports (3.1, 3.2, 3.3), in one place.

Nothing else in the package imports a version-specific Airflow path. Imports happen inside the
functions, so importing this module costs nothing at DAG parse time.

============================  =============================  ==============================
what                          Airflow 3.1                    Airflow 3.2+
============================  =============================  ==============================
configuration ``conf``        ``airflow.configuration``      ``airflow.sdk.configuration``
TaskDeferred, skip, timeout   ``airflow.exceptions``         ``airflow.sdk.exceptions``
``DagBag``                    ``airflow.models.dagbag``      ``airflow.dag_processing.dagbag``
``BaseTrigger.on_kill``       absent (3.3+)                  absent on 3.2, present on 3.3
============================  =============================  ==============================
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


def _first(*candidates: tuple[str, str]) -> Any:
    """Return the first ``(module, attribute)`` that imports."""
    errors = []
    for module_name, attribute in candidates:
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
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


def trigger_kill_supported() -> bool:
    """Return True when Airflow calls ``BaseTrigger.on_kill`` for a user's kill of a deferred task (3.3+)."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "on_kill")
