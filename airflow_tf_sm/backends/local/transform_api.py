"""The SageMaker batch transform API of the local backend: create, describe, list and stop transform jobs.

:class:`TransformAPI` gives ``LocalSageMakerClient`` ``create_transform_job``, ``describe_transform_job``,
``list_transform_jobs`` and ``stop_transform_job`` with boto3's keyword arguments, response shapes and
``ClientError`` codes. Each job is run by a detached batch worker (``batch.py``) that loads the job's model
once, with the local model server's TF Serving handling, and scores every input object.

What the local engine does not do is refused at create time with a ``ValidationException`` that says so:
SplitType ``RecordIO``/``TFRecord``, input content types other than CSV, JSON and JSON Lines, Accept types
it cannot render, and data sources other than ``S3Prefix`` and ``ManifestFile``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.hosting import MODEL, HostingStore, resource_arn
from airflow_tf_sm.backends.local.processes import helper_env, launch_detached
from airflow_tf_sm.backends.local.state import RecordExistsError
from airflow_tf_sm.backends.local.transforms import TransformJobNotFoundError, TransformStore, finish
from airflow_tf_sm.backends.local.wire import (
    client_error,
    list_call,
    maybe_throttle,
    metadata,
    to_datetime,
)
from airflow_tf_sm.sagemaker import service_model
from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES
from airflow_tf_sm.sagemaker.service_model import request_errors
from airflow_tf_sm.sagemaker.transform import CSV, JSON, JSON_LINES, RECORD_SPLIT_TYPES, media_type

#: What the local engine reads and writes (the TF Serving container's JSON, JSON Lines and CSV).
LOCAL_CONTENT_TYPES = (CSV, JSON, JSON_LINES)
LOCAL_DATA_TYPES = ("S3Prefix", "ManifestFile")
LOCAL_SPLIT_TYPES = ("None", "Line")
_DESCRIBED = (
    "ModelName",
    "MaxConcurrentTransforms",
    "ModelClientConfig",
    "MaxPayloadInMB",
    "BatchStrategy",
    "Environment",
    "TransformInput",
    "TransformOutput",
    "DataCaptureConfig",
    "TransformResources",
)


class TransformAPI:
    """The SageMaker transform-job calls over the local transform store (mixed into ``LocalSageMakerClient``).

    The class using it provides ``root``, ``region`` and ``engine`` (its heartbeat timeout and stop grace
    apply to batch workers too).
    """

    root: Path
    region: str
    engine: Engine

    @property
    def transforms(self) -> TransformStore:
        """The transform job records under this client's root."""
        return TransformStore(
            self.root, heartbeat_timeout=self.engine.heartbeat_timeout, stop_grace=self.engine.stop_grace
        )

    # -- create --------------------------------------------------------------------------------
    def create_transform_job(self, **request: Any) -> dict[str, Any]:
        """Create a transform job and start its batch worker; return ``{"TransformJobArn": ...}``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request, an unknown model or
                what the local engine cannot do; ``ResourceInUse`` when the name was ever used.
        """
        op = "CreateTransformJob"
        maybe_throttle(op)
        problems = request_errors(request, op)
        if problems:
            text = "; ".join(str(problem) for problem in problems)
            raise client_error("ValidationException", f"{len(problems)} validation error(s) detected: {text}", op)
        name = request["TransformJobName"]
        model = self._transform_model(request["ModelName"], op)
        self._check_local(request, op)
        try:
            state = self.transforms.create(name, request, self.region)
        except RecordExistsError:
            arn = self.transforms.load(name)["arn"]
            raise client_error(
                "ResourceInUse",
                "Transform job names must be unique within an AWS account and region, and a transform job "
                f"with this name already exists ({arn})",
                op,
            ) from None
        self._launch_worker(name, model)
        return {"TransformJobArn": state["arn"], "ResponseMetadata": metadata()}

    def _transform_model(self, model_name: str, op: str) -> dict[str, Any]:
        record = HostingStore(self.root).load_record(MODEL, model_name)
        if record is None:
            arn = resource_arn(self.region, MODEL, model_name)
            raise client_error("ValidationException", f'Could not find model "{arn}".', op)
        return record

    @staticmethod
    def _check_local(request: dict[str, Any], op: str) -> None:
        """Refuse, with a clear message, what SageMaker accepts but the local engine cannot do."""
        transform_input = request["TransformInput"]
        source = transform_input["DataSource"]["S3DataSource"]
        split = transform_input.get("SplitType", "None")
        problems = []
        if split in RECORD_SPLIT_TYPES and split not in LOCAL_SPLIT_TYPES:
            problems.append(
                f"SplitType {split} is not supported by the local backend (it splits objects with None or Line); "
                "use SplitType Line with CSV or JSON Lines input locally, or run the job on SageMaker"
            )
        if source["S3DataType"] not in LOCAL_DATA_TYPES:
            problems.append(
                f"S3DataType {source['S3DataType']} is not supported by the local backend (S3Prefix, ManifestFile)"
            )
        content_type = media_type(transform_input.get("ContentType")) or JSON
        if content_type not in LOCAL_CONTENT_TYPES:
            problems.append(
                f"ContentType {transform_input.get('ContentType')} is not read by the local engine (TF Serving's "
                f"{', '.join(LOCAL_CONTENT_TYPES)})"
            )
        accept = media_type(request.get("TransformOutput", {}).get("Accept")) or JSON
        if accept not in LOCAL_CONTENT_TYPES:
            problems.append(f"Accept {accept} is not rendered by the local engine ({', '.join(LOCAL_CONTENT_TYPES)})")
        if request.get("BatchStrategy") == "MultiRecord" and split not in RECORD_SPLIT_TYPES:
            problems.append("BatchStrategy MultiRecord needs a SplitType that cuts objects into records (Line)")
        if problems:
            raise client_error("ValidationException", "; ".join(problems), op)

    def _launch_worker(self, name: str, model: dict[str, Any]) -> None:
        """Start the detached batch worker; mark the job Failed if it cannot start."""
        store = self.transforms
        job_dir = store.job_dir(name)
        request = store.load(name)["request"]
        environment = {
            **((model.get("request") or {}).get("PrimaryContainer") or {}).get("Environment", {}),
            **(request.get("Environment") or {}),
        }
        env = helper_env({str(k): str(v) for k, v in environment.items()})
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        log_path = job_dir / "worker.log"
        args = ["--root", str(self.root), "--job", name]
        code = launch_detached("airflow_tf_sm.backends.local.batch", args, log_path, env, job_dir)
        if code != 0:
            tail = log_path.read_text(errors="replace")[-800:]
            store.update(
                name, lambda s: finish(s, "Failed", f"InternalServerError: local batch worker failed to start: {tail}")
            )

    # -- read ----------------------------------------------------------------------------------
    def _transform_state(self, name: str, op: str) -> dict[str, Any]:
        try:
            return self.transforms.refresh(name)
        except TransformJobNotFoundError:
            raise client_error("ValidationException", "Could not find requested job with name " + name, op) from None

    def describe_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:
        """Return the DescribeTransformJob response (datetimes are timezone-aware, like boto3's).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` "Could not find requested job with name ..."
        """
        op = "DescribeTransformJob"
        maybe_throttle(op)
        state = self._transform_state(TransformJobName, op)
        request = state["request"]
        resp: dict[str, Any] = {
            "TransformJobName": state["name"],
            "TransformJobArn": state["arn"],
            "TransformJobStatus": state["status"],
        }
        if state.get("failure_reason"):
            resp["FailureReason"] = state["failure_reason"]
        for key in _DESCRIBED:
            if key in request:
                resp[key] = request[key]
        if "DataProcessing" in request:
            resp["DataProcessing"] = request["DataProcessing"]
        resp["CreationTime"] = to_datetime(state["creation_time"])
        for key, field in (("TransformStartTime", "start_time"), ("TransformEndTime", "end_time")):
            if state.get(field) is not None:
                resp[key] = to_datetime(state[field])
        resp["ResponseMetadata"] = metadata()
        return resp

    def list_transform_jobs(self, **params: Any) -> dict[str, Any]:
        """ListTransformJobs: ``{"TransformJobSummaries": [...], "NextToken"?}``, filtered and paged like SageMaker."""
        records = self.transforms.records()
        return list_call(
            "ListTransformJobs",
            params,
            records,
            key="TransformJobSummaries",
            summary=_transform_summary,
            model=service_model,
        )

    # -- stop ----------------------------------------------------------------------------------
    def stop_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:
        """Ask a running job to stop: Stopping, then Stopped once the requests in flight end (at once while it loads).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for an unknown or finished job.
        """
        op = "StopTransformJob"
        maybe_throttle(op)
        self._transform_state(TransformJobName, op)

        def mutate(state: dict[str, Any]) -> str | None:
            if state["status"] in JOB_TERMINAL_STATUSES:
                return f"The request was rejected because the transform job is in status {state['status']}."
            if state["status"] == "InProgress":
                state["status"] = "Stopping"
                state["last_modified_time"] = time.time()
            return None

        _, problem = self.transforms.update(TransformJobName, mutate)
        if problem:
            raise client_error("ValidationException", problem, op)
        return {"ResponseMetadata": metadata()}


def _transform_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """One ``TransformJobSummaries`` entry of a job record."""
    summary: dict[str, Any] = {
        "TransformJobName": state["name"],
        "TransformJobArn": state["arn"],
        "CreationTime": to_datetime(state["creation_time"]),
    }
    if state.get("end_time") is not None:
        summary["TransformEndTime"] = to_datetime(state["end_time"])
    summary["LastModifiedTime"] = to_datetime(state["last_modified_time"])
    summary["TransformJobStatus"] = state["status"]
    if state.get("failure_reason"):
        summary["FailureReason"] = state["failure_reason"]
    return summary
