"""Lineage: asset events that carry a task's result, the consumer side of them, and OpenLineage facets.

* :func:`fill_outlet_events`: a task's small result (its XCom value) becomes the ``extra`` of each of
  its outlets' asset events -- an ``Asset`` outlet directly, an ``AssetAlias`` outlet through the ``s3://``
  URI of what the job made (the model artifact, the transform output), added as an asset.
* :func:`latest_extra` / :func:`training_job_from_events`: a DAG scheduled on such an asset reads the
  training job (or a tuning job's best training job) from ``triggering_asset_events``.
* OpenLineage: the datasets and facets of every job kind (``get_openlineage_facets_on_*`` of the operators);
  the OpenLineage provider is imported only when they are called.

Light: DAG files may import it (``training_job_from_events`` in ``user_defined_macros``); Airflow's
asset classes are imported at call time through :mod:`airflow_tf_sm.compat`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The result entries that name a training job whose model can be deployed, in order of preference.
TRAINING_JOB_KEYS = ("job_name", "best_training_job_name")


def fill_outlet_events(
    outlets: Sequence[Any], outlet_events: Any, result: Mapping[str, Any], uri_key: str | None
) -> None:
    """Put ``result`` into the asset events of ``outlets`` (``context["outlet_events"]``).

    An ``Asset`` (or asset reference) outlet gets ``result`` as its event's ``extra``; an ``AssetAlias``
    outlet gets an event for the asset whose URI is ``result[uri_key]`` (an ``s3://`` URI known only now),
    with the same ``extra`` -- or no event when the result has no such URI.
    """
    from airflow_tf_sm.compat import asset_types

    asset_class, alias_class = asset_types()
    extra = json.loads(json.dumps(dict(result)))  # a plain JSON copy: what the event stores
    uri = result.get(uri_key) if uri_key else None
    for outlet in outlets:
        if isinstance(outlet, alias_class):
            if uri:
                outlet_events[outlet].add(asset_class(uri=str(uri)), extra=extra)
            continue
        try:
            event = outlet_events[outlet]
        except TypeError:  # not an asset (an old-style lineage entity): no event to fill
            continue
        event.extra.update(extra)


def _events(triggering_asset_events: Any) -> list[Any]:
    """Return the distinct events of ``triggering_asset_events`` (a mapping asset -> events, or events)."""
    if isinstance(triggering_asset_events, Mapping):
        groups: Iterable[Any] = triggering_asset_events.values()
        candidates = [event for group in groups for event in group]
    else:
        candidates = list(triggering_asset_events or [])
    seen: set[int] = set()
    events = []
    for event in candidates:  # an event reached through an alias is listed under the alias too
        if id(event) not in seen:
            seen.add(id(event))
            events.append(event)
    return events


def _field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, Mapping) else getattr(event, name, None)


def _stamp(event: Any) -> str:
    stamp = _field(event, "timestamp")
    return stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp or "")


def latest_extra(triggering_asset_events: Any, keys: Sequence[str] = TRAINING_JOB_KEYS) -> dict[str, Any]:
    """Return the ``extra`` of the newest triggering asset event that has one of ``keys``.

    Args:
        triggering_asset_events: The run's ``triggering_asset_events`` (context or Jinja), or a list of
            events (objects or dicts with ``extra`` and ``timestamp``).
        keys: Entries the extra must have (default: a training job name, or a tuning job's best one).

    Raises:
        ValueError: no triggering event has one of ``keys`` (e.g. the run was triggered by hand).
    """
    matching = [e for e in _events(triggering_asset_events) if any((_field(e, "extra") or {}).get(k) for k in keys)]
    if not matching:
        raise ValueError(
            f"no triggering asset event carries {' or '.join(keys)} -- is the DAG scheduled on the asset of a "
            "training or tuning task, and was this run triggered by its event?"
        )
    newest = max(matching, key=_stamp)
    return dict(_field(newest, "extra") or {})


def training_job_from_events(triggering_asset_events: Any) -> str:
    """Return the training job named by the newest triggering asset event (a tuning event: its best job).

    For ``TFDeployOperator(training_job_name=...)`` in a DAG scheduled on a training task's asset: add
    ``user_defined_macros={"training_job_from_events": training_job_from_events}`` to the DAG and pass
    ``training_job_name="{{ training_job_from_events(triggering_asset_events) }}"``.

    Raises:
        ValueError: no triggering event names a training job.
    """
    extra = latest_extra(triggering_asset_events)
    return str(next(extra[k] for k in TRAINING_JOB_KEYS if extra.get(k)))
