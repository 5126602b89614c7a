"""Distribution strategies of a TensorFlow training job, in the SDK v2 ``distribution`` vocabulary.

``{"parameter_server" | "mpi" | "multi_worker_mirrored_strategy": {"enabled": bool, ...},
"instance_groups": [group names]}`` -> the framework hyperparameters the SDK adds
(``sagemaker_parameter_server_enabled``, ``sagemaker_mpi_*``, ``sagemaker_multi_worker_mirrored_strategy_enabled``,
``sagemaker_distribution_instance_groups``), and the rules the SDK enforces before sending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_tf_sm.exceptions import FieldError
from airflow_tf_sm.sagemaker.fields import matches, unknown_rule, version_tuple
from airflow_tf_sm.sagemaker.hyperparameters import (
    HP_DISTRIBUTION_INSTANCE_GROUPS,
    HP_MPI,
    HP_MPI_OPTIONS,
    HP_MPI_PROCESSES,
    HP_MWMS,
    HP_PARAMETER_SERVER,
)
from airflow_tf_sm.training.resources import distribution_group_errors

#: MultiWorkerMirroredStrategy needs this TensorFlow version or newer.
MWMS_MIN_VERSION = (2, 9)
#: Distribution strategies and the keys each accepts.
DISTRIBUTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "parameter_server": ("enabled",),
    "mpi": ("enabled", "processes_per_host", "custom_mpi_options"),
    "multi_worker_mirrored_strategy": ("enabled",),
}
#: ``distribution`` key naming the instance groups a strategy runs on (a heterogeneous cluster).
DISTRIBUTION_GROUPS = "instance_groups"


def enabled_strategies(distribution: Mapping[str, Any]) -> list[str]:
    """Return the strategies whose ``enabled`` is true, in :data:`DISTRIBUTION_SETTINGS` order."""
    return [
        name
        for name in DISTRIBUTION_SETTINGS
        if isinstance(distribution.get(name), Mapping) and distribution[name].get("enabled") is True
    ]


def _strategy_errors(name: str, settings: Any) -> list[FieldError]:
    where = f"distribution.{name}"
    if name not in DISTRIBUTION_SETTINGS:
        known = [*DISTRIBUTION_SETTINGS, DISTRIBUTION_GROUPS]
        return [FieldError(where, settings, unknown_rule(name, known, "strategy"))]
    if not isinstance(settings, Mapping):
        return [FieldError(where, settings, 'must be a mapping like {"enabled": true}')]
    allowed = DISTRIBUTION_SETTINGS[name]
    problems = [
        FieldError(f"{where}.{key}", value, unknown_rule(str(key), list(allowed), "key"))
        for key, value in settings.items()
        if key not in allowed
    ]
    if not isinstance(settings.get("enabled", False), bool):
        problems.append(FieldError(f"{where}.enabled", settings["enabled"], "must be true or false"))
    return problems


def distribution_errors(
    distribution: Mapping[str, Any], framework_version: str, instance_groups: Sequence[Any] | None
) -> list[FieldError]:
    """Return the problems of ``distribution``.

    Known strategies with known keys and boolean ``enabled``; MPI settings typed; at most one strategy
    enabled (none combined with MPI); MultiWorkerMirroredStrategy on TensorFlow >= 2.9;
    ``instance_groups`` naming groups of the cluster's ``instance_groups``, with a strategy enabled.
    """
    problems: list[FieldError] = []
    for name, settings in distribution.items():
        if name != DISTRIBUTION_GROUPS:
            problems.extend(_strategy_errors(name, settings))
    mpi = distribution.get("mpi")
    if isinstance(mpi, Mapping):
        processes = mpi.get("processes_per_host")
        if processes is not None and (not matches(processes, int) or processes < 1):
            problems.append(FieldError("distribution.mpi.processes_per_host", processes, "must be an integer >= 1"))
        options = mpi.get("custom_mpi_options")
        if options is not None and not isinstance(options, str):
            problems.append(FieldError("distribution.mpi.custom_mpi_options", options, "must be a string"))
    enabled = enabled_strategies(distribution)
    if DISTRIBUTION_GROUPS in distribution:
        problems.extend(distribution_group_errors(distribution[DISTRIBUTION_GROUPS], instance_groups, enabled))
    if len(enabled) > 1:
        if "mpi" in enabled:
            rule = "parameter_server and multi_worker_mirrored_strategy cannot be combined with mpi"
        else:
            rule = "at most one distribution strategy can be enabled"
        problems.append(FieldError("distribution", enabled, rule))
    if "multi_worker_mirrored_strategy" in enabled:
        version = version_tuple(framework_version)
        if version is None or version < MWMS_MIN_VERSION:
            minimum = ".".join(map(str, MWMS_MIN_VERSION))
            rule = f"needs framework_version >= {minimum} (got {framework_version})"
            problems.append(FieldError("distribution.multi_worker_mirrored_strategy", True, rule))
    return problems


def distribution_hyperparameters(distribution: Mapping[str, Any]) -> dict[str, Any]:
    """Return the hyperparameters the SDK's ``_distribution_configuration`` adds (values not JSON-encoded)."""
    added: dict[str, Any] = {}
    if isinstance(distribution.get(DISTRIBUTION_GROUPS), (list, tuple)):
        added[HP_DISTRIBUTION_INSTANCE_GROUPS] = list(distribution[DISTRIBUTION_GROUPS])
    for name, key in (("parameter_server", HP_PARAMETER_SERVER), ("multi_worker_mirrored_strategy", HP_MWMS)):
        if isinstance(distribution.get(name), Mapping):
            added[key] = distribution[name].get("enabled", False)
    mpi = distribution.get("mpi")
    if isinstance(mpi, Mapping):
        added[HP_MPI] = mpi.get("enabled", False)
        if mpi.get("processes_per_host"):
            added[HP_MPI_PROCESSES] = mpi["processes_per_host"]
        added[HP_MPI_OPTIONS] = mpi.get("custom_mpi_options", "")
    return added
