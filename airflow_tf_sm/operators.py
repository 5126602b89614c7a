"""Operators: ``TFTrainingOperator`` trains, ``TFDeployOperator`` deploys, ``DeleteEndpointOperator`` tears down.

This module is imported by DAG files at parse time: it imports no boto3, botocore, TensorFlow or
Amazon provider module at module level. The hook is built in ``execute()``, never in ``__init__``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_tf_sm.links import (
    EndpointConsoleLink,
    TrainingJobConsoleLink,
    TrainingJobLogsLink,
    persist_endpoint_link,
    persist_training_job_link,
)
from airflow_tf_sm.spec import TrainingJobSpec
from airflow_tf_sm.taskargs import default_deferrable, hook_for, set_client_args

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_tf_sm.hook import TFSageMakerHook

#: Every TrainingJobSpec field is an operator argument (one list: the dataclass).
SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainingJobSpec))
#: Spec fields that name files on the machine that runs the task (relative paths: the DAG's folder).
_LOCAL_PATH_FIELDS = ("source_dir", "entry_point")


class TFTrainingOperator(BaseOperator):
    """Train a TensorFlow script-mode model on SageMaker (or the local backend) and wait for it.

    Every field of :class:`~airflow_tf_sm.spec.TrainingJobSpec` is an argument (``entry_point``,
    ``source_dir``, ``hyperparameters``, ``inputs``, ``output_path``, ``instance_type``, ``instance_count``,
    ``framework_version``, ``role``, ``distribution``, ``use_spot_instances``, ``max_run``, ...) and is
    templated. A ``config`` (a dict, or a ``.json``/``.yaml``/``.j2`` file next to the DAG or on its
    ``template_searchpath``) gives the same fields; explicit arguments win over it.

    The job name is deterministic per task instance, so a retry finds the job of an earlier try:
    running -> it attaches and waits; Completed -> it reuses the result (``if_job_exists="retrain"``
    trains again); Failed/Stopped -> it starts the next name. The return value (XCom) is a small dict:
    ``job_name``, ``job_arn``, ``status``, ``model_data``, ``metrics``, ``billable_seconds``, ``image``,
    ``region``, ``backend``.

    Args:
        config: Job settings as a dict or a template file name (rendered with the task context).
        job_name: Base name for the job (templated, e.g. ``"mnist-{{ ds_nodash }}"``); sanitized to the
            SageMaker name rule. Default: derived from dag_id, task_id, run_id and map_index.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's).
        verify: TLS verification of AWS clients.
        botocore_config: ``botocore.config.Config`` keyword arguments.
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend.
        wait_for_completion: Wait for the job to end (``False``: return as soon as it is created).
        poll_interval: Seconds between status polls.
        wait_timeout: Stop the job and fail after waiting this many seconds (``None``: no limit). Not to be
            confused with ``max_wait``, the spot-training limit of the job itself.
        stream_logs: Copy the training log into the task log while waiting.
        if_job_exists: ``"reuse"`` (default) or ``"retrain"``: what to do when this task instance's
            job already Completed in an earlier try.
        stop_job_on_kill: Stop the training job when the task is killed (also while deferred, on Airflow 3.3+).
        deferrable: Wait in the triggerer instead of a worker slot; default from
            ``[operators] default_deferrable``.
        **kwargs: TrainingJobSpec fields and BaseOperator arguments.

    Example:
        >>> train = TFTrainingOperator(  # doctest: +SKIP
        ...     task_id="train",
        ...     entry_point="train.py",
        ...     source_dir="code",
        ...     hyperparameters={"epochs": "{{ params.epochs }}", "learning-rate": 0.01},
        ...     inputs={"train": "s3://my-bucket/data/{{ ds }}/train"},
        ...     output_path="s3://my-bucket/models",
        ...     instance_type="ml.m5.xlarge",
        ...     backend="local",
        ... )
    """

    template_fields: Sequence[str] = (
        "config",
        "job_name",
        *(f for f in SPEC_FIELDS if f != "job_name"),
        "region_name",
        "local_root",
    )
    # Config files (.json/.yaml/.yml/.j2) are read and rendered by the hook, from the DAG folder and
    # template_searchpath. ``template_ext`` stays empty on purpose: Airflow would treat *any* templated
    # string ending in ".json" (say an input "s3://bucket/manifest.json") as a template file to load.
    template_ext: Sequence[str] = ()
    template_fields_renderers = {
        "config": "json",
        "hyperparameters": "json",
        "inputs": "json",
        "environment": "json",
        "tags": "json",
        "distribution": "json",
        "metric_definitions": "json",
        "request_overrides": "json",
    }
    ui_color = "#ffb347"
    operator_extra_links = (TrainingJobConsoleLink(), TrainingJobLogsLink())

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | str | None = None,
        job_name: str | None = None,
        backend: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        wait_timeout: float | None = None,
        stream_logs: bool = True,
        if_job_exists: str = "reuse",
        stop_job_on_kill: bool = True,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        spec_args = {name: kwargs.pop(name) for name in SPEC_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        if if_job_exists not in ("reuse", "retrain"):
            raise ValueError(f"if_job_exists: {if_job_exists!r} -- must be 'reuse' or 'retrain'")
        self.config = config
        self.job_name = job_name
        for name in SPEC_FIELDS:
            if name != "job_name":
                setattr(self, name, spec_args.get(name))
        set_client_args(self, locals())
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.stream_logs = stream_logs
        self.if_job_exists = if_job_exists
        self.stop_job_on_kill = stop_job_on_kill
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._job_name_in_flight: str | None = None
        self._hook: TFSageMakerHook | None = None

    # ------------------------------------------------------------- templating
    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render templated arguments; the ``config`` is rendered once, by the hook's sandboxed renderer.

        Airflow renders every other templated argument. ``config`` is held back from Airflow's pass so
        that it is rendered exactly once (values that come from ``params``/``conf`` are data, never
        templates), natively and with ``StrictUndefined``; the rendered dict is what the UI shows.
        """
        config = self.config
        self.config = None
        try:
            super().render_template_fields(context, jinja_env)
        finally:
            self.config = config
        if config:
            from airflow_tf_sm.hook import TFSageMakerHook

            self.config = TFSageMakerHook.render_config(config, context, self._searchpath())

    def _searchpath(self) -> list[str]:
        paths: list[str] = []
        dag = self.dag if self.has_dag() else None
        if dag is not None:
            fileloc = getattr(dag, "fileloc", None)
            if fileloc:
                paths.append(os.path.dirname(os.path.abspath(fileloc)))
            extra = getattr(dag, "template_searchpath", None) or []
            paths.extend([extra] if isinstance(extra, str) else list(extra))
        return paths

    # -------------------------------------------------------------- execution
    def _make_hook(self) -> TFSageMakerHook:
        return hook_for(self)

    def spec_mapping(self) -> dict[str, Any]:
        """Return the rendered job settings: the config, overridden by explicit arguments."""
        mapping: dict[str, Any] = dict(self.config) if isinstance(self.config, Mapping) else {}
        for name in SPEC_FIELDS:
            value = self.job_name if name == "job_name" else getattr(self, name)
            if value is not None and value != "":  # an empty rendered template means "not set"
                mapping[name] = value
        base = self._searchpath()[:1]
        for name in _LOCAL_PATH_FIELDS:
            value = mapping.get(name)
            if name == "entry_point" and mapping.get("source_dir"):
                continue  # relative to source_dir
            if isinstance(value, str) and base and not os.path.isabs(value) and "://" not in value:
                mapping[name] = os.path.join(base[0], value)
        return mapping

    def execute(self, context: Context) -> dict[str, Any]:
        """Submit (or re-attach to) the training job, wait for it, and return the result dict."""
        from airflow_tf_sm.hook import looks_secret, request_summary
        from airflow_tf_sm.names import job_tags, task_job_name

        hook = self._hook = self._make_hook()
        spec = hook.build_spec(self.spec_mapping())
        _mask_secrets(spec.hyperparameters, looks_secret)

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else int(map_index)
        ids = (ti.dag_id, ti.task_id, ti.run_id, map_index)

        def name_for(attempt: int) -> str:
            return task_job_name(*ids, template_name=spec.job_name, attempt=attempt)

        # Everything is checked before the first API call: spec, code package, the whole request.
        code, code_uri = hook.package_code(spec)
        tags = job_tags(*ids)
        request = hook.build_request(spec, name_for(1), code_uri, extra_tags=tags)

        job_name, existing = hook.find_reusable_job(name_for, if_job_exists=self.if_job_exists)
        if existing is None:
            if job_name != request["TrainingJobName"]:
                request = hook.build_request(spec, job_name, code_uri, extra_tags=tags)
            hook.upload_code(code, code_uri)
            self.log.info("CreateTrainingJob %s", request_summary(request))
            self._job_name_in_flight = job_name  # a kill during the create call still stops the job
            hook.create_training_job(request)
        self._job_name_in_flight = job_name
        ti.xcom_push(key="job_name", value=job_name)
        persist_training_job_link(context, job_name, hook.region, hook.backend)

        if not self.wait_for_completion:
            return hook.training_result(hook.describe_training_job(job_name))
        if self.deferrable:
            self._defer(hook, job_name, existing)
        desc = hook.wait_for_training_job(
            job_name,
            poll_interval=self.poll_interval,
            max_wait=self.wait_timeout,
            stream_logs=self.stream_logs,
        )
        self._job_name_in_flight = None
        return self._finish(hook.training_result(desc))

    def _defer(self, hook: TFSageMakerHook, job_name: str, existing: Mapping[str, Any] | None) -> None:
        """Hand the wait to the triggerer (returns only when the job already ended: then wait here)."""
        import datetime as dt

        from airflow_tf_sm.hook import TERMINAL_STATUSES
        from airflow_tf_sm.triggers import TrainingJobTrigger, trigger_client_params

        if existing is not None and existing["TrainingJobStatus"] in TERMINAL_STATUSES:
            return  # finished before deferral: nothing to wait for
        limits = [t for t in (self.wait_timeout, _seconds(self.execution_timeout)) if t]
        self.defer(
            trigger=TrainingJobTrigger(
                job_name=job_name,
                client_params=trigger_client_params(hook),
                poll_interval=self.poll_interval,
                stream_logs=self.stream_logs,
                stop_job_on_kill=self.stop_job_on_kill,
            ),
            method_name="execute_complete",
            kwargs={"job_name": job_name},
            timeout=dt.timedelta(seconds=min(limits)) if limits else None,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, job_name: str | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return the same value as the sync mode.

        Under ``dag.test()`` the kwargs are replaced by the event, so the job name is read from the event.
        """
        from airflow_tf_sm.triggers import training_result_from_event

        hook = self._hook = self._make_hook()
        if event is not None and not event.get("job_name") and job_name:
            event = {**event, "job_name": job_name}
        return self._finish(training_result_from_event(hook, event, self.log))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Stop the training job when the deferral timed out (``wait_timeout`` / ``execution_timeout``)."""
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            job_name = context["ti"].xcom_pull(task_ids=self.task_id, key="job_name")
            if job_name:
                self._make_hook().stop_training_job(str(job_name))
            raise TaskDeferralTimeout(
                f"Training job {job_name} did not finish within the task's time limit; stop requested"
            ) from None

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        self.log.info(
            "Training job %s Completed; model: %s; metrics: %s",
            result["job_name"],
            result["model_data"],
            result["metrics"],
        )
        return result

    def on_kill(self) -> None:
        """Stop the running training job when the task is killed (unless ``stop_job_on_kill=False``)."""
        if self.stop_job_on_kill and self._job_name_in_flight and self._hook is not None:
            self.log.info("Task killed: stopping training job %s", self._job_name_in_flight)
            self._hook.stop_training_job(self._job_name_in_flight)



def _seconds(delta: Any) -> float | None:
    return float(delta.total_seconds()) if delta is not None else None


def _mask_secrets(hyperparameters: Mapping[str, Any], is_secret: Any) -> None:
    """Register secret-looking hyperparameter values with Airflow's secrets masker."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        return
    for key, value in hyperparameters.items():
        if is_secret(key) and value not in (None, ""):
            mask_secret(str(value), key)


#: What a deploy task does when the quality gate is not met.
GATE_ACTIONS = ("fail", "skip")


class TFDeployOperator(BaseOperator):
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
        wait_for_completion: Wait for the endpoint to be InService (``False``: return after the create/update call).
        poll_interval: Seconds between status polls.
        wait_timeout: Fail after waiting this many seconds (``None``: no limit).
        deferrable: Wait in the triggerer; default from ``[operators] default_deferrable``.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's).
        verify: TLS verification of AWS clients.
        botocore_config: ``botocore.config.Config`` keyword arguments.
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend.
        **kwargs: BaseOperator arguments.

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
        "region_name",
        "local_root",
    )
    template_fields_renderers = {"environment": "json", "tags": "json", "require_metrics": "json"}
    ui_color = "#b5e3a1"
    operator_extra_links = (EndpointConsoleLink(),)

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
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        wait_timeout: float | None = None,
        deferrable: bool | None = None,
        backend: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_gate_failure not in GATE_ACTIONS:
            raise ValueError(f"on_gate_failure: {on_gate_failure!r} -- must be 'fail' or 'skip'")
        if isinstance(require_metrics, Mapping) and "{{" not in repr(require_metrics):
            from airflow_tf_sm.deploy import parse_requirements

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
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        set_client_args(self, locals())

    def _make_hook(self) -> TFSageMakerHook:
        return hook_for(self)

    def resolved_endpoint_name(self) -> str:
        """Return the endpoint name: the (rendered) argument or ``<dag_id>-<task_id>``, sanitized."""
        from airflow_tf_sm.names import sanitize_name

        return sanitize_name(str(self.endpoint_name or f"{self.dag_id}-{self.task_id}"))

    def check_quality_gate(self, job_name: str, metrics: Mapping[str, float]) -> None:
        """Check the job's final metrics against ``require_metrics``.

        Raises:
            ConfigValidationError: a malformed rule, or a metric the job does not have.
            QualityGateError: a rule is not met (``on_gate_failure="fail"``).
            AirflowSkipException: a rule is not met (``on_gate_failure="skip"``).
        """
        from airflow_tf_sm.deploy import parse_requirements, unmet_requirements
        from airflow_tf_sm.exceptions import QualityGateError

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
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"{error}; nothing deployed")
        raise error

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the job and the gate, create or update the endpoint, wait for it and return the result dict."""
        from airflow_tf_sm.deploy import DeploySpec, final_metrics
        from airflow_tf_sm.names import job_tags

        hook = self._make_hook()
        job_name = str(self.training_job_name or "")
        desc = hook.describe_deployable_job(job_name)
        self.check_quality_gate(job_name, final_metrics(desc))

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        ids = (ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))
        endpoint_name = self.resolved_endpoint_name()
        spec = DeploySpec.from_training_job(
            desc,
            endpoint_name=endpoint_name,
            region=hook.region,
            instance_type=self.instance_type,
            instance_count=int(self.instance_count),
            variant_name=self.variant_name,
            image=self.image or None,
            framework_version=self.framework_version or None,
            role=self.role or None,
            environment=self.environment,
            tags={**job_tags(*ids), **(self.tags or {})},
        )
        self.log.info(
            "Deploying %s of training job %s: model %s, endpoint config %s, endpoint %s",
            spec.model_data,
            job_name,
            spec.model_name,
            spec.endpoint_config_name,
            endpoint_name,
        )
        action = hook.deploy(spec, poll_interval=self.poll_interval, max_wait=self.wait_timeout)
        ti.xcom_push(key="endpoint_name", value=endpoint_name)
        persist_endpoint_link(context, endpoint_name, hook.region, hook.backend)
        self.log.info("Endpoint %s: %s", endpoint_name, action)
        if not self.wait_for_completion:
            return hook.endpoint_result(endpoint_name)
        if self.deferrable:
            self._defer(hook, endpoint_name, spec.endpoint_config_name)
        final = hook.wait_for_endpoint(
            endpoint_name,
            expected_config=spec.endpoint_config_name,
            poll_interval=self.poll_interval,
            max_wait=self.wait_timeout,
        )
        return self._finish(hook.endpoint_result(endpoint_name, final))

    def _defer(self, hook: TFSageMakerHook, endpoint_name: str, expected_config: str) -> None:
        """Hand the wait to the triggerer (returns at once when the endpoint already settled)."""
        import datetime as dt

        from airflow_tf_sm.hook import ENDPOINT_BUSY_STATUSES
        from airflow_tf_sm.triggers import EndpointTrigger, trigger_client_params

        if hook.describe_endpoint(endpoint_name)["EndpointStatus"] not in ENDPOINT_BUSY_STATUSES:
            return
        limits = [t for t in (self.wait_timeout, _seconds(self.execution_timeout)) if t]
        self.defer(
            trigger=EndpointTrigger(
                endpoint_name=endpoint_name,
                client_params=trigger_client_params(hook),
                poll_interval=self.poll_interval,
                expected_config=expected_config,
            ),
            method_name="execute_complete",
            kwargs={"endpoint_name": endpoint_name, "expected_config": expected_config},
            timeout=dt.timedelta(seconds=min(limits)) if limits else None,
        )

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
        from airflow_tf_sm.triggers import endpoint_result_from_event

        if event is not None and not event.get("endpoint_name") and endpoint_name:
            event = {**event, "endpoint_name": endpoint_name}
        return self._finish(endpoint_result_from_event(self._make_hook(), event, expected_config))

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        self.log.info(
            "Endpoint %s %s: model %s (%s)%s",
            result["endpoint_name"],
            result["status"],
            result["model_name"],
            result["model_data"],
            f"; invocations: {result['url']}" if result.get("url") else "",
        )
        return result


class DeleteEndpointOperator(BaseOperator):
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
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's).
        verify: TLS verification of AWS clients.
        botocore_config: ``botocore.config.Config`` keyword arguments.
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend.
        **kwargs: BaseOperator arguments.
    """

    template_fields: Sequence[str] = ("endpoint_name", "region_name", "local_root")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        endpoint_name: str,
        delete_config: bool = True,
        delete_model: bool = True,
        poll_interval: float = 30.0,
        backend: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self.delete_config = delete_config
        self.delete_model = delete_model
        self.poll_interval = poll_interval
        set_client_args(self, locals())

    def execute(self, context: Context) -> dict[str, Any]:
        """Delete the endpoint (and its config and models); succeed when it does not exist."""
        from airflow_tf_sm.names import sanitize_name

        if not self.endpoint_name:
            raise ValueError("endpoint_name: empty -- the name of the endpoint to delete is needed")
        name = sanitize_name(str(self.endpoint_name))
        deleted = self._make_hook().delete_endpoint(
            name, delete_config=self.delete_config, delete_model=self.delete_model, poll_interval=self.poll_interval
        )
        return {"endpoint_name": name, "deleted": deleted}

    def _make_hook(self) -> TFSageMakerHook:
        return hook_for(self)
