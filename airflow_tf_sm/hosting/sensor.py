"""``EndpointSensor``: wait for an endpoint to be InService."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_tf_sm.links import EndpointConsoleLink
from airflow_tf_sm.tasks import SageMakerSensor, SageMakerTask

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_tf_sm.waiting import Watch


class EndpointSensor(SageMakerSensor):
    """Wait for an endpoint to be InService; return the same small dict as a deploy task.

    The value is the one :class:`~airflow_tf_sm.hosting.operator.TFDeployOperator` returns.

    Pokes while the endpoint is Creating, Updating, SystemUpdating or RollingBack; fails with
    :class:`~airflow_tf_sm.exceptions.EndpointFailedError` when it settles in any other state than
    InService (Failed, OutOfService, UpdateRollbackFailed, Deleting). Waits in the triggerer with
    ``deferrable=True``.

    Args:
        endpoint_name: The endpoint (templated, or an XComArg such as ``deploy.output["endpoint_name"]``).
        **kwargs: ``deferrable``, connection and ``BaseSensorOperator`` arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerSensor`).

    Example:
        >>> wait = EndpointSensor(task_id="wait_for_endpoint", endpoint_name="mnist", deferrable=True)  # doctest: +SKIP
    """

    template_fields: Sequence[str] = ("endpoint_name", *SageMakerTask.template_fields)
    resource_links = (EndpointConsoleLink(),)
    ui_color = "#c9eebb"
    what = "an endpoint"
    name_argument = "endpoint_name"

    def __init__(self, *, endpoint_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint_name = endpoint_name
        self._watch: Watch | None = None

    def make_trigger(self) -> BaseTrigger:
        """Return the :class:`~airflow_tf_sm.hosting.trigger.EndpointTrigger` of this wait."""
        from airflow_tf_sm.hosting.trigger import EndpointTrigger

        return EndpointTrigger(
            endpoint_name=self.endpoint_name, client_params=self.hook.trigger_params(), poll_interval=self.poke_interval
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return the result when InService, False while the endpoint changes; raise when it settled elsewhere.

        Raises:
            EndpointFailedError: Failed, OutOfService, UpdateRollbackFailed or Deleting.
        """
        hosting = self.hook.hosting
        if self._watch is None:
            from airflow_tf_sm.sagemaker.resources import ENDPOINT
            from airflow_tf_sm.waiting import Watch

            self._watch = Watch(ENDPOINT, self.endpoint_name)
        step = self._watch.observe(hosting.describe_endpoint(self.endpoint_name))
        if step.status_line:
            self.log.info("%s", step.status_line)
        if not step.done:
            return False
        final = hosting.check(step.desc)
        return PokeReturnValue(is_done=True, xcom_value=hosting.result(self.endpoint_name, final))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: re-describe the endpoint and return its result (or raise)."""
        self.remember_link(self.resource_name)
        return self.hook.hosting.result_from_event(event)
