"""The SageMaker training-job API of the local backend: create, describe, list and stop jobs on this machine.

Each job is run by a detached runner process (``runner.py``) under the container contract; its state lives
in the local engine (``engine.py``), shared by every process on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    CorruptRecordError,
    Engine,
    JobExistsError,
    JobNotFoundError,
    add_transition,
    finish_job,
)
from airflow_tf_sm.backends.local.processes import helper_env, launch_detached
from airflow_tf_sm.backends.local.wire import (
    client_error,
    corrupt_record_error,
    list_call,
    maybe_throttle,
    metadata,
    to_datetime,
)
from airflow_tf_sm.sagemaker import service_model
from airflow_tf_sm.sagemaker.service_model import request_errors


class TrainingAPI:
    """The SageMaker training-job calls over the local engine (mixed into ``LocalSageMakerClient``).

    The class using it provides ``root``, ``region`` and ``engine``.
    """

    root: Path
    region: str
    engine: Engine

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
        maybe_throttle(op)
        request = {k: v for k, v in locals().items() if k not in ("self", "op") and v is not None}
        self._validate(request)
        try:
            state = self.engine.create(TrainingJobName, request, self.region)
        except JobExistsError:
            raise self._name_in_use(TrainingJobName, op) from None
        except OSError as exc:  # a full disk: nothing was created, the name stays free
            raise client_error("InternalFailure", f"local state store: {exc}", op, 500) from None
        self._launch(TrainingJobName)
        return {"TrainingJobArn": state["arn"], "ResponseMetadata": metadata()}

    def _name_in_use(self, name: str, op: str) -> Exception:
        try:
            arn = self.engine.load(name)["arn"]
        except CorruptRecordError as exc:
            return corrupt_record_error(exc, op)
        except JobNotFoundError:  # an incomplete directory that could not be cleared
            arn = str(self.engine.job_dir(name))
        return client_error(
            "ResourceInUse",
            "Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn})",
            op,
        )

    def _validate(self, request: dict[str, Any]) -> None:
        """Refuse what boto3 and SageMaker refuse (the same rules the hook checks before sending)."""
        op = "CreateTrainingJob"
        problems = request_errors(request, op)
        if problems:
            text = "; ".join(str(problem) for problem in problems)
            raise client_error("ValidationException", f"{len(problems)} validation error(s) detected: {text}", op)

    def _launch(self, name: str) -> None:
        """Start the detached runner; mark the job Failed if it cannot start."""
        log_path = self.engine.job_dir(name) / "runner.log"
        args = ["--root", str(self.root), "--job", name]
        code = launch_detached("airflow_tf_sm.backends.local.runner", args, log_path, helper_env(), self.root)
        if code != 0:
            tail = log_path.read_text(errors="replace")[-800:]

            def fail(state: dict[str, Any]) -> None:
                if state["status"] in ACTIVE_STATUSES:
                    finish_job(state, "Failed", "Failed", time.time(), f"local runner failed to start: {tail}")

            self.engine.update(name, fail)

    # -- read ----------------------------------------------------------------------------------
    def _state(self, name: str, op: str) -> dict[str, Any]:
        try:
            return self.engine.refresh(name)
        except JobNotFoundError:
            raise client_error("ValidationException", "Requested resource not found.", op) from None
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, op) from None

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        """Return the DescribeTrainingJob response (datetimes are timezone-aware, like boto3's).

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` "Requested resource not found."
        """
        op = "DescribeTrainingJob"
        maybe_throttle(op)
        state = self._state(TrainingJobName, op)
        request = state["request"]
        resp: dict[str, Any] = {
            "TrainingJobName": state["name"],
            "TrainingJobArn": state["arn"],
        }
        if state.get("tuning_job_arn"):
            resp["TuningJobArn"] = state["tuning_job_arn"]
        resp |= {
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
        resp["CreationTime"] = to_datetime(state["creation_time"])
        for key, field in (
            ("TrainingStartTime", "training_start_time"),
            ("TrainingEndTime", "training_end_time"),
        ):
            if state.get(field) is not None:
                resp[key] = to_datetime(state[field])
        resp["LastModifiedTime"] = to_datetime(state["last_modified_time"])
        transitions = []
        for item in state.get("transitions", []):
            entry = {"Status": item["Status"], "StartTime": to_datetime(item["StartTime"])}
            if item.get("EndTime") is not None:
                entry["EndTime"] = to_datetime(item["EndTime"])
            entry["StatusMessage"] = item.get("StatusMessage", "")
            transitions.append(entry)
        resp["SecondaryStatusTransitions"] = transitions
        if state.get("metrics"):
            resp["FinalMetricDataList"] = [
                {"MetricName": m["MetricName"], "Value": m["Value"], "Timestamp": to_datetime(m["Timestamp"])}
                for m in state["metrics"]
            ]
        if state.get("training_time_seconds") is not None:
            resp["TrainingTimeInSeconds"] = state["training_time_seconds"]
            resp["BillableTimeInSeconds"] = state["billable_time_seconds"]
        resp["ResponseMetadata"] = metadata()
        return resp

    def list_training_jobs(self, **params: Any) -> dict[str, Any]:
        """ListTrainingJobs: ``{"TrainingJobSummaries": [...], "NextToken"?}``, filtered and paged like SageMaker."""
        records = self.engine.store.records(self.engine.refresh)
        return list_call(
            "ListTrainingJobs",
            params,
            records,
            key="TrainingJobSummaries",
            summary=_training_summary,
            model=service_model,
            max_results=100,
        )

    # -- stop ----------------------------------------------------------------------------------
    def stop_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        """Ask a running job to stop: it goes Stopping, its runner SIGTERMs the script, then Stopped.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for an unknown or finished job.
        """
        op = "StopTrainingJob"
        maybe_throttle(op)
        self._state(TrainingJobName, op)
        problem: str | None = None

        def mutate(state: dict[str, Any]) -> None:
            nonlocal problem
            if state["status"] in TERMINAL_STATUSES:
                problem = f"The request was rejected because the training job is in status {state['status']}."
                return
            if state["status"] == "InProgress":
                state["status"] = "Stopping"
                add_transition(state, "Stopping", time.time())

        try:
            self.engine.update(TrainingJobName, mutate)
        except CorruptRecordError as exc:  # it broke between the two reads
            raise corrupt_record_error(exc, op) from None
        if problem:
            raise client_error("ValidationException", problem, op)
        return {"ResponseMetadata": metadata()}


def _training_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """One ``TrainingJobSummaries`` entry of a job record."""
    summary: dict[str, Any] = {
        "TrainingJobName": state["name"],
        "TrainingJobArn": state["arn"],
        "CreationTime": to_datetime(state["creation_time"]),
    }
    if state.get("training_end_time") is not None:
        summary["TrainingEndTime"] = to_datetime(state["training_end_time"])
    summary["LastModifiedTime"] = to_datetime(state["last_modified_time"])
    summary["TrainingJobStatus"] = state["status"]
    summary["SecondaryStatus"] = state["secondary_status"]
    return summary
