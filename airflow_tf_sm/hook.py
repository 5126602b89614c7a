"""``TFSageMakerHook``: the one place that renders, names, stages, validates, submits, waits and stops.

Operators, sensors and triggers stay thin and call this hook; the hook talks to boto3-shaped clients
from either backend (``sagemaker`` on AWS, ``local`` on this machine) without branching on which.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_tf_sm.backends import ClientParams, Clients, get_clients
from airflow_tf_sm.exceptions import (
    EndpointFailedError,
    EndpointTimeoutError,
    ModelNotDeployableError,
    TFSageMakerError,
    TrainingJobFailedError,
    TrainingJobTimeoutError,
)

if TYPE_CHECKING:
    from airflow_tf_sm.deploy import DeploySpec
    from airflow_tf_sm.packaging import SourceDigest
    from airflow_tf_sm.spec import TrainingJobSpec

#: CloudWatch log group of SageMaker training jobs (the local backend uses the same name).
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
#: Role ARN the local backend uses when none is given (it assumes nothing with it).
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/airflow-tf-sm-local"
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
#: Endpoint statuses that change by themselves (anything else is where the endpoint stays).
ENDPOINT_BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "InternalError",
    }
)
_SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential)", re.I)


def is_retryable_error(exc: BaseException) -> bool:
    """Return True for throttling, 5xx and connection errors worth retrying.

    Args:
        exc: The exception a client call raised.
    """
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _RETRYABLE_CODES or (isinstance(status, int) and status >= 500)
    return isinstance(exc, ConnectionError | ReadTimeoutError)


def error_code(exc: BaseException) -> str | None:
    """Return the AWS error code of a ``ClientError`` (``None`` for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_not_found_error(exc: BaseException) -> bool:
    """Return True when a describe/delete call failed because the model, config or endpoint does not exist.

    SageMaker answers ``ValidationException`` "Could not find ..." (other ValidationExceptions, such as
    "Cannot update in-progress endpoint", are real errors).
    """
    code = error_code(exc)
    if code == "ResourceNotFound":
        return True
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    return code == "ValidationException" and "could not find" in message.lower()


def looks_secret(name: str) -> bool:
    """Return True when a hyperparameter or variable name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


class TFSageMakerHook(BaseHook):
    """Shared hook for TensorFlow training jobs on SageMaker or on the local backend.

    Args:
        aws_conn_id: Airflow connection of type ``aws`` (AWS backend). ``None`` uses boto3's default chain.
        region_name: AWS region; default from the connection or the environment.
        backend: ``"sagemaker"`` or ``"local"``; default from ``[airflow_tf_sm] backend``.
        verify: TLS verification for AWS clients (bool or CA bundle path).
        botocore_config: Keyword arguments for ``botocore.config.Config``.
        endpoint_url: Endpoint override for the AWS clients (e.g. a VPC endpoint or a test server).
        local_root: State root of the local backend; default from ``[airflow_tf_sm] local_root``.
        retry_attempts: How many times a throttled or 5xx call is tried in all.
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
        retry_attempts: int = 8,
        retry_max_wait: float = 20.0,
    ) -> None:
        super().__init__()
        from airflow_tf_sm.config import resolve_backend

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

    # ------------------------------------------------------------------ clients
    @property
    def backend(self) -> str:
        """The resolved backend name, ``"sagemaker"`` or ``"local"``."""
        return str(self.params.backend)

    @cached_property
    def clients(self) -> Clients:
        """The backend's boto3-shaped clients (built on first use)."""
        return get_clients(self.params)

    def get_conn(self) -> Any:
        """Return the SageMaker client (Airflow's hook convention)."""
        return self.clients.sagemaker

    @property
    def region(self) -> str:
        """The region the clients act in."""
        return self.clients.region

    def call(self, client: Any, method: str, **kwargs: Any) -> Any:
        """Call ``client.method(**kwargs)``, retrying throttling, 5xx and connection errors.

        Retries use exponential backoff with full jitter, bounded by ``retry_attempts`` and
        ``retry_max_wait``; each retry is logged. Any other error surfaces unchanged, with its AWS code.
        """
        from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
        from tenacity.wait import wait_random_exponential

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            self.log.warning(
                "%s failed (%s), try %d of %d; retrying in %.1f s",
                method,
                error_code(exc) if exc is not None and error_code(exc) else type(exc).__name__,
                state.attempt_number,
                self.retry_attempts,
                wait,
            )

        retrying = Retrying(
            retry=retry_if_exception(is_retryable_error),
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_random_exponential(multiplier=0.5, max=self.retry_max_wait),
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(getattr(client, method), **kwargs)

    # ---------------------------------------------------------------- rendering
    @staticmethod
    def render_config(
        config: Mapping[str, Any] | str, context: Mapping[str, Any], searchpath: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Render a job config (dict, or a ``.json``/``.yaml``/``.j2`` template file) with the task context.

        Rendering is sandboxed with ``StrictUndefined``; see :func:`airflow_tf_sm.rendering.render_config`.
        """
        from airflow_tf_sm.rendering import render_config

        return render_config(config, context, searchpath)

    @staticmethod
    def build_spec(mapping: Mapping[str, Any]) -> TrainingJobSpec:
        """Build a validated :class:`~airflow_tf_sm.spec.TrainingJobSpec` from a rendered mapping."""
        from airflow_tf_sm.spec import TrainingJobSpec

        return TrainingJobSpec.from_mapping(mapping)

    # ------------------------------------------------------------------ staging
    def stage_code(self, spec: TrainingJobSpec) -> str:
        """Package ``source_dir`` (or the entry point) and upload it once, content-addressed.

        Returns:
            The ``s3://`` URI of ``sourcedir.tar.gz``.
        """
        staged, uri = self.package_code(spec)
        self.upload_code(staged, uri)
        return uri

    @staticmethod
    def package_code(spec: TrainingJobSpec) -> tuple[SourceDigest, str]:
        """Content-address the code on this machine (no network, no compression) and return its URI.

        The key holds a digest of the files (paths, modes, contents), so unchanged code maps to the same
        key; the archive itself is built only by :meth:`upload_code`, when the object is missing.
        """
        from airflow_tf_sm.packaging import code_key, source_digest

        code = source_digest(spec.source_dir, spec.entry_point)
        return code, code_key(spec.code_prefix(), code.digest)

    def upload_code(self, code: SourceDigest, uri: str) -> int:
        """Build and upload the deterministic ``sourcedir.tar.gz`` unless ``uri`` exists; return bytes uploaded.

        Raises:
            TFSageMakerError: the files changed between :meth:`package_code` and the upload (the archive
                would not match its content-addressed key).
        """
        from airflow_tf_sm.packaging import build_sourcedir
        from airflow_tf_sm.validation import parse_s3_uri

        if self.object_exists(uri):
            self.log.info("Code unchanged (sha256 %s): reusing %s, 0 bytes uploaded", code.digest[:12], uri)
            return 0
        staged = build_sourcedir(code.source_dir, code.entry_point)
        if staged.content_digest != code.digest:
            raise TFSageMakerError(
                f"source_dir {code.source_dir!r} changed while it was being staged; try again"
            )
        bucket, key = parse_s3_uri(uri)
        self.call(self.clients.s3, "put_object", Bucket=bucket, Key=key, Body=staged.data)
        self.log.info("Staged %d file(s), %d bytes to %s", len(staged.files), len(staged.data), uri)
        return len(staged.data)

    def object_exists(self, uri: str) -> bool:
        """Return True when the ``s3://`` object exists."""
        from airflow_tf_sm.validation import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        try:
            self.call(self.clients.s3, "head_object", Bucket=bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write ``data`` to the ``s3://`` object ``uri`` (on the local backend: the local object store)."""
        from airflow_tf_sm.validation import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        self.call(self.clients.s3, "put_object", Bucket=bucket, Key=key, Body=data)

    def read_bytes(self, uri: str) -> bytes:
        """Return the content of the ``s3://`` object ``uri``."""
        from airflow_tf_sm.validation import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        body = self.call(self.clients.s3, "get_object", Bucket=bucket, Key=key)["Body"]
        return bytes(body.read())

    # ------------------------------------------------------------------ request
    def build_request(
        self,
        spec: TrainingJobSpec,
        job_name: str,
        code_uri: str,
        *,
        extra_tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Return the validated CreateTrainingJob request for ``spec``.

        ``spec.to_request`` builds it, API fields are coerced to their botocore shape types, then the
        whole request is validated (botocore's parameter validation plus the project's rules);
        every problem is reported together before any call is made.
        """
        from airflow_tf_sm.rendering import coerce_request
        from airflow_tf_sm.validation import validate_request

        role = spec.role or (LOCAL_ROLE_ARN if self.backend == "local" else None)
        request = spec.to_request(job_name, code_uri, self.region, role=role, extra_tags=extra_tags)
        request = coerce_request(request, "CreateTrainingJob")
        validate_request(request, "CreateTrainingJob")
        return request

    def create_training_job(self, request: Mapping[str, Any]) -> str:
        """Submit a validated CreateTrainingJob request; return the job ARN.

        A create call retried after a 5xx may find its own job already created: a ``ResourceInUse``
        on a retry is then taken as success (the job carries the same name), never as a second job.
        """
        name = request["TrainingJobName"]
        attempts = {"n": 0}

        def create(**kwargs: Any) -> Any:
            attempts["n"] += 1
            try:
                return self.clients.sagemaker.create_training_job(**kwargs)
            except Exception as exc:
                if attempts["n"] > 1 and error_code(exc) == "ResourceInUse":
                    desc = self.describe_training_job(name)
                    return {"TrainingJobArn": desc["TrainingJobArn"]}
                raise

        holder = _CallableClient(create_training_job=create)
        response = self.call(holder, "create_training_job", **dict(request))
        self.log.info("Created training job %s on %s (%s)", name, self.backend, self.region)
        return str(response["TrainingJobArn"])

    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        """Return DescribeTrainingJob for ``job_name`` (retried on throttling)."""
        return dict(self.call(self.clients.sagemaker, "describe_training_job", TrainingJobName=job_name))

    def stop_training_job(self, job_name: str) -> bool:
        """Ask SageMaker to stop a job; return False when the job had already ended."""
        try:
            self.call(self.clients.sagemaker, "stop_training_job", TrainingJobName=job_name)
        except Exception as exc:
            if error_code(exc) == "ValidationException":
                self.log.info("Training job %s not stopped: %s", job_name, exc)
                return False
            raise
        self.log.info("Stop requested for training job %s", job_name)
        return True

    def find_reusable_job(
        self, name_for_attempt: Callable[[int], str], *, if_job_exists: str = "reuse", max_attempts: int = 50
    ) -> tuple[str, dict[str, Any] | None]:
        """Find what a (re)try of a task instance should do with its deterministic job names.

        Names ``name_for_attempt(1)``, ``(2)``, ... are looked up in turn: an unknown name is free and is
        returned to be created; a running job (InProgress) is returned to attach to; a Completed job is
        returned for reuse unless ``if_job_exists="retrain"``; a Failed or Stopped job moves on to the
        next name; a Stopping job is waited for first. So a retry never starts a second billable job.

        Returns:
            ``(job_name, description)`` where ``description`` is ``None`` when the name is free.
        """
        if if_job_exists not in ("reuse", "retrain"):
            raise ValueError(f"if_job_exists: {if_job_exists!r} -- must be 'reuse' or 'retrain'")
        for attempt in range(1, max_attempts + 1):
            name = name_for_attempt(attempt)
            try:
                desc = self.describe_training_job(name)
            except Exception as exc:
                if error_code(exc) == "ValidationException":
                    return name, None
                raise
            while desc["TrainingJobStatus"] == "Stopping":
                time.sleep(2)
                desc = self.describe_training_job(name)
            status = desc["TrainingJobStatus"]
            if status == "InProgress":
                self.log.info("Training job %s of an earlier try is still running: attaching to it", name)
                return name, desc
            if status == "Completed" and if_job_exists == "reuse":
                self.log.info("Training job %s of an earlier try already Completed: reusing it", name)
                return name, desc
            self.log.info("Training job %s of an earlier try is %s: a new job is needed", name, status)
        raise RuntimeError(f"More than {max_attempts} training jobs for this task instance; giving up")

    # ------------------------------------------------------------------ waiting
    def wait_for_training_job(
        self,
        job_name: str,
        *,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
        stream_logs: bool = True,
        print_log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job ends; stream its log and status transitions into the task log.

        Args:
            job_name: The training job.
            poll_interval: Seconds between polls.
            max_wait: Stop the job and raise :class:`TrainingJobTimeoutError` after this many seconds.
            stream_logs: Copy the training log into the task log while waiting.
            print_log: Where log lines go (default: this hook's logger).

        Returns:
            The final DescribeTrainingJob response of a Completed job.

        Raises:
            TrainingJobFailedError: the job ended Failed or Stopped.
            TrainingJobTimeoutError: ``max_wait`` passed; the job was stopped.
        """
        emit = print_log or (lambda line: self.log.info("%s", line))
        reader = TrainingLogReader(self, job_name)
        started = time.monotonic()
        last_secondary: str | None = None
        while True:
            desc = self.describe_training_job(job_name)
            status, secondary = desc["TrainingJobStatus"], desc.get("SecondaryStatus")
            if secondary != last_secondary:
                self.log.info("Training job %s: %s - %s", job_name, status, secondary)
                last_secondary = secondary
            if stream_logs:
                for line in reader.new_lines():
                    emit(line)
            if status in TERMINAL_STATUSES:
                if stream_logs:  # the last lines can land after the status changed
                    for line in reader.new_lines():
                        emit(line)
                return self.check_final(desc, reader)
            if max_wait is not None and time.monotonic() - started > max_wait:
                self.stop_training_job(job_name)
                raise TrainingJobTimeoutError(
                    f"Training job {job_name} still {status} after {max_wait:.0f} s (max_wait); stop requested"
                )
            time.sleep(poll_interval)

    def check_final(self, desc: Mapping[str, Any], reader: TrainingLogReader | None = None) -> dict[str, Any]:
        """Return ``desc`` of a Completed job; raise :class:`TrainingJobFailedError` for Failed/Stopped."""
        status = desc["TrainingJobStatus"]
        name = desc["TrainingJobName"]
        billable = desc.get("BillableTimeInSeconds")
        if billable is not None:
            self.log.info("Training job %s %s; billable seconds: %s", name, status, billable)
        if status == "Completed":
            return dict(desc)
        tail = "\n".join((reader or TrainingLogReader(self, name)).tail(20))
        raise TrainingJobFailedError(name, status, desc.get("FailureReason"), tail)

    def training_result(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a DescribeTrainingJob response into the small JSON value pushed to XCom."""
        metrics = {m["MetricName"]: float(m["Value"]) for m in desc.get("FinalMetricDataList") or []}
        return {
            "job_name": desc["TrainingJobName"],
            "job_arn": desc.get("TrainingJobArn"),
            "status": desc["TrainingJobStatus"],
            "model_data": (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            "metrics": metrics,
            "billable_seconds": desc.get("BillableTimeInSeconds"),
            "training_seconds": desc.get("TrainingTimeInSeconds"),
            "image": (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"),
            "region": self.region,
            "backend": self.backend,
        }

    # ------------------------------------------------------------------- deploy
    def describe_deployable_job(self, job_name: str) -> dict[str, Any]:
        """Return DescribeTrainingJob of a job that can be deployed (Completed, with a model artifact).

        Raises:
            ModelNotDeployableError: the job is unknown, not Completed, or has no model artifact.
        """
        from airflow_tf_sm.deploy import check_deployable

        if not job_name:
            raise ModelNotDeployableError("training_job_name: empty -- the name of a Completed training job is needed")
        try:
            desc = self.describe_training_job(job_name)
        except Exception as exc:
            if error_code(exc) == "ValidationException":
                raise ModelNotDeployableError(
                    f"training_job_name: training job {job_name!r} not found ({self.backend} backend, {self.region})"
                ) from exc
            raise
        check_deployable(desc)
        return desc

    def _describe_or_none(self, method: str, **kwargs: Any) -> dict[str, Any] | None:
        """Call a SageMaker describe method; ``None`` when the resource does not exist."""
        try:
            return dict(self.call(self.clients.sagemaker, method, **kwargs))
        except Exception as exc:
            if is_not_found_error(exc):
                return None
            raise

    def describe_model(self, model_name: str) -> dict[str, Any] | None:
        """Return DescribeModel, or ``None`` when the model does not exist."""
        return self._describe_or_none("describe_model", ModelName=model_name)

    def describe_endpoint_config(self, config_name: str) -> dict[str, Any] | None:
        """Return DescribeEndpointConfig, or ``None`` when the endpoint config does not exist."""
        return self._describe_or_none("describe_endpoint_config", EndpointConfigName=config_name)

    def find_endpoint(self, endpoint_name: str) -> dict[str, Any] | None:
        """Return DescribeEndpoint, or ``None`` when the endpoint does not exist."""
        return self._describe_or_none("describe_endpoint", EndpointName=endpoint_name)

    def describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        """Return DescribeEndpoint for ``endpoint_name`` (retried on throttling; raises when it does not exist)."""
        return dict(self.call(self.clients.sagemaker, "describe_endpoint", EndpointName=endpoint_name))

    def _create_once(self, method: str, request: Mapping[str, Any], exists: Callable[[], bool]) -> bool:
        """Create a resource; a create retried after a 5xx that finds it already there counts as done."""
        try:
            self.call(self.clients.sagemaker, method, **dict(request))
        except Exception as exc:
            if error_code(exc) in {"ValidationException", "ResourceInUse"} and exists():
                return False
            raise
        return True

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
        created = self._create_once("create_model", request, lambda: self.describe_model(name) is not None)
        self.log.info("Created model %s (%s, %s)", name, wanted.get("Image"), wanted.get("ModelDataUrl"))
        return created

    def ensure_endpoint_config(self, request: Mapping[str, Any]) -> bool:
        """Create the endpoint config of a CreateEndpointConfig request unless it exists; return True if created."""
        name = request["EndpointConfigName"]
        if self.describe_endpoint_config(name) is not None:
            self.log.info("Endpoint config %s exists: reusing it", name)
            return False
        created = self._create_once(
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
            self._create_once("create_endpoint", request, lambda: self.find_endpoint(name) is not None)
            self.log.info("Creating endpoint %s with endpoint config %s", name, config)
            return "created"
        if existing.get("EndpointConfigName") == config:
            self.log.info("Endpoint %s already uses endpoint config %s: nothing to change", name, config)
            return "unchanged"
        if existing["EndpointStatus"] in ENDPOINT_BUSY_STATUSES:
            self.log.info("Endpoint %s is %s: waiting before updating it", name, existing["EndpointStatus"])
            existing = self._wait_until_settled(name, poll_interval, max_wait)
        if existing["EndpointStatus"] != "InService":
            raise EndpointFailedError(
                name,
                existing["EndpointStatus"],
                (existing.get("FailureReason") or "")
                + " -- only an InService endpoint can be updated; delete it (DeleteEndpointOperator) and deploy again",
            )
        self.call(self.clients.sagemaker, "update_endpoint", EndpointName=name, EndpointConfigName=config)
        self.log.info("Updating endpoint %s: %s -> %s", name, existing.get("EndpointConfigName"), config)
        return "updated"

    def deploy(self, spec: DeploySpec, *, poll_interval: float = 30.0, max_wait: float | None = None) -> str:
        """Create (or reuse) the model and the endpoint config of ``spec``, then create or update its endpoint.

        Every request is validated before the first call. Does not wait for the endpoint.

        Returns:
            ``"created"``, ``"updated"`` or ``"unchanged"`` (the endpoint).
        """
        from airflow_tf_sm.validation import validate_request

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
        started = time.monotonic()
        last: str | None = None
        while True:
            desc = self.describe_endpoint(endpoint_name)
            status = desc["EndpointStatus"]
            if status != last:
                self.log.info("Endpoint %s: %s", endpoint_name, status)
                last = status
            if status not in ENDPOINT_BUSY_STATUSES:
                return desc
            if max_wait is not None and time.monotonic() - started > max_wait:
                raise EndpointTimeoutError(f"Endpoint {endpoint_name} still {status} after {max_wait:.0f} s (max_wait)")
            time.sleep(poll_interval)

    def wait_for_endpoint(
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
        return self.check_endpoint(self._wait_until_settled(endpoint_name, poll_interval, max_wait), expected_config)

    def check_endpoint(self, desc: Mapping[str, Any], expected_config: str | None = None) -> dict[str, Any]:
        """Return ``desc`` of an InService endpoint (on ``expected_config`` when given); raise otherwise."""
        name, status = desc["EndpointName"], desc["EndpointStatus"]
        if status == "InService":
            if expected_config and desc.get("EndpointConfigName") != expected_config:
                raise EndpointFailedError(name, status, desc.get("FailureReason"), rolled_back=True)
            return dict(desc)
        raise EndpointFailedError(name, status, desc.get("FailureReason"))

    def endpoint_url(self, endpoint_name: str, desc: Mapping[str, Any] | None = None) -> str:
        """Return the URL that answers ``POST`` invocations of the endpoint.

        On AWS: the SageMaker Runtime ``/endpoints/<name>/invocations`` URL of the region; on the local
        backend: the local model server's ``/invocations`` URL (DescribeEndpoint's ``LocalUrl``; ""
        while no server answers).
        """
        from urllib.parse import quote

        from airflow_tf_sm.images import dns_suffix

        if self.backend == "local":
            local = (desc if desc is not None else self.find_endpoint(endpoint_name) or {}).get("LocalUrl")
            return f"{str(local).rstrip('/')}/invocations" if local else ""
        host = f"runtime.sagemaker.{self.region}.{dns_suffix(self.region)}"
        return f"https://{host}/endpoints/{quote(endpoint_name, safe='')}/invocations"

    def endpoint_result(self, endpoint_name: str, desc: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the small JSON value a deploy task pushes to XCom, from fresh descriptions.

        Keys: ``endpoint_name``, ``endpoint_arn``, ``endpoint_config_name``, ``model_name``, ``model_data``,
        ``status``, ``url``, ``region``, ``backend``.
        """
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
            "region": self.region,
            "backend": self.backend,
        }

    def delete_endpoint(
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
        if desc is not None and desc["EndpointStatus"] in ENDPOINT_BUSY_STATUSES:
            self.log.info("Endpoint %s is %s: waiting before deleting it", endpoint_name, desc["EndpointStatus"])
            try:
                desc = self._wait_until_settled(endpoint_name, poll_interval, max_wait)
            except Exception as exc:
                if not is_not_found_error(exc):
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
            self.call(self.clients.sagemaker, method, **kwargs)
        except Exception as exc:
            if is_not_found_error(exc):
                return False
            raise
        return True

    def invoke_endpoint(
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
        runtime = self.clients.runtime
        if runtime is None:
            raise TFSageMakerError(f"The {self.backend} backend offers no endpoint runtime (invoke_endpoint)")
        if isinstance(payload, bytes):
            body = payload
        elif isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = json.dumps(payload).encode("utf-8")
        response = self.call(
            runtime, "invoke_endpoint", EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept
        )
        data = response["Body"].read()
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise TFSageMakerError(
                f"Endpoint {endpoint_name} answered with a body that is not JSON: {data[:200]!r}"
            ) from None

    # --------------------------------------------------------------------- logs
    def log_streams(self, job_name: str) -> list[str]:
        """Return the names of the job's log streams (empty before the job logged anything)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": TRAINING_LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
        while True:
            try:
                page = self.call(self.clients.logs, "describe_log_streams", **kwargs)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return names
                raise
            names.extend(s["logStreamName"] for s in page.get("logStreams", []))
            token = page.get("nextToken")
            if not token:
                return sorted(names)
            kwargs["nextToken"] = token


class TrainingLogReader:
    """Reads a training job's log streams incrementally, remembering its position in each stream.

    Args:
        hook: The hook whose logs client is used.
        job_name: The training job.
    """

    def __init__(self, hook: TFSageMakerHook, job_name: str) -> None:
        self.hook = hook
        self.job_name = job_name
        self.tokens: dict[str, str | None] = {}
        self.recent: list[str] = []

    def _events(self, stream: str) -> Iterator[str]:
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": TRAINING_LOG_GROUP,
                "logStreamName": stream,
                "startFromHead": True,
            }
            token = self.tokens.get(stream)
            if token:
                kwargs["nextToken"] = token
            try:
                page = self.hook.call(self.hook.clients.logs, "get_log_events", **kwargs)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return
                raise
            events = page.get("events", [])
            self.tokens[stream] = page.get("nextForwardToken", token)
            for event in events:
                yield str(event.get("message", "")).rstrip("\n")
            if not events or page.get("nextForwardToken") == token:
                return

    def new_lines(self) -> list[str]:
        """Return the lines logged since the last call, prefixed with the host when there are several."""
        try:
            streams = self.hook.log_streams(self.job_name)
        except Exception as exc:  # logs are a convenience: never fail the wait because of them
            self.hook.log.debug("Cannot list log streams of %s: %s", self.job_name, exc)
            return []
        many = len(streams) > 1
        lines: list[str] = []
        for stream in streams:
            host = stream.split("/", 1)[-1].rsplit("-", 1)[0]
            for message in self._events(stream):
                lines.append(f"[{host}] {message}" if many else message)
        self.recent = (self.recent + lines)[-200:]
        return lines

    def tail(self, count: int) -> list[str]:
        """Return the last ``count`` lines seen (reading what is left first)."""
        self.new_lines()
        return self.recent[-count:]


class _CallableClient:
    """Wraps a function so :meth:`TFSageMakerHook.call` can retry it like a client method."""

    def __init__(self, **methods: Callable[..., Any]) -> None:
        for name, fn in methods.items():
            setattr(self, name, fn)


def redact_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with values of secret-looking keys replaced by ``***`` (for logs and XCom)."""
    return {k: ("***" if looks_secret(k) else v) for k, v in hyperparameters.items()}


def request_summary(request: Mapping[str, Any]) -> str:
    """Return a one-line, secret-free JSON summary of a CreateTrainingJob request for the task log."""
    summary = {
        "TrainingJobName": request.get("TrainingJobName"),
        "TrainingImage": request.get("AlgorithmSpecification", {}).get("TrainingImage"),
        "ResourceConfig": request.get("ResourceConfig"),
        "HyperParameters": redact_hyperparameters(request.get("HyperParameters", {})),
        "Channels": [c.get("ChannelName") for c in request.get("InputDataConfig", [])],
        "OutputPath": request.get("OutputDataConfig", {}).get("S3OutputPath"),
    }
    return json.dumps(summary, sort_keys=True)
