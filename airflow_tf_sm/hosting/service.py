"""Models, endpoint configs and endpoints through the hook: deploy a trained model, wait, invoke, delete.

``hook.hosting`` is a :class:`HostingService`. It talks to the backend's clients only through
``hook.call`` (the one retry layer) and waits on the one wait state machine (``waiting.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import (
    EndpointFailedError,
    EndpointTimeoutError,
    ModelNotDeployableError,
    TFSageMakerError,
)
from airflow_tf_sm.sagemaker.errors import is_not_found
from airflow_tf_sm.sagemaker.resources import ENDPOINT
from airflow_tf_sm.service import FamilyService
from airflow_tf_sm.waiting import WaitTimeoutError, Watch, wait_blocking

if TYPE_CHECKING:
    from airflow_tf_sm.hosting.spec import DeploySpec
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds


class HostingService(FamilyService):
    """The hosting operations of one hook (``hook.hosting``)."""

    def describe_deployable_job(self, job_name: str) -> dict[str, Any]:
        """Return DescribeTrainingJob of a job that can be deployed (Completed, with a model artifact).

        Raises:
            ModelNotDeployableError: the job is unknown, not Completed, or has no model artifact.
        """
        from airflow_tf_sm.hosting.spec import check_deployable

        if job_name != "":
            self.check_names(training_job_name=job_name)
        if not job_name:
            raise ModelNotDeployableError("training_job_name: empty -- the name of a Completed training job is needed")
        try:
            desc = dict(self.hook.call(self.sagemaker, "describe_training_job", TrainingJobName=job_name))
        except Exception as exc:
            if is_not_found(exc):
                raise ModelNotDeployableError(
                    f"training_job_name: training job {job_name!r} not found "
                    f"({self.hook.backend} backend, {self.hook.region})"
                ) from exc
            raise
        check_deployable(desc)
        return desc

    def describe_model(self, model_name: str) -> dict[str, Any] | None:
        """Return DescribeModel, or ``None`` when the model does not exist."""
        self.check_names(model_name=model_name)
        return self.hook.describe_or_none("describe_model", ModelName=model_name)

    def describe_endpoint_config(self, config_name: str) -> dict[str, Any] | None:
        """Return DescribeEndpointConfig, or ``None`` when the endpoint config does not exist."""
        self.check_names(config_name=config_name)
        return self.hook.describe_or_none("describe_endpoint_config", EndpointConfigName=config_name)

    def find_endpoint(self, endpoint_name: str) -> dict[str, Any] | None:
        """Return DescribeEndpoint, or ``None`` when the endpoint does not exist."""
        self.check_names(endpoint_name=endpoint_name)
        return self.hook.describe_or_none("describe_endpoint", EndpointName=endpoint_name)

    def describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        """Return DescribeEndpoint for ``endpoint_name`` (retried on throttling; raises when it does not exist)."""
        self.check_names(endpoint_name=endpoint_name)
        return dict(self.hook.call(self.sagemaker, "describe_endpoint", EndpointName=endpoint_name))

    def ensure_model(self, request: Mapping[str, Any]) -> bool:
        """Create the model of a CreateModel request unless it exists with the same image and model data.

        Returns:
            True when the model was created, False when an existing one is reused.

        Raises:
            TFSageMakerError: a model of that name exists with another image or model data.
        """
        name = request["ModelName"]
        wanted = request["PrimaryContainer"]

        def same(desc: Mapping[str, Any]) -> bool:
            have = desc.get("PrimaryContainer") or {}
            return all(have.get(k) == wanted.get(k) for k in ("Image", "ModelDataUrl"))

        existing = self.describe_model(name)
        if existing is not None:
            if not same(existing):
                raise TFSageMakerError(
                    f"Model {name} exists with another image or model data "
                    f"({(existing.get('PrimaryContainer') or {}).get('ModelDataUrl')}); delete it or deploy under "
                    "other settings"
                )
            self.log.info("Model %s exists with the same model data: reusing it", name)
            return False
        created = self.hook.create_once("create_model", request, lambda: self.describe_model(name) is not None)
        self.log.info("Created model %s (%s, %s)", name, wanted.get("Image"), wanted.get("ModelDataUrl"))
        return created

    def ensure_endpoint_config(self, request: Mapping[str, Any]) -> bool:
        """Create the endpoint config of a CreateEndpointConfig request unless it exists; return True if created."""
        name = request["EndpointConfigName"]
        if self.describe_endpoint_config(name) is not None:
            self.log.info("Endpoint config %s exists: reusing it", name)
            return False
        created = self.hook.create_once(
            "create_endpoint_config", request, lambda: self.describe_endpoint_config(name) is not None
        )
        self.log.info("Created endpoint config %s", name)
        return created

    def create_or_update_endpoint(
        self, request: Mapping[str, Any], *, poll_interval: float = 30.0, max_wait: float | None = None
    ) -> str:
        """Point the endpoint at the request's endpoint config: CreateEndpoint, or UpdateEndpoint if it exists.

        An endpoint still Creating/Updating is waited for first. An endpoint already on that config is
        left alone. UpdateEndpoint keeps the endpoint's tags (it takes none).

        Args:
            request: The CreateEndpoint request (``EndpointName``, ``EndpointConfigName``, ``Tags``).
            poll_interval: Seconds between polls while a busy endpoint settles.
            max_wait: Limit of that wait.

        Returns:
            ``"created"``, ``"updated"`` or ``"unchanged"``.

        Raises:
            EndpointFailedError: the existing endpoint is Failed (delete it first) or cannot be updated.
        """
        name, config = request["EndpointName"], request["EndpointConfigName"]
        existing = self.find_endpoint(name)
        if existing is None:
            self.hook.create_once("create_endpoint", request, lambda: self.find_endpoint(name) is not None)
            self.log.info("Creating endpoint %s with endpoint config %s", name, config)
            return "created"
        if existing.get("EndpointConfigName") == config:
            self.log.info("Endpoint %s already uses endpoint config %s: nothing to change", name, config)
            return "unchanged"
        if existing["EndpointStatus"] in ENDPOINT.busy:
            self.log.info("Endpoint %s is %s: waiting before updating it", name, existing["EndpointStatus"])
            existing = self._wait_until_settled(name, poll_interval, max_wait)
        if existing["EndpointStatus"] != "InService":
            raise EndpointFailedError(
                name,
                existing["EndpointStatus"],
                (existing.get("FailureReason") or "")
                + " -- only an InService endpoint can be updated; delete it (DeleteEndpointOperator) and deploy again",
            )
        self.hook.call(self.sagemaker, "update_endpoint", EndpointName=name, EndpointConfigName=config)
        self.log.info("Updating endpoint %s: %s -> %s", name, existing.get("EndpointConfigName"), config)
        return "updated"

    def deploy_spec(
        self,
        desc: Mapping[str, Any],
        ids: TaskInstanceIds,
        *,
        endpoint_name: str,
        tags: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> DeploySpec:
        """Return the :class:`~airflow_tf_sm.hosting.spec.DeploySpec` of a deployable job for a task instance.

        Args:
            desc: DescribeTrainingJob of a Completed job (:meth:`describe_deployable_job`).
            ids: The deploying task instance (its tags go on the model, config and endpoint).
            endpoint_name: The endpoint.
            tags: Extra tags.
            **settings: The other :meth:`DeploySpec.from_training_job` arguments (instance type, image, ...).
        """
        from airflow_tf_sm.hosting.spec import DeploySpec
        from airflow_tf_sm.sagemaker.tags import job_tags

        spec = DeploySpec.from_training_job(
            desc,
            endpoint_name=endpoint_name,
            region=self.hook.region,
            tags={**job_tags(*ids), **(tags or {})},
            **settings,
        )
        self.log.info(
            "Deploying %s of training job %s: model %s, endpoint config %s, endpoint %s",
            spec.model_data,
            spec.training_job_name,
            spec.model_name,
            spec.endpoint_config_name,
            endpoint_name,
        )
        return spec

    def deploy(self, spec: DeploySpec, *, poll_interval: float = 30.0, max_wait: float | None = None) -> str:
        """Create (or reuse) the model and the endpoint config of ``spec``, then create or update its endpoint.

        Every request is validated before the first call. Does not wait for the endpoint.

        Returns:
            ``"created"``, ``"updated"`` or ``"unchanged"`` (the endpoint).
        """
        from airflow_tf_sm.sagemaker.service_model import validate_request

        requests = {
            "CreateModel": spec.model_request(),
            "CreateEndpointConfig": spec.endpoint_config_request(),
            "CreateEndpoint": spec.create_endpoint_request(),
        }
        for operation, request in requests.items():
            validate_request(request, operation)
        self.ensure_model(requests["CreateModel"])
        self.ensure_endpoint_config(requests["CreateEndpointConfig"])
        return self.create_or_update_endpoint(
            requests["CreateEndpoint"], poll_interval=poll_interval, max_wait=max_wait
        )

    def _wait_until_settled(self, endpoint_name: str, poll_interval: float, max_wait: float | None) -> dict[str, Any]:
        try:
            return wait_blocking(
                Watch(ENDPOINT, endpoint_name),
                lambda: self.describe_endpoint(endpoint_name),
                interval=self.hook.backoff(poll_interval),
                timeout=max_wait,
                emit=lambda level, line: self.log.log(level, "%s", line),
            )
        except WaitTimeoutError as exc:
            raise EndpointTimeoutError(f"{exc} (max_wait)") from None

    def wait(
        self,
        endpoint_name: str,
        *,
        expected_config: str | None = None,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
    ) -> dict[str, Any]:
        """Poll until the endpoint is no longer Creating/Updating; return its description when InService.

        Args:
            endpoint_name: The endpoint.
            expected_config: The endpoint config it must serve (an update that SageMaker rolled back
                leaves it InService on the previous config: that is an error).
            poll_interval: Seconds between polls.
            max_wait: Raise :class:`EndpointTimeoutError` after this many seconds.

        Raises:
            EndpointFailedError: Failed, OutOfService, UpdateRollbackFailed, or rolled back.
            EndpointTimeoutError: ``max_wait`` passed.
        """
        return self.check(self._wait_until_settled(endpoint_name, poll_interval, max_wait), expected_config)

    def check(self, desc: Mapping[str, Any], expected_config: str | None = None) -> dict[str, Any]:
        """Return ``desc`` of an InService endpoint (on ``expected_config`` when given); raise otherwise."""
        name, status = desc["EndpointName"], desc["EndpointStatus"]
        if status == "InService":
            if expected_config and desc.get("EndpointConfigName") != expected_config:
                raise EndpointFailedError(name, status, desc.get("FailureReason"), rolled_back=True)
            return dict(desc)
        raise EndpointFailedError(name, status, desc.get("FailureReason"))

    def result_from_event(self, event: Mapping[str, Any] | None, expected_config: str | None = None) -> dict[str, Any]:
        """Turn an :class:`~airflow_tf_sm.hosting.trigger.EndpointTrigger` event into the deploy result.

        A repeated or stale event cannot report a wrong state: the endpoint is described again and checked
        against the expected config (default: the event's).

        Raises:
            EndpointFailedError: the endpoint is Failed, OutOfService, ... or its update was rolled back.
            TFSageMakerError: the trigger reported an error, or the event is missing or names no endpoint.
        """
        if not event or not event.get("endpoint_name"):
            raise TFSageMakerError(f"Endpoint trigger returned no usable event: {event!r}")
        name = str(event["endpoint_name"])
        if event.get("status") == "error":
            raise TFSageMakerError(f"Waiting for endpoint {name} failed: {event.get('message')}")
        expected = expected_config or event.get("expected_config")
        return self.result(name, self.check(self.describe_endpoint(name), expected))

    def endpoint_url(self, endpoint_name: str, desc: Mapping[str, Any] | None = None) -> str:
        """Return the URL that answers ``POST`` invocations of the endpoint.

        On AWS: the SageMaker Runtime ``/endpoints/<name>/invocations`` URL of the region; on the local
        backend: the local model server's ``/invocations`` URL ("" while no server answers).
        """
        described = desc if desc is not None else self.find_endpoint(endpoint_name) or {}
        return self.hook.clients.invocation_url(endpoint_name, described)

    def result(self, endpoint_name: str, desc: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the small JSON value a deploy task pushes to XCom, from fresh descriptions.

        Keys: ``endpoint_name``, ``endpoint_arn``, ``endpoint_config_name``, ``model_name``, ``model_data``,
        ``status``, ``url``, ``region``, ``backend``.
        """
        self.check_names(endpoint_name=endpoint_name)
        desc = desc or self.describe_endpoint(endpoint_name)
        config_name = desc.get("EndpointConfigName")
        config = self.describe_endpoint_config(config_name) if config_name else None
        variants = (config or {}).get("ProductionVariants") or [{}]
        model_name = variants[0].get("ModelName")
        model = self.describe_model(model_name) if model_name else None
        return {
            "endpoint_name": endpoint_name,
            "endpoint_arn": desc.get("EndpointArn"),
            "endpoint_config_name": config_name,
            "model_name": model_name,
            "model_data": ((model or {}).get("PrimaryContainer") or {}).get("ModelDataUrl"),
            "status": desc.get("EndpointStatus"),
            "url": self.endpoint_url(endpoint_name, desc),
            "region": self.hook.region,
            "backend": self.hook.backend,
        }

    def delete(
        self,
        endpoint_name: str,
        *,
        delete_config: bool = True,
        delete_model: bool = True,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
    ) -> bool:
        """Delete the endpoint and, by default, its endpoint config and models.

        An endpoint still Creating or Updating is waited for first (it cannot be deleted meanwhile).
        A resource that does not exist (any more) is skipped, so this is safe to repeat.

        Args:
            endpoint_name: The endpoint.
            delete_config: Also delete its endpoint config.
            delete_model: Also delete the models of that config.
            poll_interval: Seconds between polls while a busy endpoint settles.
            max_wait: Limit of that wait.

        Returns:
            False when the endpoint did not exist, True when it was deleted.
        """
        desc = self.find_endpoint(endpoint_name)
        if desc is not None and desc["EndpointStatus"] in ENDPOINT.busy:
            self.log.info("Endpoint %s is %s: waiting before deleting it", endpoint_name, desc["EndpointStatus"])
            try:
                desc = self._wait_until_settled(endpoint_name, poll_interval, max_wait)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                desc = None
        if desc is None:
            self.log.info("Endpoint %s does not exist: nothing to delete", endpoint_name)
            return False
        config_name = desc.get("EndpointConfigName")
        models: list[str] = []
        if delete_model and config_name:
            config = self.describe_endpoint_config(config_name) or {}
            models = [v["ModelName"] for v in config.get("ProductionVariants") or [] if v.get("ModelName")]
        self._delete_if_exists("delete_endpoint", EndpointName=endpoint_name)
        self.log.info("Deleted endpoint %s", endpoint_name)
        if delete_config and config_name:
            if self._delete_if_exists("delete_endpoint_config", EndpointConfigName=config_name):
                self.log.info("Deleted endpoint config %s", config_name)
        for model in models:
            if self._delete_if_exists("delete_model", ModelName=model):
                self.log.info("Deleted model %s", model)
        return True

    def _delete_if_exists(self, method: str, **kwargs: Any) -> bool:
        try:
            self.hook.call(self.sagemaker, method, **kwargs)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def invoke(
        self,
        endpoint_name: str,
        payload: Mapping[str, Any] | Sequence[Any] | bytes | str,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """Send one request to the endpoint and return the decoded JSON answer.

        For TensorFlow Serving: ``{"instances": [[...], ...]}`` -> ``{"predictions": [[...], ...]}``.

        Args:
            endpoint_name: The endpoint.
            payload: A JSON-able value (encoded here), or the raw body as bytes/str.
            content_type: ``ContentType`` of the body.
            accept: ``Accept`` header.

        Raises:
            TFSageMakerError: the backend has no runtime client, or the answer is not JSON.
        """
        self.check_names(endpoint_name=endpoint_name)
        runtime = self.hook.clients.runtime
        if runtime is None:
            raise TFSageMakerError(f"The {self.hook.backend} backend offers no endpoint runtime (invoke_endpoint)")
        if isinstance(payload, bytes):
            body = payload
        elif isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = json.dumps(payload).encode("utf-8")
        response = self.hook.call(
            runtime, "invoke_endpoint", EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept
        )
        return decode_json_body(endpoint_name, response["Body"].read())


def decode_json_body(name: str, data: bytes) -> Any:
    """Decode an endpoint's answer as JSON.

    Raises:
        TFSageMakerError: the answer is not JSON.
    """
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TFSageMakerError(f"Endpoint {name} answered with a body that is not JSON: {data[:200]!r}") from None
