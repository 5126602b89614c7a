"""SageMaker Debugger and profiler settings of a training job, in the SDK v2 vocabulary.

The SDK v2 estimator sends, unless told otherwise (in the regions that support them, i.e. nearly all):
``ProfilerConfig {"S3OutputPath": <output_path>, "DisableProfiler": False}`` and
``DebugHookConfig {"S3OutputPath": <output_path>, "CollectionConfigurations": []}``. This package sends
**neither unless asked**: the TensorFlow script-mode jobs it runs gain nothing from a default hook, and
each adds an S3 prefix per job. Ask with:

* ``disable_profiler=True`` -> ``ProfilerConfig {"DisableProfiler": True}`` (the SDK's request for it);
* ``profiler_config={"s3_output_path"?, "system_monitor_interval_millis"?, "disable_profiler"?}`` (the
  SDK's ``ProfilerConfig`` arguments) -> ``ProfilerConfig {"S3OutputPath" (default output_path),
  "DisableProfiler", "ProfilingIntervalInMilliseconds"?}``;
* ``debugger_hook_config={"s3_output_path"?, "container_local_output_path"?, "hook_parameters"?,
  "collection_configs"?: [{"name", "parameters"?}]}`` (the SDK's ``DebuggerHookConfig`` and
  ``CollectionConfig``) -> ``DebugHookConfig {"S3OutputPath" (default output_path), "LocalPath"?,
  "HookParameters"?, "CollectionConfigurations"?}``; ``False`` (the SDK's "off") sends nothing, like None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.exceptions import FieldError
from airflow_tf_sm.sagemaker.fields import matches, s3_uri_errors, unknown_rule

#: The SDK ``ProfilerConfig`` arguments accepted, and the system-monitor intervals it documents.
PROFILER_KEYS = ("s3_output_path", "system_monitor_interval_millis", "disable_profiler")
MONITOR_INTERVALS_MS = (100, 200, 500, 1000, 5000, 60000)
#: The SDK ``DebuggerHookConfig`` arguments accepted, and those of one ``CollectionConfig``.
HOOK_KEYS = ("s3_output_path", "container_local_output_path", "hook_parameters", "collection_configs")
COLLECTION_KEYS = ("name", "parameters")


def _unknown(where: str, value: Mapping[str, Any], allowed: tuple[str, ...]) -> list[FieldError]:
    return [
        FieldError(f"{where}.{key}", value[key], unknown_rule(str(key), list(allowed), "key"))
        for key in value
        if key not in allowed
    ]


def _string_map_errors(where: str, value: Any) -> list[FieldError]:
    if value is None:
        return []
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return [FieldError(where, value, "must be a mapping of strings to strings")]
    if len(value) > 20:
        return [FieldError(where, len(value), "at most 20 entries")]
    return []


def profiler_errors(disable_profiler: bool, config: Mapping[str, Any] | None) -> list[FieldError]:
    """Return the problems of ``disable_profiler`` / ``profiler_config``."""
    if config is None:
        return []
    problems = _unknown("profiler_config", config, PROFILER_KEYS)
    if config.get("s3_output_path") is not None:
        problems.extend(s3_uri_errors("profiler_config.s3_output_path", config["s3_output_path"]))
    interval = config.get("system_monitor_interval_millis")
    if interval is not None and (not matches(interval, int) or interval not in MONITOR_INTERVALS_MS):
        rule = f"must be one of {', '.join(map(str, MONITOR_INTERVALS_MS))} (milliseconds)"
        problems.append(FieldError("profiler_config.system_monitor_interval_millis", interval, rule))
    disabled = config.get("disable_profiler", False)
    if not isinstance(disabled, bool):
        problems.append(FieldError("profiler_config.disable_profiler", disabled, "must be true or false"))
    elif disable_profiler and not disabled:
        rule = "cannot be false when disable_profiler is true (the SDK refuses it too)"
        problems.append(FieldError("profiler_config.disable_profiler", disabled, rule))
    return problems


def hook_errors(config: Mapping[str, Any] | bool | None) -> list[FieldError]:
    """Return the problems of ``debugger_hook_config`` (a mapping, ``False`` or None)."""
    if config is None or config is False:
        return []
    if not isinstance(config, Mapping):
        return [
            FieldError("debugger_hook_config", config, "must be a mapping of DebuggerHookConfig settings, or false")
        ]
    problems = _unknown("debugger_hook_config", config, HOOK_KEYS)
    if config.get("s3_output_path") is not None:
        problems.extend(s3_uri_errors("debugger_hook_config.s3_output_path", config["s3_output_path"]))
    local = config.get("container_local_output_path")
    if local is not None and (not isinstance(local, str) or not local.startswith("/")):
        problems.append(
            FieldError("debugger_hook_config.container_local_output_path", local, "must be an absolute path")
        )
    problems.extend(_string_map_errors("debugger_hook_config.hook_parameters", config.get("hook_parameters")))
    collections = config.get("collection_configs")
    if collections is None:
        return problems
    if not isinstance(collections, (list, tuple)) or len(collections) > 20:
        rule = 'must be a list of at most 20 {"name": ..., "parameters": {...}}'
        return [*problems, FieldError("debugger_hook_config.collection_configs", collections, rule)]
    for index, item in enumerate(collections):
        where = f"debugger_hook_config.collection_configs[{index}]"
        if not isinstance(item, Mapping):
            problems.append(FieldError(where, item, 'must be a mapping {"name": ..., "parameters": {...}}'))
            continue
        problems.extend(_unknown(where, item, COLLECTION_KEYS))
        name = item.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            problems.append(FieldError(f"{where}.name", name, "required: a collection name of 1-256 characters"))
        problems.extend(_string_map_errors(f"{where}.parameters", item.get("parameters")))
    return problems


def profiler_request(
    disable_profiler: bool, config: Mapping[str, Any] | None, output_path: str
) -> dict[str, Any] | None:
    """Return ``ProfilerConfig`` as the SDK builds it for these settings (None: not sent)."""
    if disable_profiler:
        return {"DisableProfiler": True}
    if config is None:
        return None
    disabled = bool(config.get("disable_profiler", False))
    request: dict[str, Any] = {}
    if not disabled:
        request["S3OutputPath"] = config.get("s3_output_path") or output_path
    request["DisableProfiler"] = disabled
    if config.get("system_monitor_interval_millis") is not None:
        request["ProfilingIntervalInMilliseconds"] = config["system_monitor_interval_millis"]
    return request


def hook_request(config: Mapping[str, Any] | bool | None, output_path: str) -> dict[str, Any] | None:
    """Return ``DebugHookConfig`` as the SDK builds it for ``debugger_hook_config`` (None: not sent)."""
    if not isinstance(config, Mapping):
        return None
    request: dict[str, Any] = {"S3OutputPath": config.get("s3_output_path") or output_path}
    if config.get("container_local_output_path") is not None:
        request["LocalPath"] = config["container_local_output_path"]
    if config.get("hook_parameters") is not None:
        request["HookParameters"] = dict(config["hook_parameters"])
    if config.get("collection_configs") is not None:
        entries = []
        for item in config["collection_configs"]:
            entry: dict[str, Any] = {"CollectionName": item["name"]}
            if item.get("parameters") is not None:
                entry["CollectionParameters"] = dict(item["parameters"])
            entries.append(entry)
        request["CollectionConfigurations"] = entries
    return request
