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
from airflow_tf_sm.exceptions import TrainingJobFailedError, TrainingJobTimeoutError

if TYPE_CHECKING:
    from airflow_tf_sm.packaging import StagedCode
    from airflow_tf_sm.spec import TrainingJobSpec

#: CloudWatch log group of SageMaker training jobs (the local backend uses the same name).
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
#: Role ARN the local backend uses when none is given (it assumes nothing with it).
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/airflow-tf-sm-local"
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})

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
    def package_code(spec: TrainingJobSpec) -> tuple[StagedCode, str]:
        """Build the deterministic ``sourcedir.tar.gz`` on this machine (no network) and its content-addressed URI.

        Same files give the same bytes, so unchanged code gives the same digest and the same key.
        """
        from airflow_tf_sm.packaging import build_sourcedir, code_key

        staged = build_sourcedir(spec.source_dir, spec.entry_point)
        return staged, code_key(spec.code_prefix(), staged.digest)

    def upload_code(self, staged: StagedCode, uri: str) -> int:
        """Upload ``staged`` to ``uri`` unless the object already exists; return the bytes uploaded."""
        from airflow_tf_sm.validation import parse_s3_uri

        if self.object_exists(uri):
            self.log.info("Code unchanged (sha256 %s): reusing %s, 0 bytes uploaded", staged.digest[:12], uri)
            return 0
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
