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


# ------------------------------------------------------------------ OpenLineage
#: The facet names of the package (job: what ran and with which settings; run: this run's job).
JOB_FACET = "sagemaker"
RUN_FACET = "sagemakerRun"


def s3_dataset_name(uri: str) -> tuple[str, str]:
    """Return the OpenLineage ``(namespace, name)`` of an ``s3://`` URI: ``("s3://bucket", "key")``.

    The OpenLineage naming spec for S3: namespace ``s3://{bucket}``, name the object key or the prefix
    (without a trailing ``/``; ``/`` for the bucket itself).
    """
    from airflow_tf_sm.sagemaker.s3 import parse_s3_uri

    bucket, key = parse_s3_uri(uri)
    return f"s3://{bucket}", key.strip("/") or "/"


def arn_dataset_name(arn: str) -> tuple[str, str]:
    """Return the OpenLineage ``(namespace, name)`` of a SageMaker resource ARN.

    ``arn:aws:sagemaker:<region>:<account>:endpoint/<name>`` -> ``("arn:aws:sagemaker:<region>:<account>",
    "endpoint/<name>")`` (the ARN form the naming spec uses for AWS resources outside S3).
    """
    namespace, _, resource = arn.rpartition(":")
    return namespace, resource


def _datasets(kind: str, uris: Sequence[str | None]) -> list[Any]:
    from airflow.providers.common.compat.openlineage.facet import InputDataset, OutputDataset

    dataset_class = InputDataset if kind == "input" else OutputDataset
    seen: list[tuple[str, str]] = []
    for uri in uris:
        if not uri:
            continue
        name = arn_dataset_name(uri) if uri.startswith("arn:") else s3_dataset_name(uri)
        if name not in seen:
            seen.append(name)
    return [dataset_class(namespace=namespace, name=name) for namespace, name in seen]


def _redacted_hyperparameters(hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hyperparameters without secrets: secret-named values ``***``, and their values nowhere else either."""
    from airflow_tf_sm.redaction import redact_mapping, redact_values, secret_values

    values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (hyperparameters or {}).items()}
    redacted: dict[str, Any] = redact_values(redact_mapping(values), secret_values(values))
    return redacted


def operator_lineage(
    *, inputs: Sequence[str | None], outputs: Sequence[str | None], job: Mapping[str, Any], run: Mapping[str, Any]
) -> Any:
    """Return the provider's ``OperatorLineage``: datasets of the ``s3://`` URIs / ARNs, and the package's facets.

    ``job`` and ``run`` become the ``sagemaker`` job facet and the ``sagemakerRun`` run facet (None values
    left out).
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.generated.base import JobFacet, RunFacet

    def present(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None and v != {}}

    return OperatorLineage(
        inputs=_datasets("input", inputs),
        outputs=_datasets("output", outputs),
        job_facets={JOB_FACET: JobFacet().with_additional_properties(**present(job))},
        run_facets={RUN_FACET: RunFacet().with_additional_properties(**present(run))} if present(run) else {},
    )


def _channel_uris(channels: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return [str(c["DataSource"]["S3DataSource"]["S3Uri"]) for c in channels or [] if "S3DataSource" in c["DataSource"]]


def _instances(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    resources = resources or {}
    groups = resources.get("InstanceGroups")
    return {
        "instanceType": resources.get("InstanceType"),
        "instanceCount": resources.get("InstanceCount"),
        "instanceGroups": [
            {"name": g.get("InstanceGroupName"), "instanceType": g.get("InstanceType"), "count": g.get("InstanceCount")}
            for g in groups
        ]
        if groups
        else None,
    }


def planned_training(spec: Any) -> dict[str, Any]:
    """Return the DescribeTrainingJob keys the lineage reads, planned from a ``TrainingJobSpec`` (no API call).

    Used before the job exists (the START event): channels (``inputs`` and the ``model_uri`` channel),
    instances, the image when given, the spec's own hyperparameters.
    """
    from airflow_tf_sm.training.channels import input_data_config, model_channel

    channels = input_data_config(spec.inputs)
    if spec.model_uri:
        channels.append(model_channel(spec.model_uri, spec.model_channel_name))
    groups = [
        {
            "InstanceGroupName": g.get("instance_group_name"),
            "InstanceType": g.get("instance_type"),
            "InstanceCount": g.get("instance_count"),
        }
        for g in spec.instance_groups or []
    ]
    resources = (
        {"InstanceGroups": groups}
        if groups
        else {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count}
    )
    return {
        "InputDataConfig": channels,
        "ResourceConfig": resources,
        "AlgorithmSpecification": {"TrainingImage": spec.image_uri},
        "HyperParameters": dict(spec.hyperparameters or {}),
        "OutputDataConfig": {"S3OutputPath": spec.output_path},
    }


def planned_tuning(spec: Any) -> dict[str, Any]:
    """Return the DescribeHyperParameterTuningJob keys the lineage reads, planned from a ``TuningJobSpec``."""
    training = planned_training(spec.training)
    return {
        "TrainingJobDefinition": {
            "InputDataConfig": training["InputDataConfig"],
            "ResourceConfig": training["ResourceConfig"],
            "AlgorithmSpecification": training["AlgorithmSpecification"],
            "StaticHyperParameters": training["HyperParameters"],
        },
        "HyperParameterTuningJobConfig": {
            "Strategy": spec.strategy,
            "HyperParameterTuningJobObjective": {"MetricName": spec.objective_metric_name, "Type": spec.objective_type},
        },
    }


def planned_transform(spec: Any) -> dict[str, Any]:
    """Return the DescribeTransformJob keys the lineage reads, planned from a ``TransformJobSpec``."""
    return {
        "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": spec.data}}},
        "TransformOutput": {"S3OutputPath": spec.output_path},
        "TransformResources": {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count},
    }


def without_outputs(lineage: Any) -> Any:
    """Return ``lineage`` without outputs (a failed job made nothing to rely on)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=lineage.inputs, outputs=[], run_facets=lineage.run_facets, job_facets=lineage.job_facets
    )


def training_lineage(desc: Mapping[str, Any]) -> Any:
    """OpenLineage of a training job: its input channels -> its model artifact; image, instances, hyperparameters.

    ``desc`` is a DescribeTrainingJob response, or (before the job exists) the same keys planned from the
    task's settings (``InputDataConfig``, ``ResourceConfig``, ``AlgorithmSpecification``, ``HyperParameters``).
    """
    from airflow_tf_sm.sagemaker.resources import final_metrics

    model = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return operator_lineage(
        inputs=_channel_uris(desc.get("InputDataConfig")),
        outputs=[model],
        job={
            "kind": "training",
            "image": (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"),
            **_instances(desc.get("ResourceConfig")),
            "hyperparameters": _redacted_hyperparameters(desc.get("HyperParameters")),
            "outputPath": (desc.get("OutputDataConfig") or {}).get("S3OutputPath"),
            "metrics": final_metrics(desc) if desc.get("TrainingJobName") else None,
        },
        run={
            "jobName": desc.get("TrainingJobName"),
            "jobArn": desc.get("TrainingJobArn"),
            "status": desc.get("TrainingJobStatus"),
            "modelData": model,
        },
    )


def tuning_lineage(desc: Mapping[str, Any], result: Mapping[str, Any] | None = None) -> Any:
    """OpenLineage of a tuning job: the training inputs -> the best training job's model.

    ``desc`` is a DescribeHyperParameterTuningJob response (or planned keys); ``result`` the task's result
    (``best_model_data``, ``best_objective``, ``best_training_job_name``), when it ended.
    """
    definition = desc.get("TrainingJobDefinition") or {}
    config = desc.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    result = result or {}
    return operator_lineage(
        inputs=_channel_uris(definition.get("InputDataConfig")),
        outputs=[result.get("best_model_data")],
        job={
            "kind": "tuning",
            "image": (definition.get("AlgorithmSpecification") or {}).get("TrainingImage"),
            **_instances(definition.get("ResourceConfig")),
            "hyperparameters": _redacted_hyperparameters(definition.get("StaticHyperParameters")),
            "objective": {"name": objective.get("MetricName"), "type": objective.get("Type")} if objective else None,
            "strategy": config.get("Strategy"),
            "metrics": result.get("best_objective"),
        },
        run={
            "jobName": desc.get("HyperParameterTuningJobName"),
            "jobArn": desc.get("HyperParameterTuningJobArn"),
            "status": desc.get("HyperParameterTuningJobStatus"),
            "bestTrainingJobName": result.get("best_training_job_name"),
        },
    )


def transform_lineage(desc: Mapping[str, Any], model_data: str | None) -> Any:
    """OpenLineage of a batch transform job: the model artifact and the input prefix -> the output prefix."""
    source = ((desc.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    resources = desc.get("TransformResources") or {}
    return operator_lineage(
        inputs=[model_data, source.get("S3Uri")],
        outputs=[(desc.get("TransformOutput") or {}).get("S3OutputPath")],
        job={
            "kind": "transform",
            "modelName": desc.get("ModelName"),
            "instanceType": resources.get("InstanceType"),
            "instanceCount": resources.get("InstanceCount"),
        },
        run={
            "jobName": desc.get("TransformJobName"),
            "jobArn": desc.get("TransformJobArn"),
            "status": desc.get("TransformJobStatus"),
        },
    )


def deploy_lineage(result: Mapping[str, Any], *, instance_type: str | None, instance_count: Any) -> Any:
    """OpenLineage of a deploy: the model artifact -> the endpoint (its ARN as the dataset)."""
    return operator_lineage(
        inputs=[result.get("model_data")],
        outputs=[result.get("endpoint_arn")],
        job={
            "kind": "deploy",
            "endpointName": result.get("endpoint_name"),
            "instanceType": instance_type,
            "instanceCount": instance_count,
        },
        run={
            "endpointConfigName": result.get("endpoint_config_name"),
            "modelName": result.get("model_name"),
            "status": result.get("status"),
        },
    )
