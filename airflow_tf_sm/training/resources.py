"""Where a training job runs: instances or instance groups, warm pools, the image's repository access.

The SDK v2 vocabulary: ``instance_groups=[{"instance_group_name", "instance_type", "instance_count"}]``
(its ``InstanceGroup``) makes a heterogeneous cluster, ``ResourceConfig.InstanceGroups``, instead of
``instance_type`` x ``instance_count``; ``keep_alive_period_in_seconds`` keeps the instances in a warm pool;
``training_repository_access_mode`` (``Platform`` | ``Vpc``) says how the image is pulled. Pure rules and
request parts, used by :class:`~airflow_tf_sm.training.spec.TrainingJobSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.sagemaker.fields import matches, unknown_rule
from airflow_tf_sm.sagemaker.limits import (
    MAX_INSTANCE_COUNT,
    MAX_INSTANCE_GROUP_NAME_LEN,
    MAX_INSTANCE_GROUPS,
    MAX_KEEP_ALIVE_SECONDS,
)

#: The keys of one instance group (the SDK's ``InstanceGroup`` arguments) and their API names.
INSTANCE_GROUP_KEYS = {
    "instance_group_name": "InstanceGroupName",
    "instance_type": "InstanceType",
    "instance_count": "InstanceCount",
}
#: ``AlgorithmSpecification.TrainingImageConfig.TrainingRepositoryAccessMode`` values.
REPOSITORY_ACCESS_MODES = ("Platform", "Vpc")
#: The spec's defaults of ``instance_type`` / ``instance_count`` (a value other than these is "set").
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_INSTANCE_COUNT = 1


def _type_errors(where: str, instance_type: Any) -> list[FieldError]:
    from airflow_tf_sm.sagemaker import images

    if not isinstance(instance_type, str):
        return [FieldError(where, instance_type, "must be an ml.* instance type string")]
    try:
        images.processor_for(instance_type)
    except ConfigValidationError as exc:
        return [FieldError(where, instance_type, error.rule) for error in exc.errors]
    return []


def instance_group_errors(groups: Sequence[Any] | None, explicit: Mapping[str, Any] | None = None) -> list[FieldError]:
    """Return the problems of ``instance_groups``.

    1 to 5 groups, each a mapping of exactly the three keys; names unique, 1-64 characters; types
    ``ml.*``; counts integers >= 1. ``explicit`` holds the settings given together with the groups among
    ``instance_type`` / ``instance_count`` (name -> value): SageMaker and the SDK take one or the other.
    """
    if groups is None:
        return []
    problems = [
        FieldError(name, value, "cannot be set together with instance_groups (each group has its own)")
        for name, value in (explicit or {}).items()
    ]
    if not 1 <= len(groups) <= MAX_INSTANCE_GROUPS:
        problems.append(FieldError("instance_groups", len(groups), f"must hold 1 to {MAX_INSTANCE_GROUPS} groups"))
    seen: set[str] = set()
    for index, group in enumerate(groups):
        where = f"instance_groups[{index}]"
        if not isinstance(group, Mapping):
            rule = 'must be a mapping {"instance_group_name": ..., "instance_type": ..., "instance_count": ...}'
            problems.append(FieldError(where, group, rule))
            continue
        for key in group:
            if key not in INSTANCE_GROUP_KEYS:
                rule = unknown_rule(str(key), list(INSTANCE_GROUP_KEYS), "key")
                problems.append(FieldError(f"{where}.{key}", group[key], rule))
        for key in INSTANCE_GROUP_KEYS:
            if key not in group:
                problems.append(FieldError(f"{where}.{key}", None, "required"))
        name = group.get("instance_group_name")
        if "instance_group_name" in group:
            if not isinstance(name, str) or not 1 <= len(name) <= MAX_INSTANCE_GROUP_NAME_LEN:
                rule = f"must be a string of 1-{MAX_INSTANCE_GROUP_NAME_LEN} characters"
                problems.append(FieldError(f"{where}.instance_group_name", name, rule))
            elif name in seen:
                problems.append(FieldError(f"{where}.instance_group_name", name, "group names must be unique"))
            else:
                seen.add(name)
        if "instance_type" in group:
            problems.extend(_type_errors(f"{where}.instance_type", group["instance_type"]))
        count = group.get("instance_count")
        if "instance_count" in group and not (isinstance(count, int) and matches(count, int) and count >= 1):
            problems.append(FieldError(f"{where}.instance_count", count, "must be an integer >= 1"))
    total = total_instances(groups)
    if total > MAX_INSTANCE_COUNT:
        rule = f"at most {MAX_INSTANCE_COUNT:,} instances in all groups together (instances of one training job)"
        problems.append(FieldError("instance_groups", total, rule))
    return problems


def total_instances(groups: Sequence[Any] | None) -> int:
    """Return the instances of all well-formed groups together."""
    counts = [g.get("instance_count") for g in groups or [] if isinstance(g, Mapping)]
    return sum(c for c in counts if isinstance(c, int) and matches(c, int) and c > 0)


def group_names(groups: Sequence[Any] | None) -> list[str]:
    """Return the names of well-formed groups, in order."""
    return [g["instance_group_name"] for g in groups or [] if isinstance(g, Mapping) and "instance_group_name" in g]


def image_instance_type(instance_type: str, groups: Sequence[Mapping[str, Any]] | None) -> str:
    """Return the instance type that picks the training image, as the SDK's ``_get_instance_type`` does.

    Without groups: ``instance_type``. With groups: the first GPU group's type (``ml.g*``/``ml.p*``), else
    the first group's.
    """
    from airflow_tf_sm.sagemaker import images

    if not groups:
        return instance_type
    for group in groups:
        if images.processor_for(group["instance_type"]) == "gpu":
            return str(group["instance_type"])
    return str(groups[0]["instance_type"])


def keep_alive_errors(seconds: int | None) -> list[FieldError]:
    """Return the problems of ``keep_alive_period_in_seconds`` (0 to 21600, or None)."""
    if seconds is not None and not 0 <= seconds <= MAX_KEEP_ALIVE_SECONDS:
        rule = f"must be 0 to {MAX_KEEP_ALIVE_SECONDS} seconds"
        return [FieldError("keep_alive_period_in_seconds", seconds, rule)]
    return []


def repository_access_errors(mode: str | None, has_vpc: bool) -> list[FieldError]:
    """Return the problems of ``training_repository_access_mode`` (``Vpc`` needs the job in a VPC)."""
    if mode is None:
        return []
    if mode not in REPOSITORY_ACCESS_MODES:
        rule = f"must be one of {', '.join(REPOSITORY_ACCESS_MODES)}"
        return [FieldError("training_repository_access_mode", mode, rule)]
    if mode == "Vpc" and not has_vpc:
        rule = "Vpc pulls the image from a registry in your VPC: give subnets and security_group_ids too"
        return [FieldError("training_repository_access_mode", mode, rule)]
    return []


def resource_config(
    *,
    instance_type: str,
    instance_count: int,
    instance_groups: Sequence[Mapping[str, Any]] | None,
    volume_size: int,
    volume_kms_key: str | None,
    keep_alive_period_in_seconds: int | None,
) -> dict[str, Any]:
    """Return ``ResourceConfig`` as the SDK's ``_Job._prepare_resource_config`` builds it."""
    resources: dict[str, Any] = {"VolumeSizeInGB": volume_size}
    if instance_groups:
        resources["InstanceGroups"] = [
            {api: group[key] for key, api in INSTANCE_GROUP_KEYS.items()} for group in instance_groups
        ]
    else:
        resources["InstanceType"] = instance_type
        resources["InstanceCount"] = instance_count
    if volume_kms_key:
        resources["VolumeKmsKeyId"] = volume_kms_key
    if keep_alive_period_in_seconds is not None:
        resources["KeepAlivePeriodInSeconds"] = keep_alive_period_in_seconds
    return resources


def training_image_config(mode: str | None) -> dict[str, Any] | None:
    """Return ``AlgorithmSpecification.TrainingImageConfig`` for an access mode (None: not sent)."""
    return None if mode is None else {"TrainingRepositoryAccessMode": mode}


def distribution_group_errors(
    value: Any, groups: Sequence[Any] | None, strategies_enabled: Sequence[str]
) -> list[FieldError]:
    """Return the problems of ``distribution.instance_groups``: the groups a strategy runs on.

    A non-empty list of group names of ``instance_groups``, with a strategy enabled (the SDK's rule: "Don't
    set training instance groups while no distribution strategies enabled").
    """
    where = "distribution.instance_groups"
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        return [FieldError(where, value, "must be a non-empty list of instance group names")]
    if not groups:
        return [FieldError(where, value, "needs instance_groups (a heterogeneous cluster)")]
    problems = []
    known = group_names(groups)
    for name in value:
        if name not in known:
            problems.append(FieldError(where, name, unknown_rule(name, known, "instance group")))
    if not strategies_enabled:
        problems.append(FieldError(where, value, "needs a distribution strategy enabled"))
    return problems
