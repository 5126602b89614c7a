"""``TFSageMakerHook``: the backend's clients, the one retrying ``call()``, and the family services.

The hook builds the boto3-shaped clients of one backend (``sagemaker`` on AWS, ``local`` on this machine)
once, runs every client call through :meth:`TFSageMakerHook.call` (the package's one retry layer) and
offers each resource family's operations as a service attribute: ``hook.training``
(:class:`~airflow_tf_sm.training.service.TrainingService`), ``hook.tuning``
(:class:`~airflow_tf_sm.tuning.service.TuningService`), ``hook.hosting``
(:class:`~airflow_tf_sm.hosting.service.HostingService`) and ``hook.transform``
(:class:`~airflow_tf_sm.transform.service.TransformService`). What differs between backends is data in the
clients (:class:`~airflow_tf_sm.backends.Clients`), never a branch in the operations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_tf_sm.backends import ClientParams, Clients
from airflow_tf_sm.sagemaker.errors import IN_USE_CODE, error_code, is_not_found, is_retryable

if TYPE_CHECKING:
    from airflow_tf_sm.hosting.service import HostingService
    from airflow_tf_sm.training.service import TrainingService
    from airflow_tf_sm.transform.service import TransformService
    from airflow_tf_sm.tuning.service import TuningService
    from airflow_tf_sm.waiting import Backoff

#: Default number of tries of a throttled or 5xx call, and the longest wait between two.
RETRY_ATTEMPTS = 8
RETRY_MAX_WAIT = 20.0


class TFSageMakerHook(BaseHook):
    """Shared hook of every task of the package, on SageMaker or on the local backend.

    Args:
        aws_conn_id: Airflow connection of type ``aws`` (AWS backend). ``None`` uses boto3's default chain.
        region_name: AWS region; default from the connection or the environment.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        verify: TLS verification for AWS clients (bool or CA bundle path).
        botocore_config: Keyword arguments for ``botocore.config.Config``.
        endpoint_url: Endpoint override for the AWS clients (e.g. a VPC endpoint or a test server).
        local_root: State root of the local backend; default from ``[airflow_tf_sm] local_root``.
        retry_attempts: How many times a throttled or 5xx call is tried in all (when the clients do not
            retry themselves, see :class:`~airflow_tf_sm.backends.Clients`).
        retry_max_wait: Upper bound, in seconds, of one backoff wait between tries.

    Example:
        >>> hook = TFSageMakerHook(backend="local")  # doctest: +SKIP
        >>> hook.describe_training_job("mnist-20250101")["TrainingJobStatus"]  # doctest: +SKIP
        'Completed'
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "TensorFlow on SageMaker"

    def __init__(
        self,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        *,
        backend: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        local_root: str | None = None,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_max_wait: float = RETRY_MAX_WAIT,
    ) -> None:
        super().__init__()
        from airflow_tf_sm.settings import resolve_backend

        self.params = ClientParams(
            backend=resolve_backend(backend),
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
            endpoint_url=endpoint_url,
            local_root=local_root,
        )
        self.retry_attempts = max(1, retry_attempts)
        self.retry_max_wait = retry_max_wait

    @classmethod
    def from_params(cls, params: ClientParams | Mapping[str, Any]) -> TFSageMakerHook:
        """Build a hook from client parameters (e.g. a trigger's ``client_params``)."""
        values = params.to_dict() if isinstance(params, ClientParams) else dict(params)
        return cls(**values)

    # ------------------------------------------------------------------ clients
    @property
    def backend(self) -> str:
        """The resolved backend name, ``"sagemaker"`` or ``"local"``."""
        return str(self.params.backend)

    @cached_property
    def clients(self) -> Clients:
        """The backend's boto3-shaped clients (built on first use)."""
        if self.backend == "local":
            from airflow_tf_sm.backends.local.clients import local_backend

            return local_backend(self.params)
        from airflow_tf_sm.backends.aws import aws_clients

        return aws_clients(self.params)

    def get_conn(self) -> Any:
        """Return the SageMaker client (Airflow's hook convention)."""
        return self.clients.sagemaker

    @property
    def region(self) -> str:
        """The region the clients act in."""
        return self.clients.region

    def trigger_params(self) -> dict[str, Any]:
        """Return the settings that rebuild these clients in the triggerer, region and local root pinned."""
        return self.clients.params.to_dict()

    def backoff(self, poll_interval: float, *, fixed: bool = False) -> Backoff:
        """Return the poll intervals of a wait: up to ``poll_interval`` (capped by the backend), growing from ~1 s."""
        from airflow_tf_sm.waiting import Backoff

        ceiling = min(poll_interval, self.clients.max_poll_interval or poll_interval)
        return Backoff(ceiling, start=ceiling if fixed else None)

    # ------------------------------------------------------------------ services
    @cached_property
    def training(self) -> TrainingService:
        """Training jobs: stage code, build and validate requests, create, attach, wait, stop."""
        from airflow_tf_sm.training.service import TrainingService

        return TrainingService(self)

    @cached_property
    def tuning(self) -> TuningService:
        """Hyperparameter tuning jobs: build and validate requests, create, attach, wait, stop."""
        from airflow_tf_sm.tuning.service import TuningService

        return TuningService(self)

    @cached_property
    def hosting(self) -> HostingService:
        """Models, endpoint configs and endpoints: deploy, wait, invoke, delete."""
        from airflow_tf_sm.hosting.service import HostingService

        return HostingService(self)

    @cached_property
    def transform(self) -> TransformService:
        """Batch transform jobs: the model of a training job, create, attach, wait, stop, outputs."""
        from airflow_tf_sm.transform.service import TransformService

        return TransformService(self)

    # ------------------------------------------------------------------ the retry layer
    def call(self, client: Any, method: str, **kwargs: Any) -> Any:
        """Call ``client.method(**kwargs)``, retrying throttling, 5xx and connection errors.

        This is the package's one retry layer: exponential backoff with full jitter, at most
        ``retry_attempts`` tries and ``retry_max_wait`` seconds between two; each retry is logged once
        with its AWS error code. When the clients retry themselves (botocore retry settings on the
        connection), every call is tried once here. Any other error surfaces unchanged.
        """
        from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
        from tenacity.wait import wait_random_exponential

        attempts = 1 if self.clients.client_retries else self.retry_attempts

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            code = (error_code(exc) if exc is not None else None) or type(exc).__name__
            self.log.warning(
                "%s failed (%s), try %d of %d; retrying in %.1f s", method, code, state.attempt_number, attempts, wait
            )

        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=0.5, max=self.retry_max_wait),
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(getattr(client, method), **kwargs)

    def describe_or_none(self, method: str, **kwargs: Any) -> dict[str, Any] | None:
        """Call a SageMaker describe method; ``None`` when the resource does not exist (only then)."""
        try:
            return dict(self.call(self.clients.sagemaker, method, **kwargs))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def create_once(
        self, method: str, request: Mapping[str, Any], exists: Callable[[], bool], *, only_on_retry: bool = False
    ) -> bool:
        """Create a resource; return False when the name turns out to exist already with it.

        A create retried after a 5xx may find its own resource already created: a "name in use" error
        is then checked with ``exists`` and taken as done, never as a second resource. With
        ``only_on_retry`` a "name in use" on the first try is an error (someone else has the name).
        """
        tries = {"n": 0}
        sagemaker = self.clients.sagemaker

        class _Once:
            def create(self, **kwargs: Any) -> Any:
                tries["n"] += 1
                try:
                    return getattr(sagemaker, method)(**kwargs)
                except Exception as exc:
                    code = error_code(exc)
                    taken = code == IN_USE_CODE or (code == "ValidationException" and "already exist" in str(exc))
                    if taken and (tries["n"] > 1 or not only_on_retry) and exists():
                        return None
                    raise

        return self.call(_Once(), "create", **dict(request)) is not None

    # ------------------------------------------------------------------ objects (s3:// on both backends)
    def object_exists(self, uri: str) -> bool:
        """Return True when the ``s3://`` object exists."""
        from airflow_tf_sm.sagemaker.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri, need_key=True)
        try:
            self.call(self.clients.s3, "head_object", Bucket=bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write ``data`` to the ``s3://`` object ``uri`` (on the local backend: the local object store)."""
        from airflow_tf_sm.sagemaker.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri, need_key=True)
        self.call(self.clients.s3, "put_object", Bucket=bucket, Key=key, Body=data)

    def read_bytes(self, uri: str) -> bytes:
        """Return the content of the ``s3://`` object ``uri``."""
        from airflow_tf_sm.sagemaker.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri, need_key=True)
        body = self.call(self.clients.s3, "get_object", Bucket=bucket, Key=key)["Body"]
        return bytes(body.read())

    # ------------------------------------------------------------------ compatibility (thin)
    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        """Return DescribeTrainingJob of ``job_name`` (``hook.training.describe``)."""
        return self.training.describe(job_name)

    def stop_training_job(self, job_name: str) -> bool:
        """Ask SageMaker to stop a job; False when it had already ended (``hook.training.stop``)."""
        return self.training.stop(job_name)

    def invoke_endpoint(
        self,
        endpoint_name: str,
        payload: Mapping[str, Any] | Sequence[Any] | bytes | str,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """Send one request to an endpoint and return the decoded JSON answer (``hook.hosting.invoke``)."""
        return self.hosting.invoke(endpoint_name, payload, content_type=content_type, accept=accept)

    def delete_endpoint(self, endpoint_name: str, **kwargs: Any) -> bool:
        """Delete an endpoint and, by default, its config and models (``hook.hosting.delete``)."""
        return self.hosting.delete(endpoint_name, **kwargs)
