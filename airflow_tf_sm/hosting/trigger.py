"""``EndpointTrigger``: wait in Airflow's triggerer for an endpoint to leave Creating/Updating."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.hook import TFSageMakerHook
from airflow_tf_sm.polling import WaitTrigger
from airflow_tf_sm.sagemaker.resources import ENDPOINT
from airflow_tf_sm.waiting import Watch


class EndpointTrigger(WaitTrigger):
    """Wait in the triggerer for an endpoint to leave Creating/Updating; yield one event.

    The one event it yields::

        {"status": "success" | "failed" | "error", "endpoint_name": ..., "endpoint_status": ...,
         "endpoint_config_name": ..., "expected_config": ..., "failure_reason": ..., "rolled_back": bool}

    ``"success"`` means InService on ``expected_config`` (when given). An update that SageMaker rolled
    back leaves the endpoint InService on its previous config: that is ``"failed"`` with
    ``rolled_back=True``. ``"error"`` events (e.g. the endpoint was deleted) carry ``error_code`` and
    ``message``. The trigger only describes: running it twice is harmless.

    Args:
        endpoint_name: The endpoint.
        client_params: Backend and connection settings (``hook.trigger_params()``), plain JSON.
        poll_interval: Seconds between polls.
        expected_config: The endpoint config the endpoint must end up serving.

    Example:
        >>> from airflow_tf_sm.backends import ClientParams
        >>> trigger = EndpointTrigger("mnist", ClientParams(backend="local").to_dict(), poll_interval=10)
        >>> trigger.serialize()[0]
        'airflow_tf_sm.hosting.trigger.EndpointTrigger'
    """

    hook_class = TFSageMakerHook
    resource = ENDPOINT
    fields = ("endpoint_name", "expected_config")

    def __init__(
        self,
        endpoint_name: str,
        client_params: Mapping[str, Any],
        poll_interval: float = 30.0,
        expected_config: str | None = None,
    ) -> None:
        super().__init__(client_params, poll_interval)
        self.endpoint_name = endpoint_name
        self.expected_config = expected_config

    def watch(self) -> Watch:
        """Return the state machine of this wait."""
        return Watch(ENDPOINT, self.endpoint_name, expected_config=self.expected_config)

    def describe(self, hook: TFSageMakerHook) -> dict[str, Any]:
        """Describe the endpoint (blocking)."""
        return hook.hosting.describe_endpoint(self.endpoint_name)
