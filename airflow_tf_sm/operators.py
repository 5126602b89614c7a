"""Operators: ``TFTrainingOperator`` submits a TensorFlow script-mode training job and waits for it.

This module is imported by DAG files at parse time: it imports no boto3, botocore, TensorFlow or
Amazon provider module at module level. The hook is built in ``execute()``, never in ``__init__``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_tf_sm.links import TrainingJobConsoleLink, TrainingJobLogsLink, persist_training_job_link
from airflow_tf_sm.spec import TrainingJobSpec

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
        self.backend = backend
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.endpoint_url = endpoint_url
        self.local_root = local_root
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.stream_logs = stream_logs
        self.if_job_exists = if_job_exists
        self.stop_job_on_kill = stop_job_on_kill
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
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
        from airflow_tf_sm.hook import TFSageMakerHook

        return TFSageMakerHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            backend=self.backend,
            verify=self.verify,
            botocore_config=self.botocore_config,
            endpoint_url=self.endpoint_url,
            local_root=self.local_root,
        )

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
        staged, code_uri = hook.package_code(spec)
        tags = job_tags(*ids)
        request = hook.build_request(spec, name_for(1), code_uri, extra_tags=tags)

        job_name, existing = hook.find_reusable_job(name_for, if_job_exists=self.if_job_exists)
        if existing is None:
            if job_name != request["TrainingJobName"]:
                request = hook.build_request(spec, job_name, code_uri, extra_tags=tags)
            hook.upload_code(staged, code_uri)
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


def _default_deferrable() -> bool:
    from airflow.sdk.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


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
