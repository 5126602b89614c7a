"""Sensors: ``TrainingJobSensor`` waits for a training job, ``EndpointSensor`` for an endpoint to be InService.

This module is imported by DAG files at parse time: it imports no boto3, botocore or Amazon provider
module, and loads the hook and the trigger only when the task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_tf_sm.links import (
    EndpointConsoleLink,
    TrainingJobConsoleLink,
    TrainingJobLogsLink,
    persist_endpoint_link,
    persist_training_job_link,
)
from airflow_tf_sm.taskargs import default_deferrable, hook_for, set_client_args

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_tf_sm.hook import TFSageMakerHook, TrainingLogReader



class TrainingJobSensor(BaseSensorOperator):
    """Wait for a training job started elsewhere (another task, another DAG, a notebook) to end.

    Succeeds when the job is Completed and returns the same small dict as
    :class:`~airflow_tf_sm.operators.TFTrainingOperator` (``job_name``, ``model_data``, ``metrics``, ...);
    fails with :class:`~airflow_tf_sm.exceptions.TrainingJobFailedError` when it ends Failed or Stopped.
    It waits in the triggerer (``deferrable=True``) or by poking (``mode="poke"`` / ``"reschedule"``).

    Args:
        job_name: The training job (templated: ``"{{ ti.xcom_pull('train', key='job_name') }}"``, or an
            XComArg such as ``train.output["job_name"]``).
        deferrable: Wait in the triggerer; default ``[operators] default_deferrable``.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's).
        verify: TLS verification of AWS clients.
        botocore_config: ``botocore.config.Config`` keyword arguments.
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend.
        stream_logs: Copy the training log into the task log while waiting (poke mode and deferrable).
        stop_job_on_kill: Stop the job when the task is killed. Off by default: the sensor did not
            start the job.
        **kwargs: ``BaseSensorOperator`` arguments (``poke_interval``, ``timeout``, ``mode``, ...).

    Example:
        >>> wait = TrainingJobSensor(  # doctest: +SKIP
        ...     task_id="wait_for_training",
        ...     job_name="{{ ti.xcom_pull('train', key='job_name') }}",
        ...     backend="local",
        ...     deferrable=True,
        ... )
    """

    template_fields: Sequence[str] = ("job_name", "region_name", "local_root")
    operator_extra_links = (TrainingJobConsoleLink(), TrainingJobLogsLink())
    ui_color = "#ffd59e"

    def __init__(
        self,
        *,
        job_name: str,
        deferrable: bool | None = None,
        backend: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        stream_logs: bool = True,
        stop_job_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        set_client_args(self, locals())
        self.stream_logs = stream_logs
        self.stop_job_on_kill = stop_job_on_kill
        self._hook: TFSageMakerHook | None = None
        self._reader: TrainingLogReader | None = None

    @property
    def hook(self) -> TFSageMakerHook:
        """The hook for this task's backend and connection (built on first use, at run time)."""
        if self._hook is None:
            self._hook = hook_for(self)
        return self._hook

    def execute(self, context: Context) -> Any:
        """Wait for the job: defer to :class:`~airflow_tf_sm.triggers.TrainingJobTrigger`, or poke."""
        if not self.job_name:
            raise ValueError("job_name: empty -- the sensor needs the name of a training job")
        hook = self.hook
        persist_training_job_link(context, self.job_name, hook.region, hook.backend)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:  # already ended: no need to defer
            return done.xcom_value
        from airflow_tf_sm.triggers import TrainingJobTrigger, trigger_client_params

        self.defer(
            trigger=TrainingJobTrigger(
                job_name=self.job_name,
                client_params=trigger_client_params(hook),
                poll_interval=self.poke_interval,
                stream_logs=self.stream_logs,
                stop_job_on_kill=self.stop_job_on_kill,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when the job is Completed, False while it runs; raise when it failed.

        Raises:
            TrainingJobFailedError: the job ended Failed or Stopped.
        """
        from airflow_tf_sm.hook import TERMINAL_STATUSES, TrainingLogReader

        hook = self.hook
        desc = hook.describe_training_job(self.job_name)
        status = desc["TrainingJobStatus"]
        self.log.info("Training job %s: %s - %s", self.job_name, status, desc.get("SecondaryStatus"))
        if self.stream_logs and self.mode == "poke" and not self.deferrable:
            if self._reader is None:
                self._reader = TrainingLogReader(hook, self.job_name)
            for line in self._reader.new_lines():
                self.log.info("%s", line)
        if status not in TERMINAL_STATUSES:
            return False
        final = hook.check_final(desc, self._reader)  # raises for Failed / Stopped
        return PokeReturnValue(is_done=True, xcom_value=hook.training_result(final))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the job and return its result (or raise)."""
        from airflow_tf_sm.triggers import training_result_from_event

        return training_result_from_event(self.hook, event, self.log)

    def on_kill(self) -> None:
        """Stop the job when the task is killed while poking, if ``stop_job_on_kill`` (deferred: the trigger's)."""
        if self.stop_job_on_kill and self._hook is not None and self.job_name:
            self.log.info("Task killed: stopping training job %s", self.job_name)
            self._hook.stop_training_job(self.job_name)


class EndpointSensor(BaseSensorOperator):
    """Wait for an endpoint to be InService; return the same small dict as a deploy task.

    The value is the one :class:`~airflow_tf_sm.operators.TFDeployOperator` returns.

    Pokes while the endpoint is Creating, Updating, SystemUpdating or RollingBack; fails with
    :class:`~airflow_tf_sm.exceptions.EndpointFailedError` when it settles in any other state than
    InService (Failed, OutOfService, UpdateRollbackFailed, Deleting). Waits in the triggerer with
    ``deferrable=True``.

    Args:
        endpoint_name: The endpoint (templated, or an XComArg such as ``deploy.output["endpoint_name"]``).
        deferrable: Wait in the triggerer; default ``[operators] default_deferrable``.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        aws_conn_id: Airflow ``aws`` connection (AWS backend).
        region_name: AWS region (default: the connection's).
        verify: TLS verification of AWS clients.
        botocore_config: ``botocore.config.Config`` keyword arguments.
        endpoint_url: Endpoint override for AWS clients.
        local_root: State root of the local backend.
        **kwargs: ``BaseSensorOperator`` arguments (``poke_interval``, ``timeout``, ``mode``, ...).

    Example:
        >>> wait = EndpointSensor(task_id="wait_for_endpoint", endpoint_name="mnist", deferrable=True)  # doctest: +SKIP
    """

    template_fields: Sequence[str] = ("endpoint_name", "region_name", "local_root")
    operator_extra_links = (EndpointConsoleLink(),)
    ui_color = "#c9eebb"

    def __init__(
        self,
        *,
        endpoint_name: str,
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
        self.endpoint_name = endpoint_name
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        set_client_args(self, locals())
        self._hook: TFSageMakerHook | None = None

    @property
    def hook(self) -> TFSageMakerHook:
        """The hook for this task's backend and connection (built on first use, at run time)."""
        if self._hook is None:
            self._hook = hook_for(self)
        return self._hook

    def execute(self, context: Context) -> Any:
        """Wait for the endpoint: defer to :class:`~airflow_tf_sm.triggers.EndpointTrigger`, or poke."""
        if not self.endpoint_name:
            raise ValueError("endpoint_name: empty -- the sensor needs the name of an endpoint")
        hook = self.hook
        persist_endpoint_link(context, self.endpoint_name, hook.region, hook.backend)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        from airflow_tf_sm.triggers import EndpointTrigger, trigger_client_params

        self.defer(
            trigger=EndpointTrigger(
                endpoint_name=self.endpoint_name,
                client_params=trigger_client_params(hook),
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when InService, False while the endpoint changes; raise when it settled elsewhere.

        Raises:
            EndpointFailedError: Failed, OutOfService, UpdateRollbackFailed or Deleting.
        """
        from airflow_tf_sm.hook import ENDPOINT_BUSY_STATUSES

        hook = self.hook
        desc = hook.describe_endpoint(self.endpoint_name)
        self.log.info("Endpoint %s: %s", self.endpoint_name, desc["EndpointStatus"])
        if desc["EndpointStatus"] in ENDPOINT_BUSY_STATUSES:
            return False
        final = hook.check_endpoint(desc)
        return PokeReturnValue(is_done=True, xcom_value=hook.endpoint_result(self.endpoint_name, final))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the endpoint and return its result (or raise)."""
        from airflow_tf_sm.triggers import endpoint_result_from_event

        return endpoint_result_from_event(self.hook, event)
