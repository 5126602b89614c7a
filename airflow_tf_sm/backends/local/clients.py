"""boto3-shaped clients of the local backend: SageMaker training jobs, S3 and CloudWatch Logs.

They take the same keyword arguments as boto3's clients, return the same response shapes and raise
``botocore.exceptions.ClientError`` with the real error codes, over the on-disk state of one root
directory shared by every process on the machine.

Example:
    >>> sm, s3, logs, runtime = local_clients("/tmp/airflow_tf_sm-doc")  # doctest: +SKIP
    >>> sm.describe_training_job(TrainingJobName="my-job")["TrainingJobStatus"]  # doctest: +SKIP
    'InProgress'
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any

from airflow_tf_sm.backends.local.endpoints import LocalEndpointsMixin
from airflow_tf_sm.backends.local.engine import (
    ACCOUNT_ID,
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Engine,
    JobExistsError,
    JobNotFoundError,
    add_transition,
    finish_job,
)
from airflow_tf_sm.backends.local.launch import PACKAGE_PARENT, launch_detached
from airflow_tf_sm.backends.local.logstore import LogStore
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore, file_etag

if TYPE_CHECKING:
    from airflow_tf_sm.backends.local.runtime_client import LocalRuntimeClient

FAULTS_ENV = "AIRFLOW_TF_SM_LOCAL_FAULTS"
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
_FAULT_RNGS: dict[str, random.Random] = {}
_FAULT_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _metadata(status: int = 200) -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


def client_error(code: str, message: str, operation: str, status: int = 400) -> Exception:
    """Build the ``botocore.exceptions.ClientError`` boto3 would raise."""
    from botocore.exceptions import ClientError

    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": _metadata(status)}
    return ClientError(response, operation)


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _us(epoch: float) -> int:
    """Whole microseconds of an epoch time: the precision of the datetimes the API returns."""
    return round(epoch * 1_000_000)


def _epoch(value: Any, field: str, operation: str) -> float:
    """Accept what boto3 accepts for a timestamp parameter: datetime, epoch number or ISO text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return _epoch(datetime.fromisoformat(value), field, operation)
        except ValueError:
            pass
    raise client_error("ValidationException", f"{field}: invalid timestamp {value!r}", operation)


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode_token(token: str, operation: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise client_error("ValidationException", "Invalid pagination token", operation) from None
    if not isinstance(data, dict):
        raise client_error("ValidationException", "Invalid pagination token", operation)
    return data


def _maybe_throttle(operation: str) -> None:
    """Raise ThrottlingException for a fraction of calls, per ``AIRFLOW_TF_SM_LOCAL_FAULTS``.

    The variable reads like ``throttle=0.3,seed=1`` and is read at every call.
    """
    spec = os.environ.get(FAULTS_ENV, "").strip()
    if not spec:
        return
    options: dict[str, str] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    try:
        rate = float(options.get("throttle", "0") or 0)
    except ValueError:
        return
    if rate <= 0:
        return
    seed = options.get("seed", "")
    with _FAULT_LOCK:
        rng = _FAULT_RNGS.setdefault(seed, random.Random(seed) if seed else random.Random())
        hit = rng.random() < rate
    if hit:
        raise client_error("ThrottlingException", "Rate exceeded", operation)


# ---------------------------------------------------------------------------------------------
# SageMaker
# ---------------------------------------------------------------------------------------------
class LocalSageMakerClient(LocalEndpointsMixin):
    """The SageMaker training-job API over the local engine (hosting calls: :class:`LocalEndpointsMixin`).

    Args:
        root: The local backend root directory.
        region: Region reported in ARNs and to the training scripts.
        stop_grace: Seconds between SIGTERM and SIGKILL when a job is stopped.
        heartbeat_timeout: Seconds without a runner heartbeat before a job is declared dead.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        region: str = "us-east-1",
        *,
        stop_grace: float = 5.0,
        heartbeat_timeout: float = 30.0,
    ) -> None:
        self.root = Path(root)
        self.region = region
        self.engine = Engine(self.root, heartbeat_timeout=heartbeat_timeout, stop_grace=stop_grace)
        self.meta = SimpleNamespace(region_name=region)

    # -- create --------------------------------------------------------------------------------
    def create_training_job(
        self,
        *,
        TrainingJobName: str,
        RoleArn: str,
        OutputDataConfig: dict[str, Any],
        AlgorithmSpecification: dict[str, Any] | None = None,
        ResourceConfig: dict[str, Any] | None = None,
        StoppingCondition: dict[str, Any] | None = None,
        HyperParameters: dict[str, str] | None = None,
        InputDataConfig: list[dict[str, Any]] | None = None,
        VpcConfig: dict[str, Any] | None = None,
        Tags: list[dict[str, str]] | None = None,
        EnableNetworkIsolation: bool | None = None,
        EnableInterContainerTrafficEncryption: bool | None = None,
        EnableManagedSpotTraining: bool | None = None,
        CheckpointConfig: dict[str, Any] | None = None,
        DebugHookConfig: dict[str, Any] | None = None,
        DebugRuleConfigurations: list[dict[str, Any]] | None = None,
        TensorBoardOutputConfig: dict[str, Any] | None = None,
        ExperimentConfig: dict[str, Any] | None = None,
        ProfilerConfig: dict[str, Any] | None = None,
        ProfilerRuleConfigurations: list[dict[str, Any]] | None = None,
        Environment: dict[str, str] | None = None,
        RetryStrategy: dict[str, Any] | None = None,
        RemoteDebugConfig: dict[str, Any] | None = None,
        InfraCheckConfig: dict[str, Any] | None = None,
        SessionChainingConfig: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a training job and start its runner; return ``{"TrainingJobArn": ...}``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request,
                ``ResourceInUse`` when the name was ever used, ``ThrottlingException`` (fault knob).
        """
        op = "CreateTrainingJob"
        _maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate(request)
        try:
            state = self.engine.create(TrainingJobName, request, self.region)
        except JobExistsError:
            arn = self.engine.load(TrainingJobName)["arn"]
            raise client_error(
                "ResourceInUse",
                "Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({arn})",
                op,
            ) from None
        self._launch(TrainingJobName)
        return {"TrainingJobArn": state["arn"], "ResponseMetadata": _metadata()}

    def _validate(self, request: dict[str, Any]) -> None:
        from airflow_tf_sm.exceptions import ConfigValidationError

        op = "CreateTrainingJob"
        name = request["TrainingJobName"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise client_error(
                "ValidationException",
                f"1 validation error detected: Value '{name}' at 'trainingJobName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                op,
            )
        from airflow_tf_sm.validation import validate_request

        try:
            validate_request(request, operation=op)
        except ConfigValidationError as exc:
            raise client_error("ValidationException", str(exc), op) from None
        if "AlgorithmSpecification" not in request or "ResourceConfig" not in request:
            raise client_error("ValidationException", "AlgorithmSpecification and ResourceConfig are required", op)
        output = request["OutputDataConfig"].get("S3OutputPath", "")
        if not str(output).startswith("s3://"):
            raise client_error("ValidationException", f"OutputDataConfig.S3OutputPath: {output!r} is not s3://", op)

    def _launch(self, name: str) -> None:
        """Start the detached runner; mark the job Failed if it cannot start."""
        job_dir = self.engine.job_dir(name)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        cmd = [
            sys.executable,
            "-m",
            "airflow_tf_sm.backends.local.runner",
            "--root",
            str(self.root),
            "--job",
            name,
            "--detach",
        ]
        log_path = job_dir / "runner.log"
        code = launch_detached(cmd, log_path, env, self.root)
        if code != 0:
            tail = log_path.read_text(errors="replace")[-800:]

            def fail(state: dict[str, Any]) -> None:
                if state["status"] in ACTIVE_STATUSES:
                    import time

                    finish_job(state, "Failed", "Failed", time.time(), f"local runner failed to start: {tail}")

            self.engine.update(name, fail)

    # -- read ----------------------------------------------------------------------------------
    def _state(self, name: str, op: str) -> dict[str, Any]:
        try:
            return self.engine.refresh(name)
        except JobNotFoundError:
            raise client_error("ValidationException", "Requested resource not found.", op) from None

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        """Return the DescribeTrainingJob response (datetimes are timezone-aware, like boto3's).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` "Requested resource not found."
        """
        op = "DescribeTrainingJob"
        _maybe_throttle(op)
        state = self._state(TrainingJobName, op)
        request = state["request"]
        resp: dict[str, Any] = {
            "TrainingJobName": state["name"],
            "TrainingJobArn": state["arn"],
            "TrainingJobStatus": state["status"],
            "SecondaryStatus": state["secondary_status"],
        }
        if state.get("model_artifacts"):
            resp["ModelArtifacts"] = {"S3ModelArtifacts": state["model_artifacts"]}
        if state.get("failure_reason"):
            resp["FailureReason"] = state["failure_reason"]
        for key in (
            "HyperParameters",
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "VpcConfig",
            "StoppingCondition",
            "CheckpointConfig",
            "DebugHookConfig",
            "ExperimentConfig",
            "DebugRuleConfigurations",
            "TensorBoardOutputConfig",
            "ProfilerConfig",
            "ProfilerRuleConfigurations",
            "Environment",
            "RetryStrategy",
            "RemoteDebugConfig",
            "InfraCheckConfig",
        ):
            if key in request:
                resp[key] = request[key]
        for key in (
            "EnableNetworkIsolation",
            "EnableInterContainerTrafficEncryption",
            "EnableManagedSpotTraining",
        ):
            resp[key] = bool(request.get(key, False))
        resp["CreationTime"] = _dt(state["creation_time"])
        for key, field in (
            ("TrainingStartTime", "training_start_time"),
            ("TrainingEndTime", "training_end_time"),
        ):
            if state.get(field) is not None:
                resp[key] = _dt(state[field])
        resp["LastModifiedTime"] = _dt(state["last_modified_time"])
        transitions = []
        for item in state.get("transitions", []):
            entry = {"Status": item["Status"], "StartTime": _dt(item["StartTime"])}
            if item.get("EndTime") is not None:
                entry["EndTime"] = _dt(item["EndTime"])
            entry["StatusMessage"] = item.get("StatusMessage", "")
            transitions.append(entry)
        resp["SecondaryStatusTransitions"] = transitions
        if state.get("metrics"):
            resp["FinalMetricDataList"] = [
                {"MetricName": m["MetricName"], "Value": m["Value"], "Timestamp": _dt(m["Timestamp"])}
                for m in state["metrics"]
            ]
        if state.get("training_time_seconds") is not None:
            resp["TrainingTimeInSeconds"] = state["training_time_seconds"]
            resp["BillableTimeInSeconds"] = state["billable_time_seconds"]
        resp["ResponseMetadata"] = _metadata()
        return resp

    def list_training_jobs(
        self,
        *,
        NextToken: str | None = None,
        MaxResults: int = 100,
        CreationTimeAfter: Any = None,
        CreationTimeBefore: Any = None,
        LastModifiedTimeAfter: Any = None,
        LastModifiedTimeBefore: Any = None,
        NameContains: str | None = None,
        StatusEquals: str | None = None,
        SortBy: str = "CreationTime",
        SortOrder: str = "Descending",
    ) -> dict[str, Any]:
        """Return ``{"TrainingJobSummaries": [...], "NextToken"?}``, filtered and paged like SageMaker."""
        op = "ListTrainingJobs"
        _maybe_throttle(op)
        if SortBy not in ("Name", "CreationTime", "Status"):
            raise client_error("ValidationException", f"Invalid SortBy: {SortBy}", op)
        if SortOrder not in ("Ascending", "Descending"):
            raise client_error("ValidationException", f"Invalid SortOrder: {SortOrder}", op)
        if StatusEquals is not None and StatusEquals not in _STATUSES:
            raise client_error("ValidationException", f"Invalid StatusEquals: {StatusEquals}", op)
        if not 1 <= int(MaxResults) <= 100:
            raise client_error("ValidationException", "MaxResults must be between 1 and 100", op)
        bounds = {
            "ca": None if CreationTimeAfter is None else _us(_epoch(CreationTimeAfter, "CreationTimeAfter", op)),
            "cb": None if CreationTimeBefore is None else _us(_epoch(CreationTimeBefore, "CreationTimeBefore", op)),
            "la": None
            if LastModifiedTimeAfter is None
            else _us(_epoch(LastModifiedTimeAfter, "LastModifiedTimeAfter", op)),
            "lb": None
            if LastModifiedTimeBefore is None
            else _us(_epoch(LastModifiedTimeBefore, "LastModifiedTimeBefore", op)),
        }
        states = []
        for name in self.engine.names():
            try:
                state = self.engine.refresh(name)
            except JobNotFoundError:
                continue
            if NameContains and NameContains.lower() not in name.lower():
                continue
            if StatusEquals and state["status"] != StatusEquals:
                continue
            # compare at the microsecond precision of the datetimes the API hands out
            created, modified = _us(state["creation_time"]), _us(state["last_modified_time"])
            if bounds["ca"] is not None and not created > bounds["ca"]:
                continue
            if bounds["cb"] is not None and not created < bounds["cb"]:
                continue
            if bounds["la"] is not None and not modified > bounds["la"]:
                continue
            if bounds["lb"] is not None and not modified < bounds["lb"]:
                continue
            states.append(state)
        sort_key: dict[str, Any] = {
            "Name": lambda s: s["name"],
            "CreationTime": lambda s: (s["creation_time"], s["name"]),
            "Status": lambda s: (s["status"], s["name"]),
        }
        states.sort(key=sort_key[SortBy], reverse=SortOrder == "Descending")
        offset = int(_decode_token(NextToken, op).get("offset", 0)) if NextToken else 0
        page = states[offset : offset + int(MaxResults)]
        summaries = []
        for state in page:
            summary: dict[str, Any] = {
                "TrainingJobName": state["name"],
                "TrainingJobArn": state["arn"],
                "CreationTime": _dt(state["creation_time"]),
            }
            if state.get("training_end_time") is not None:
                summary["TrainingEndTime"] = _dt(state["training_end_time"])
            summary["LastModifiedTime"] = _dt(state["last_modified_time"])
            summary["TrainingJobStatus"] = state["status"]
            summary["SecondaryStatus"] = state["secondary_status"]
            summaries.append(summary)
        resp: dict[str, Any] = {"TrainingJobSummaries": summaries}
        if offset + int(MaxResults) < len(states):
            resp["NextToken"] = _encode_token({"offset": offset + int(MaxResults)})
        resp["ResponseMetadata"] = _metadata()
        return resp

    # -- stop ----------------------------------------------------------------------------------
    def stop_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        """Ask a running job to stop: it goes Stopping, its runner SIGTERMs the script, then Stopped.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for an unknown or finished job.
        """
        op = "StopTrainingJob"
        _maybe_throttle(op)
        self._state(TrainingJobName, op)
        problem: str | None = None

        def mutate(state: dict[str, Any]) -> None:
            nonlocal problem
            if state["status"] in TERMINAL_STATUSES:
                problem = f"The request was rejected because the training job is in status {state['status']}."
                return
            if state["status"] == "InProgress":
                import time

                state["status"] = "Stopping"
                add_transition(state, "Stopping", time.time())

        self.engine.update(TrainingJobName, mutate)
        if problem:
            raise client_error("ValidationException", problem, op)
        return {"ResponseMetadata": _metadata()}

    # -- tags ----------------------------------------------------------------------------------
    def _name_from_arn(self, arn: str, op: str) -> str:
        prefix = f"arn:aws:sagemaker:{self.region}:"
        _, _, resource = arn.partition(":training-job/")
        if not arn.startswith(prefix) or not resource:
            raise client_error("ValidationException", f"Invalid resource ARN: {arn}", op)
        if self.engine.exists(resource):
            return resource
        for name in self.engine.names():
            if name.lower() == resource.lower():
                return name
        raise client_error("ValidationException", f"Resource {arn} not found.", op)

    def list_tags(self, *, ResourceArn: str, NextToken: str | None = None, MaxResults: int = 50) -> dict[str, Any]:
        """Return the tags of a training job, model, endpoint config or endpoint: ``{"Tags": [...]}``."""
        op = "ListTags"
        if self.is_hosting_arn(ResourceArn):
            tags = self._hosting_tags(ResourceArn, op)
        else:
            tags = list(self.engine.load(self._name_from_arn(ResourceArn, op)).get("tags", []))
        offset = int(_decode_token(NextToken, op).get("offset", 0)) if NextToken else 0
        resp: dict[str, Any] = {"Tags": tags[offset : offset + MaxResults]}
        if offset + MaxResults < len(tags):
            resp["NextToken"] = _encode_token({"offset": offset + MaxResults})
        resp["ResponseMetadata"] = _metadata()
        return resp

    def add_tags(self, *, ResourceArn: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        """Add or overwrite tags of a training job, model, endpoint config or endpoint; return ``{"Tags": Tags}``."""
        op = "AddTags"
        if self.is_hosting_arn(ResourceArn):
            self._hosting_add_tags(ResourceArn, Tags, op)
            return {"Tags": list(Tags), "ResponseMetadata": _metadata()}
        name = self._name_from_arn(ResourceArn, op)

        def mutate(state: dict[str, Any]) -> None:
            merged = {t["Key"]: t["Value"] for t in state.get("tags", [])}
            merged.update({t["Key"]: t["Value"] for t in Tags})
            state["tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]

        self.engine.update(name, mutate)
        return {"Tags": list(Tags), "ResponseMetadata": _metadata()}


# ---------------------------------------------------------------------------------------------
# S3
# ---------------------------------------------------------------------------------------------
class LocalStreamingBody:
    """The ``Body`` of a ``get_object`` response: a readable stream like botocore's StreamingBody."""

    def __init__(self, fh: IO[bytes], length: int) -> None:
        self._fh = fh
        self.content_length = length

    def read(self, amt: int | None = None) -> bytes:
        """Read ``amt`` bytes, or everything left when ``amt`` is None."""
        data = self._fh.read() if amt is None else self._fh.read(amt)
        if amt is None or not data:
            self._fh.close()
        return data

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        """Yield the content in chunks."""
        while chunk := self.read(chunk_size):
            yield chunk

    def iter_lines(self, chunk_size: int = 1024, keepends: bool = False) -> Iterator[bytes]:
        """Yield the content line by line."""
        yield from self.read().splitlines(keepends)

    def readable(self) -> bool:
        """Return True (file-like protocol)."""
        return True

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()

    def __enter__(self) -> LocalStreamingBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalS3Client:
    """The S3 object API over the local object store (buckets appear on first write).

    Args:
        root: The local backend root directory.
        region: Region reported by ``meta.region_name``.
    """

    def __init__(self, root: str | os.PathLike[str], region: str = "us-east-1") -> None:
        self.store = LocalObjectStore(root)
        self.meta = SimpleNamespace(region_name=region)

    def _path(self, bucket: str, key: str, op: str) -> Path:
        try:
            return self.store.object_path(bucket, key)
        except InvalidKeyError as exc:
            raise client_error("InvalidArgument", str(exc), op) from None

    def _existing(self, bucket: str, key: str, op: str, *, head: bool = False) -> Path:
        path = self._path(bucket, key, op)
        if path.is_file():
            return path
        if head:
            raise client_error("404", "Not Found", op, 404)
        if not self.store.bucket_path(bucket).is_dir():
            raise client_error("NoSuchBucket", "The specified bucket does not exist", op, 404)
        raise client_error("NoSuchKey", "The specified key does not exist.", op, 404)

    def create_bucket(self, *, Bucket: str, **_ignored: Any) -> dict[str, Any]:
        """Create a bucket (a directory); succeeds if it exists, like us-east-1."""
        try:
            self.store.bucket_path(Bucket).mkdir(parents=True, exist_ok=True)
        except InvalidKeyError as exc:
            raise client_error("InvalidBucketName", str(exc), "CreateBucket") from None
        return {"Location": f"/{Bucket}", "ResponseMetadata": _metadata()}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes | str | IO[bytes] = b"",
        ContentType: str | None = None,
        Metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store an object from bytes, text or a binary file-like object; return its ETag."""
        op = "PutObject"
        self._path(Bucket, Key, op)
        if isinstance(Body, str):
            Body = Body.encode("utf-8")
        path = (
            self.store.put_bytes(Bucket, Key, Body)
            if isinstance(Body, bytes | bytearray)
            else (self.store.put_stream(Bucket, Key, Body))
        )
        return {"ETag": file_etag(path), "ResponseMetadata": _metadata()}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Return ``{"Body", "ContentLength", "ETag", "LastModified", ...}``; NoSuchKey when missing."""
        path = self._existing(Bucket, Key, "GetObject")
        fh = open(path, "rb")
        st = os.fstat(fh.fileno())
        return {
            "Body": LocalStreamingBody(fh, st.st_size),
            "ContentLength": st.st_size,
            "ETag": file_etag(path),
            "LastModified": _dt(st.st_mtime),
            "ContentType": "binary/octet-stream",
            "ResponseMetadata": _metadata(),
        }

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Return the object's metadata; ClientError code ``404`` (HTTP 404) when missing, like boto3."""
        path = self._existing(Bucket, Key, "HeadObject", head=True)
        st = path.stat()
        return {
            "ContentLength": st.st_size,
            "ETag": file_etag(path),
            "LastModified": _dt(st.st_mtime),
            "ContentType": "binary/octet-stream",
            "ResponseMetadata": _metadata(),
        }

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Delete an object (no error when missing, like S3)."""
        self._path(Bucket, Key, "DeleteObject")
        self.store.delete(Bucket, Key)
        return {"ResponseMetadata": _metadata(204)}

    def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        ContinuationToken: str | None = None,
        MaxKeys: int = 1000,
        StartAfter: str | None = None,
        Delimiter: str | None = None,
    ) -> dict[str, Any]:
        """List objects by key order with S3's paging fields (``Contents`` is absent when empty)."""
        op = "ListObjectsV2"
        try:
            bucket_dir = self.store.bucket_path(Bucket)
        except InvalidKeyError as exc:
            raise client_error("InvalidBucketName", str(exc), op) from None
        if not bucket_dir.is_dir():
            raise client_error("NoSuchBucket", "The specified bucket does not exist", op, 404)
        after = StartAfter or ""
        if ContinuationToken:
            after = str(_decode_token(ContinuationToken, op).get("after", ""))
        contents: list[dict[str, Any]] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        for info in self.store.iter_objects(Bucket, Prefix):
            if info.key.encode() <= after.encode():
                continue
            entry_prefix = None
            if Delimiter:
                rest = info.key[len(Prefix) :]
                if Delimiter in rest:
                    entry_prefix = Prefix + rest.split(Delimiter, 1)[0] + Delimiter
                    if prefixes and prefixes[-1] == entry_prefix:
                        last = info.key
                        continue
            if len(contents) + len(prefixes) >= MaxKeys:
                truncated = True
                break
            if entry_prefix is not None:
                prefixes.append(entry_prefix)
            else:
                contents.append(
                    {
                        "Key": info.key,
                        "LastModified": _dt(info.mtime),
                        "ETag": file_etag(info.path),
                        "Size": info.size,
                        "StorageClass": "STANDARD",
                    }
                )
            last = info.key
        resp: dict[str, Any] = {
            "IsTruncated": truncated,
            "Name": Bucket,
            "Prefix": Prefix,
            "MaxKeys": MaxKeys,
        }
        if contents:
            resp["Contents"] = contents
        if prefixes:
            resp["CommonPrefixes"] = [{"Prefix": p} for p in prefixes]
            resp["Delimiter"] = Delimiter
        resp["KeyCount"] = len(contents) + len(prefixes)
        if ContinuationToken:
            resp["ContinuationToken"] = ContinuationToken
        if truncated:
            resp["NextContinuationToken"] = _encode_token({"after": last})
        resp["ResponseMetadata"] = _metadata()
        return resp

    def upload_file(
        self,
        Filename: str,
        Bucket: str,
        Key: str,
        ExtraArgs: Any = None,
        Callback: Any = None,
        Config: Any = None,
    ) -> None:
        """Copy a local file into the store (atomic)."""
        self._path(Bucket, Key, "PutObject")
        self.store.put_file(Bucket, Key, Filename)

    def download_file(
        self,
        Bucket: str,
        Key: str,
        Filename: str,
        ExtraArgs: Any = None,
        Callback: Any = None,
        Config: Any = None,
    ) -> None:
        """Copy an object to a local file (atomic); ClientError ``404`` when missing, like boto3."""
        source = self._existing(Bucket, Key, "HeadObject", head=True)
        target = Path(Filename)
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# ---------------------------------------------------------------------------------------------
# CloudWatch Logs
# ---------------------------------------------------------------------------------------------
class LocalLogsClient:
    """The CloudWatch Logs read API over the local log streams.

    Args:
        root: The local backend root directory.
        region: Region reported by ``meta.region_name``.
    """

    def __init__(self, root: str | os.PathLike[str], region: str = "us-east-1") -> None:
        self.logs = LogStore(root)
        self.region = region
        self.meta = SimpleNamespace(region_name=region)

    def describe_log_streams(
        self,
        *,
        logGroupName: str,
        logStreamNamePrefix: str | None = None,
        orderBy: str = "LogStreamName",
        descending: bool = False,
        nextToken: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Return ``{"logStreams": [...], "nextToken"?}``; ResourceNotFoundException for an unknown group."""
        op = "DescribeLogStreams"
        if orderBy not in ("LogStreamName", "LastEventTime"):
            raise client_error("InvalidParameterException", f"Invalid orderBy: {orderBy}", op)
        if orderBy == "LastEventTime" and logStreamNamePrefix:
            raise client_error(
                "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.", op
            )
        try:
            streams = self.logs.streams(logGroupName)
        except FileNotFoundError:
            raise client_error("ResourceNotFoundException", "The specified log group does not exist.", op) from None
        if logStreamNamePrefix:
            streams = [s for s in streams if s.name.startswith(logStreamNamePrefix)]
        if orderBy == "LogStreamName":
            streams.sort(key=lambda s: s.name, reverse=descending)
        else:
            streams.sort(key=lambda s: (s.last_event_ms or 0, s.name), reverse=descending)
        offset = int(_decode_token(nextToken, op).get("offset", 0)) if nextToken else 0
        page = streams[offset : offset + limit]
        group_arn = f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{logGroupName}"
        out = []
        for s in page:
            item: dict[str, Any] = {
                "logStreamName": s.name,
                "creationTime": s.creation_ms,
                "arn": f"{group_arn}:log-stream:{s.name}",
                "storedBytes": s.stored_bytes,
            }
            if s.first_event_ms is not None:
                item["firstEventTimestamp"] = s.first_event_ms
                item["lastEventTimestamp"] = s.last_event_ms
                item["lastIngestionTime"] = s.last_event_ms
            out.append(item)
        resp: dict[str, Any] = {"logStreams": out}
        if offset + limit < len(streams):
            resp["nextToken"] = _encode_token({"offset": offset + limit})
        resp["ResponseMetadata"] = _metadata()
        return resp

    def get_log_events(
        self,
        *,
        logStreamName: str,
        logGroupName: str | None = None,
        startFromHead: bool = False,
        nextToken: str | None = None,
        limit: int = 10000,
        startTime: int | None = None,
        endTime: int | None = None,
    ) -> dict[str, Any]:
        """Return ``{"events", "nextForwardToken", "nextBackwardToken"}`` like CloudWatch Logs.

        Without a token the read starts at the head (``startFromHead=True``) or returns the newest events
        (the service default). A forward token continues after the caller's position and comes back
        unchanged when there is nothing new.
        """
        op = "GetLogEvents"
        if logGroupName is None:
            raise client_error("InvalidParameterException", "logGroupName is required", op)
        try:
            self.logs.streams(logGroupName)
        except FileNotFoundError:
            raise client_error("ResourceNotFoundException", "The specified log group does not exist.", op) from None
        path = self.logs.stream_path(logGroupName, logStreamName)
        if not path.is_file():
            raise client_error("ResourceNotFoundException", "The specified log stream does not exist.", op)
        limit = max(1, min(int(limit), 10000))
        if nextToken:
            direction, _, number = nextToken.partition("/")
            if direction not in ("f", "b") or not number.isdigit():
                raise client_error("InvalidParameterException", "The specified nextToken is invalid.", op)
            offset = int(number)
            if direction == "f":
                events, end = self.logs.read_events(path, offset, limit)
                start = offset
            else:
                events, start = self.logs.read_events_before(path, offset, limit)
                end = offset
        elif startFromHead:
            events, end = self.logs.read_events(path, 0, limit)
            start = 0
        else:
            size = path.stat().st_size
            events, start = self.logs.read_events_before(path, size, limit)
            end = self._line_end(path, start, len(events))
        if startTime is not None:
            events = [e for e in events if e["timestamp"] >= startTime]
        if endTime is not None:
            events = [e for e in events if e["timestamp"] < endTime]
        return {
            "events": events,
            "nextForwardToken": f"f/{end:020d}",
            "nextBackwardToken": f"b/{start:020d}",
            "ResponseMetadata": _metadata(),
        }

    @staticmethod
    def _line_end(path: Path, start: int, count: int) -> int:
        """Return the byte offset after ``count`` whole lines that start at ``start``."""
        return LogStore.read_events(path, start, count)[1] if count else start


def local_clients(
    root: str | os.PathLike[str],
    region: str = "us-east-1",
    *,
    stop_grace: float = 5.0,
    heartbeat_timeout: float = 30.0,
) -> tuple[LocalSageMakerClient, LocalS3Client, LocalLogsClient, LocalRuntimeClient]:
    """Return the local backend's (sagemaker, s3, logs, runtime) clients over one root directory.

    Args:
        root: State root shared by every process (created if missing).
        region: Region used in ARNs and given to the training scripts.
        stop_grace: Seconds between SIGTERM and SIGKILL when a job is stopped.
        heartbeat_timeout: Seconds without a runner heartbeat before a job is declared dead.
    """
    from airflow_tf_sm.backends.local.runtime_client import LocalRuntimeClient

    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return (
        LocalSageMakerClient(path, region, stop_grace=stop_grace, heartbeat_timeout=heartbeat_timeout),
        LocalS3Client(path, region),
        LocalLogsClient(path, region),
        LocalRuntimeClient(path, region),
    )
