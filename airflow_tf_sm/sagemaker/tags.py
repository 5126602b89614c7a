"""Resource tags: ``{key: value}`` or ``[{"Key", "Value"}]``, and their limits."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_tf_sm.exceptions import FieldError
from airflow_tf_sm.sagemaker.limits import MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS

Tags = Mapping[str, str] | Sequence[Mapping[str, str]]
#: Prefix of the tags that link a resource to its Airflow task instance.
TAG_PREFIX = "airflow-tf-sm:"
_TAG_VALUE_EXTRA = set("_.:/=+-@")


def tag_pairs(tags: Tags) -> list[tuple[Any, Any]]:
    """Return ``(key, value)`` pairs of either tags shape (``(None, None)`` for a malformed list item)."""
    if isinstance(tags, Mapping):
        return list(tags.items())
    return [(tag.get("Key"), tag.get("Value")) if isinstance(tag, Mapping) else (None, None) for tag in tags]


def tag_errors(tags: Tags, field: str = "tags") -> list[FieldError]:
    """Return the problems of a tags setting: count, shape, key and value lengths."""
    problems = []
    pairs = tag_pairs(tags)
    if len(pairs) > MAX_TAGS:
        problems.append(FieldError(field, len(pairs), f"at most {MAX_TAGS} tags"))
    for index, (key, value) in enumerate(pairs):
        where = f"{field}.{key}" if isinstance(tags, Mapping) else f"{field}[{index}]"
        if not isinstance(tags, Mapping):
            item = tags[index]
            if not isinstance(item, Mapping) or set(item) != {"Key", "Value"}:
                problems.append(FieldError(where, item, 'must be {"Key": ..., "Value": ...}'))
                continue
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LEN:
            problems.append(FieldError(where, key, f"tag keys must be strings of 1-{MAX_TAG_KEY_LEN} characters"))
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LEN:
            rule = f"tag values must be strings of at most {MAX_TAG_VALUE_LEN} characters"
            problems.append(FieldError(where, value, rule))
    return problems


def tag_list(tags: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return ``{key: value}`` as the API's ``[{"Key": ..., "Value": ...}]``, sorted by key."""
    return [{"Key": str(k), "Value": str(v)} for k, v in sorted(tags.items())]


def _tag_value(value: object) -> str:
    """Make ``value`` a valid SageMaker tag value: allowed characters only, at most 256 of them."""
    chars = []
    for ch in str(value):
        allowed = unicodedata.category(ch)[0] in "LNZ" or ch in _TAG_VALUE_EXTRA
        chars.append(ch if allowed else "_")
    return "".join(chars)[:MAX_TAG_VALUE_LEN]


def job_tags(dag_id: str, task_id: str, run_id: str, map_index: int) -> dict[str, str]:
    """Return the tags that link a SageMaker job to its Airflow task instance.

    Values keep their text, except characters SageMaker does not accept in tag values (anything but
    letters, digits, spaces and ``_ . : / = + - @``), which become ``_``; values are cut to 256 characters.

    Args:
        dag_id: The DAG id.
        task_id: The task id.
        run_id: The DAG run id.
        map_index: The map index, -1 for unmapped tasks.

    Returns:
        A dict with the keys ``airflow-tf-sm:dag-id``, ``airflow-tf-sm:task-id``, ``airflow-tf-sm:run-id``
        and ``airflow-tf-sm:map-index``.
    """
    return {
        f"{TAG_PREFIX}dag-id": _tag_value(dag_id),
        f"{TAG_PREFIX}task-id": _tag_value(task_id),
        f"{TAG_PREFIX}run-id": _tag_value(run_id),
        f"{TAG_PREFIX}map-index": _tag_value(map_index),
    }
