"""``TFDeployOperator`` deploys a trained model to an endpoint; ``DeleteEndpointOperator`` tears it down.

This module is imported by DAG files at parse time: it imports no boto3, botocore, TensorFlow or
Amazon provider module at module level. The hook is built in ``execute()``, never in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import EndpointConsoleLink
from airflow_tf_sm.tasks import SageMakerTask, WaitingTask

if TYPE_CHECKING:
    from airflow.sdk import Context

#: What a deploy task does when the quality gate is not met.
GATE_ACTIONS = ("fail", "skip")


class TFDeployOperator(WaitingTask):
    """Deploy the model of a Completed training job to a SageMaker endpoint (or a local one) and wait for it.

    Attach = describe the job: it must be Completed with a model artifact. Its final metrics must meet
    ``require_metrics`` (the quality gate) before anything is created. Then: CreateModel (a deterministic
    name from the job, reused when it exists with the same data), CreateEndpointConfig (deterministic,
    reused), and CreateEndpoint -- or UpdateEndpoint when the endpoint exists (its tags are kept). The
    image is the ``tensorflow-inference`` image of the job's TensorFlow version unless ``image`` is given;
    the role is the job's unless ``role`` is given. Re-running with nothing changed creates nothing;
    deploying a retrained model updates the endpoint.

    The wait for InService runs in the worker or, with ``deferrable=True``, in the triggerer. A Failed
    endpoint fails the task with SageMaker's FailureReason; an update that SageMaker rolled back
    fails it too, saying so. The return value (XCom) is a small dict: ``endpoint_name``,
    ``endpoint_arn``, ``endpoint_config_name``, ``model_name``, ``model_data``, ``status``, ``url``
    (the invocation URL; on the local backend the local server's), ``region``, ``backend``.

    Args:
        training_job_name: The training job (templated; e.g. ``train.output["job_name"]``).
        endpoint_name: The endpoint (templated; sanitized to the SageMaker name rule). Default:
            ``<dag_id>-<task_id>``, stable across runs, so each run updates the same endpoint.
        instance_type: Serving instance type.
        instance_count: Serving instance count.
        variant_name: Production variant name.
        image: Serving image; default the ``tensorflow-inference`` image of the job's TensorFlow version.
        framework_version: TensorFlow version of the serving image (default: read from the training image).
        role: Execution role ARN of the model (default: the training job's role).
        environment: Serving container environment variables.
        tags: Extra tags of the model, endpoint config and a new endpoint.
        require_metrics: Quality gate, e.g. ``{"val_accuracy": ">= 0.9", "val_loss": "< 0.3"}`` (a plain
            number means ``>=``), checked against the job's final metrics. A metric the job does not
            have is an error. Templated: rules may use ``{{ params.x }}``, and with
            ``render_template_as_native_obj=True`` the whole dict can come from a Param.
        on_gate_failure: ``"fail"`` (default) or ``"skip"`` the task when the gate is not met.
        **kwargs: Waiting arguments (:class:`~airflow_tf_sm.tasks.WaitingTask`: ``wait_for_completion``
            -- InService --, ``poll_interval``, ``wait_timeout``, ``deferrable``), connection arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerTask`) and ``BaseOperator`` arguments.

    Example:
        >>> deploy = TFDeployOperator(  # doctest: +SKIP
        ...     task_id="deploy",
        ...     training_job_name=train.output["job_name"],
        ...     endpoint_name="mnist",
        ...     require_metrics={"val_accuracy": ">= 0.9"},
        ...     deferrable=True,
        ... )
    """

    template_fields: Sequence[str] = (
        "training_job_name",
        "endpoint_name",
        "instance_type",
        "instance_count",
        "image",
        "framework_version",
        "role",
        "environment",
        "tags",
        "require_metrics",
        *SageMakerTask.template_fields,
    )
    template_fields_renderers = {"environment": "json", "tags": "json", "require_metrics": "json"}
    ui_color = "#b5e3a1"
    resource_links = (EndpointConsoleLink(),)
    asset_uri_key = "model_data"

    def __init__(
        self,
        *,
        training_job_name: str,
        endpoint_name: str | None = None,
        instance_type: str = "ml.m5.large",
        instance_count: int | str = 1,
        variant_name: str = "AllTraffic",
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
        environment: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        require_metrics: Mapping[str, Any] | str | None = None,
        on_gate_failure: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_gate_failure not in GATE_ACTIONS:
            raise ValueError(f"on_gate_failure: {on_gate_failure!r} -- must be 'fail' or 'skip'")
        if isinstance(require_metrics, Mapping) and "{{" not in repr(require_metrics):
            from airflow_tf_sm.hosting.spec import parse_requirements

            parse_requirements(require_metrics)  # a malformed gate fails when the DAG is parsed
        self.training_job_name = training_job_name
        self.endpoint_name = endpoint_name
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.variant_name = variant_name
        self.image = image
        self.framework_version = framework_version
        self.role = role
        self.environment = environment
        self.tags = tags
        self.require_metrics = require_metrics
        self.on_gate_failure = on_gate_failure

    def resolved_endpoint_name(self) -> str:
        """Return the endpoint name: the (rendered) argument or ``<dag_id>-<task_id>``, sanitized."""
        from airflow_tf_sm.sagemaker.names import sanitize_name

        return sanitize_name(str(self.endpoint_name or f"{self.dag_id}-{self.task_id}"))

    def check_quality_gate(self, job_name: str, metrics: Mapping[str, float]) -> None:
        """Check the job's final metrics against ``require_metrics``.

        Raises:
            ConfigValidationError: a malformed rule, or a metric the job does not have.
            QualityGateError: a rule is not met (``on_gate_failure="fail"``).
            AirflowSkipException: a rule is not met (``on_gate_failure="skip"``).
        """
        from airflow_tf_sm.exceptions import QualityGateError
        from airflow_tf_sm.hosting.spec import parse_requirements, unmet_requirements

        gate = self.require_metrics
        requirements = parse_requirements(None if gate in (None, "") else gate)  # type: ignore[arg-type]
        if not requirements:
            return
        unmet = unmet_requirements(requirements, metrics)
        if not unmet:
            shown = ", ".join(f"{r.metric} = {metrics[r.metric]:g} ({r.op} {r.threshold:g})" for r in requirements)
            self.log.info("Quality gate passed for training job %s: %s", job_name, shown)
            return
        error = QualityGateError(job_name, unmet, dict(metrics))
        if self.on_gate_failure == "skip":
            from airflow_tf_sm.compat import skip_exception

            raise skip_exception()(f"{error}; nothing deployed")
        raise error

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the job and the gate, create or update the endpoint, wait for it and return the result dict."""
        from airflow_tf_sm.sagemaker.resources import ENDPOINT, final_metrics

        hosting = self.hook.hosting
        job_name = str(self.training_job_name or "")
        desc = hosting.describe_deployable_job(job_name)
        self.check_quality_gate(job_name, final_metrics(desc))
        endpoint_name = self.resolved_endpoint_name()
        spec = hosting.deploy_spec(
            desc,
            self.task_ids(context),
            endpoint_name=endpoint_name,
            instance_type=self.instance_type,
            instance_count=int(self.instance_count),
            variant_name=self.variant_name,
            image=self.image or None,
            framework_version=self.framework_version or None,
            role=self.role or None,
            environment=self.environment,
            tags=self.tags,
        )
        action = hosting.deploy(spec, poll_interval=self.poll_interval, max_wait=self.wait_timeout)
        context["ti"].xcom_push(key="endpoint_name", value=endpoint_name)
        self.remember_link(endpoint_name)
        self.log.info("Endpoint %s: %s", endpoint_name, action)
        if not self.wait_for_completion:
            return self.publish(context, hosting.result(endpoint_name))
        if self.deferrable and ENDPOINT.is_busy(hosting.describe_endpoint(endpoint_name)["EndpointStatus"]):
            from airflow_tf_sm.hosting.trigger import EndpointTrigger

            self.defer_to(
                EndpointTrigger(
                    endpoint_name=endpoint_name,
                    client_params=self.hook.trigger_params(),
                    poll_interval=self.poll_interval,
                    expected_config=spec.endpoint_config_name,
                ),
                kwargs={"endpoint_name": endpoint_name, "expected_config": spec.endpoint_config_name},
                wait_timeout=self.wait_timeout,
            )
        final = hosting.wait(
            endpoint_name,
            expected_config=spec.endpoint_config_name,
            poll_interval=self.poll_interval,
            max_wait=self.wait_timeout,
        )
        return self._finish(context, hosting.result(endpoint_name, final))

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        endpoint_name: str | None = None,
        expected_config: str | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the endpoint and return the same value as the sync mode.

        Under ``dag.test()`` the kwargs are replaced by the event, which carries the same names.
        """
        if event is not None and not event.get("endpoint_name") and endpoint_name:
            event = {**event, "endpoint_name": endpoint_name}
        self.remember_link(str((event or {}).get("endpoint_name") or endpoint_name or ""))
        return self._finish(context, self.hook.hosting.result_from_event(event, expected_config))

    def lineage_of(self, task_instance: Any) -> Any:
        """OpenLineage of the deploy: the model artifact -> the endpoint (nothing known before it runs)."""
        from airflow_tf_sm.lineage import deploy_lineage

        name = self.lineage_name(task_instance, "endpoint_name")
        result = self.lineage_result
        if result is None:
            found = self.hook.hosting.find_endpoint(name) if name else None
            result = self.hook.hosting.result(str(name), found) if found else {"endpoint_name": name}
        return deploy_lineage(result, instance_type=self.instance_type, instance_count=self.instance_count)

    def _finish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        self.log.info(
            "Endpoint %s %s: model %s (%s)%s",
            result["endpoint_name"],
            result["status"],
            result["model_name"],
            result["model_data"],
            f"; invocations: {result['url']}" if result.get("url") else "",
        )
        return self.publish(context, result)


class DeleteEndpointOperator(SageMakerTask):
    """Delete an endpoint and, by default, its endpoint config and models; usable as a teardown task.

    Deleting an endpoint that does not exist is not an error (the task succeeds and logs it), so
    it is safe in teardowns that run after a failed or skipped deploy:
    ``smoke_test >> DeleteEndpointOperator(task_id="delete", endpoint_name=...).as_teardown()``.
    Returns ``{"endpoint_name": ..., "deleted": bool}``.

    Args:
        endpoint_name: The endpoint (templated; sanitized to the SageMaker name rule like
            :class:`TFDeployOperator` does, so both tasks can share one template).
        delete_config: Also delete the endpoint config it used.
        delete_model: Also delete the model(s) of that endpoint config.
        poll_interval: Seconds between polls while an endpoint still Creating/Updating settles before deletion.
        **kwargs: Connection arguments (:class:`~airflow_tf_sm.tasks.SageMakerTask`: ``backend``,
            ``aws_conn_id``, ``region_name``, ...) and ``BaseOperator`` arguments.
    """

    template_fields: Sequence[str] = ("endpoint_name", *SageMakerTask.template_fields)
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        endpoint_name: str,
        delete_config: bool = True,
        delete_model: bool = True,
        poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self.delete_config = delete_config
        self.delete_model = delete_model
        self.poll_interval = poll_interval

    def execute(self, context: Context) -> dict[str, Any]:
        """Delete the endpoint (and its config and models); succeed when it does not exist."""
        from airflow_tf_sm.sagemaker.names import sanitize_name

        if not self.endpoint_name:
            raise ValueError("endpoint_name: empty -- the name of the endpoint to delete is needed")
        name = sanitize_name(str(self.endpoint_name))
        deleted = self.hook.hosting.delete(
            name, delete_config=self.delete_config, delete_model=self.delete_model, poll_interval=self.poll_interval
        )
        return {"endpoint_name": name, "deleted": deleted}
