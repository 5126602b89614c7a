"""The SageMaker hyperparameter tuning API of the local backend: create, describe, list the training jobs, stop.

Each tuning job is a record of the one state store under ``<root>/tuning-jobs/<name>/`` (``tuning-job.json``:
the request, status, times, the tuner process, the trials it launched) driven by a detached tuner process
(``tuner.py``) that launches real local training jobs through the training API. Counters, objective
statuses and the best training job are computed from the training jobs' own records, like SageMaker
reports them.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.engine import Engine
from airflow_tf_sm.backends.local.processes import helper_env, kill_group, launch_detached, process_alive
from airflow_tf_sm.backends.local.state import CorruptRecordError, RecordExistsError, RecordNotFoundError, StateStore
from airflow_tf_sm.backends.local.wire import (
    client_error,
    list_call,
    list_page,
    list_records,
    maybe_throttle,
    metadata,
    to_datetime,
)
from airflow_tf_sm.sagemaker import service_model
from airflow_tf_sm.sagemaker.names import MAX_TUNING_NAME_LEN, is_valid_name
from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES, LOCAL_ACCOUNT_ID, TRAINING_JOB, TUNING_JOB
from airflow_tf_sm.sagemaker.service_model import request_errors

OPERATION = "CreateHyperParameterTuningJob"
TUNER_DIED_REASON = "local tuner process died"
#: Seconds without a tuner heartbeat before a tuning job is declared dead.
TUNER_HEARTBEAT_TIMEOUT = 30.0
#: FailureReason prefixes of a training job that failed for the service's own reasons (retryable).
RETRYABLE_PREFIXES = ("InternalServerError", "local runner process died")


def tuning_store(root: Path) -> StateStore:
    """Return the state store of the tuning jobs under ``root``."""
    return StateStore(root / "tuning-jobs", lambda name: is_valid_name(name, MAX_TUNING_NAME_LEN), kind="tuning-job")


def objective_of(config: Mapping[str, Any]) -> tuple[str, str]:
    """Return (metric name, Maximize|Minimize) of a HyperParameterTuningJobConfig."""
    objective = config.get("HyperParameterTuningJobObjective") or {}
    return str(objective.get("MetricName", "")), str(objective.get("Type", "Maximize"))


def final_objective(job: Mapping[str, Any], metric: str) -> float | None:
    """Return the final value of ``metric`` in a training job record (the last match in its log)."""
    for item in job.get("metrics") or []:
        if item.get("MetricName") == metric:
            return float(item["Value"])
    return None


def is_better(value: float, than: float | None, kind: str) -> bool:
    """Return whether ``value`` beats ``than`` for an objective of type ``kind``."""
    return than is None or (value > than if kind == "Maximize" else value < than)


def _semantic_errors(request: Mapping[str, Any]) -> list[str]:
    """Return the rules SageMaker checks server-side on a tuning request (beyond the service model)."""
    config = request.get("HyperParameterTuningJobConfig") or {}
    definition = request.get("TrainingJobDefinition") or {}
    problems = []
    ranges = config.get("ParameterRanges") or {}
    strategy = config.get("Strategy")
    if not definition:
        problems.append("TrainingJobDefinition is required (TrainingJobDefinitions is not supported locally)")
    if strategy == "Grid" and (ranges.get("IntegerParameterRanges") or ranges.get("ContinuousParameterRanges")):
        problems.append("The Grid strategy supports categorical parameter ranges only")
    if strategy == "Hyperband" and config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        problems.append("TrainingJobEarlyStoppingType must be Off with the Hyperband strategy")
    if strategy != "Grid" and not (config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs"):
        problems.append("ResourceLimits.MaxNumberOfTrainingJobs is required for the strategy " + str(strategy))
    metric, _ = objective_of(config)
    names = [d.get("Name") for d in (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []]
    if not metric or metric not in names:
        problems.append(f"The objective metric {metric!r} must be one of the algorithm's MetricDefinitions {names}")
    if sum(len(ranges.get(k) or []) for k in ranges) == 0:
        problems.append("ParameterRanges must hold at least one range")
    return problems


class TuningAPI:
    """The SageMaker tuning calls over the local state store (mixed into ``LocalSageMakerClient``).

    The class using it provides ``root``, ``region``, ``engine`` and ``stop_training_job``.
    """

    root: Path
    region: str
    engine: Engine

    @property
    def tuning(self) -> StateStore:
        """The tuning job records."""
        return tuning_store(self.root)

    # -- create --------------------------------------------------------------------------------
    def create_hyper_parameter_tuning_job(
        self,
        *,
        HyperParameterTuningJobName: str,
        HyperParameterTuningJobConfig: dict[str, Any],
        TrainingJobDefinition: dict[str, Any] | None = None,
        TrainingJobDefinitions: list[dict[str, Any]] | None = None,
        WarmStartConfig: dict[str, Any] | None = None,
        Tags: list[dict[str, str]] | None = None,
        Autotune: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a tuning job and start its tuner; return ``{"HyperParameterTuningJobArn": ...}``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationException`` for a bad request, ``ResourceInUse``
                when the name was ever used.
        """
        maybe_throttle(OPERATION)
        request = {k: v for k, v in locals().items() if k != "self" and v is not None}
        problems = [str(p) for p in request_errors(request, OPERATION)] or _semantic_errors(request)
        if problems:
            text = "; ".join(problems)
            raise client_error(
                "ValidationException", f"{len(problems)} validation error(s) detected: {text}", OPERATION
            )
        now = time.time()
        name = HyperParameterTuningJobName
        state: dict[str, Any] = {
            "name": name,
            "arn": TUNING_JOB.arn(self.region, LOCAL_ACCOUNT_ID, name),
            "region": self.region,
            "request": request,
            "tags": list(Tags or []),
            "status": "InProgress",
            "creation_time": now,
            "last_modified_time": now,
            "tuner": None,
            "trials": [],
        }
        try:
            self.tuning.create(name, state, prepare=lambda folder: (folder / "heartbeat").touch())
        except RecordExistsError:
            raise client_error(
                "ResourceInUse", f"Hyperparameter tuning job {name} already exists (names are never reused)", OPERATION
            ) from None
        log_path = self.tuning.path(name) / "tuner.log"
        args = ["--root", str(self.root), "--job", name]
        if launch_detached("airflow_tf_sm.backends.local.tuner", args, log_path, helper_env(), self.root) != 0:
            tail = log_path.read_text(errors="replace")[-800:]
            self.tuning.update(name, lambda s: end_tuning(s, "Failed", f"local tuner failed to start: {tail}"))
        return {"HyperParameterTuningJobArn": state["arn"], "ResponseMetadata": metadata()}

    # -- read ----------------------------------------------------------------------------------
    def _tuning_state(self, name: str, op: str) -> dict[str, Any]:
        try:
            state = self.tuning.load(name)
        except (RecordNotFoundError, CorruptRecordError):
            raise client_error(
                "ResourceNotFound", f"Amazon SageMaker can't find a tuning job named {name}", op
            ) from None
        if state["status"] in TUNING_JOB.busy and self._tuner_dead(state):
            state = self._fail_dead_tuner(name)
        return state

    def _tuner_dead(self, state: Any) -> bool:
        try:
            beat = (self.tuning.path(state["name"]) / "heartbeat").stat().st_mtime
        except FileNotFoundError:
            beat = float(state.get("creation_time", 0.0))
        if time.time() - beat > TUNER_HEARTBEAT_TIMEOUT:
            return True
        tuner = state.get("tuner")
        return bool(tuner) and not process_alive(int(tuner["pid"]), tuner.get("token"))

    def _fail_dead_tuner(self, name: str) -> dict[str, Any]:
        with self.tuning.locked(name) as state:
            if state["status"] in TUNING_JOB.busy and self._tuner_dead(state):
                tuner = state.get("tuner") or {}
                if tuner.get("pid"):
                    kill_group(int(tuner["pid"]), tuner.get("token"), signal.SIGKILL)
                for trial in state.get("trials", []):
                    with contextlib.suppress(Exception):
                        self.stop_training_job(TrainingJobName=trial["name"])  # type: ignore[attr-defined]
                end_tuning(state, "Failed", TUNER_DIED_REASON)
        return state

    def _children(self, state: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found = []
        for trial in state.get("trials", []):
            try:
                found.append((trial, self.engine.refresh(trial["name"])))
            except (RecordNotFoundError, CorruptRecordError):
                continue
        return found

    def _summary(self, state: Mapping[str, Any], trial: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
        metric, kind = objective_of(state["request"]["HyperParameterTuningJobConfig"])
        summary: dict[str, Any] = {
            "TrainingJobName": job["name"],
            "TrainingJobArn": job["arn"],
            "TuningJobName": state["name"],
            "CreationTime": to_datetime(job["creation_time"]),
        }
        if job.get("training_start_time") is not None:
            summary["TrainingStartTime"] = to_datetime(job["training_start_time"])
        if job.get("training_end_time") is not None:
            summary["TrainingEndTime"] = to_datetime(job["training_end_time"])
        summary["TrainingJobStatus"] = job["status"]
        summary["TunedHyperParameters"] = dict(trial["tuned"])
        if job.get("failure_reason"):
            summary["FailureReason"] = job["failure_reason"]
        value = final_objective(job, metric)
        if value is not None and job["status"] in JOB_TERMINAL_STATUSES:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": kind,
                "MetricName": metric,
                "Value": value,
            }
        if job["status"] in TRAINING_JOB.busy:
            summary["ObjectiveStatus"] = "Pending"
        else:
            summary["ObjectiveStatus"] = "Succeeded" if value is not None else "Failed"
        return summary

    def describe_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str) -> dict[str, Any]:
        """Return DescribeHyperParameterTuningJob: status, counters, objective counters, BestTrainingJob.

        Raises:
            botocore.exceptions.ClientError: ``ResourceNotFound`` for an unknown tuning job.
        """
        op = "DescribeHyperParameterTuningJob"
        maybe_throttle(op)
        state = self._tuning_state(HyperParameterTuningJobName, op)
        request = state["request"]
        _, kind = objective_of(request["HyperParameterTuningJobConfig"])
        counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        best: dict[str, Any] | None = None
        for trial, job in self._children(state):
            summary = self._summary(state, trial, job)
            status = job["status"]
            if status in TRAINING_JOB.busy:
                counters["InProgress"] += 1
            elif status == "Failed":
                reason = str(job.get("failure_reason") or "")
                counters["RetryableError" if reason.startswith(RETRYABLE_PREFIXES) else "NonRetryableError"] += 1
            else:
                counters[status] += 1
            objectives[summary["ObjectiveStatus"]] += 1
            metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
            if status == "Completed" and metric is not None:  # the deployable best: a Completed job
                current = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] if best else None
                if is_better(metric["Value"], current, kind):
                    best = summary
        resp: dict[str, Any] = {
            "HyperParameterTuningJobName": state["name"],
            "HyperParameterTuningJobArn": state["arn"],
            "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
        }
        if "TrainingJobDefinition" in request:
            resp["TrainingJobDefinition"] = request["TrainingJobDefinition"]
        resp["HyperParameterTuningJobStatus"] = state["status"]
        resp["CreationTime"] = to_datetime(state["creation_time"])
        if state.get("end_time") is not None:
            resp["HyperParameterTuningEndTime"] = to_datetime(state["end_time"])
        resp["LastModifiedTime"] = to_datetime(state["last_modified_time"])
        resp["TrainingJobStatusCounters"] = counters
        resp["ObjectiveStatusCounters"] = objectives
        if best is not None:
            resp["BestTrainingJob"] = best
        if "WarmStartConfig" in request:
            resp["WarmStartConfig"] = request["WarmStartConfig"]
        if state.get("failure_reason"):
            resp["FailureReason"] = state["failure_reason"]
        if "not_improving" in state:
            resp["TuningJobCompletionDetails"] = {"NumberOfTrainingJobsObjectiveNotImproving": state["not_improving"]}
        end = state.get("end_time") or time.time()
        resp["ConsumedResources"] = {"RuntimeInSeconds": int(end - state["creation_time"])}
        resp["ResponseMetadata"] = metadata()
        return resp

    def list_training_jobs_for_hyper_parameter_tuning_job(
        self,
        *,
        HyperParameterTuningJobName: str,
        NextToken: str | None = None,
        MaxResults: int = 10,
        StatusEquals: str | None = None,
        SortBy: str = "Name",
        SortOrder: str = "Ascending",
    ) -> dict[str, Any]:
        """Return ``{"TrainingJobSummaries": [...], "NextToken"?}`` of a tuning job, filtered, sorted and paged.

        ``SortBy="FinalObjectiveMetricValue"`` leaves out the jobs without an objective value.
        """
        op = "ListTrainingJobsForHyperParameterTuningJob"
        maybe_throttle(op)
        state = self._tuning_state(HyperParameterTuningJobName, op)
        rows = []
        for trial, job in self._children(state):
            summary = self._summary(state, trial, job)
            metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
            if SortBy == "FinalObjectiveMetricValue" and metric is None:
                continue
            rows.append(
                {
                    "name": job["name"],
                    "status": job["status"],
                    "creation_time": job["creation_time"],
                    "last_modified_time": job["last_modified_time"],
                    "value": metric["Value"] if metric else 0.0,
                    "summary": summary,
                }
            )
        sort_keys = {
            "Name": lambda r: r["name"],
            "CreationTime": lambda r: (r["creation_time"], r["name"]),
            "Status": lambda r: (r["status"], r["name"]),
            "FinalObjectiveMetricValue": lambda r: (r["value"], r["name"]),
        }
        kept = list_records(
            rows,
            op,
            sort_by=SortBy,
            sort_order=SortOrder,
            sort_keys=sort_keys,
            status_equals=StatusEquals,
            statuses=sorted(TRAINING_JOB.statuses),
            max_results=MaxResults,
        )
        return list_page("TrainingJobSummaries", kept, NextToken, MaxResults, op, lambda row: row["summary"])

    def list_hyper_parameter_tuning_jobs(self, **params: Any) -> dict[str, Any]:
        """ListHyperParameterTuningJobs: summaries (name, ARN, status, strategy, times), filtered and paged."""
        return list_call(
            "ListHyperParameterTuningJobs",
            params,
            self.tuning.records(),
            key="HyperParameterTuningJobSummaries",
            summary=_tuning_summary,
            model=service_model,
            max_results=100,
        )

    # -- stop ----------------------------------------------------------------------------------
    def stop_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str) -> dict[str, Any]:
        """Ask a tuning job to stop: it goes Stopping, its tuner stops every running training job, then Stopped.

        Raises:
            botocore.exceptions.ClientError: ``ResourceNotFound`` for an unknown tuning job,
                ``ValidationException`` for one that already ended.
        """
        op = "StopHyperParameterTuningJob"
        maybe_throttle(op)
        self._tuning_state(HyperParameterTuningJobName, op)
        problem: str | None = None

        def mutate(state: dict[str, Any]) -> None:
            nonlocal problem
            if state["status"] in JOB_TERMINAL_STATUSES:
                problem = f"The request was rejected because the tuning job is in status {state['status']}."
            elif state["status"] == "InProgress":
                state["status"] = "Stopping"
                state["last_modified_time"] = time.time()

        self.tuning.update(HyperParameterTuningJobName, mutate)
        if problem:
            raise client_error("ValidationException", problem, op)
        return {"ResponseMetadata": metadata()}


def end_tuning(state: dict[str, Any], status: str, failure_reason: str | None = None) -> None:
    """Put a tuning job record in a terminal status (no-op when it already is in one)."""
    if state["status"] in JOB_TERMINAL_STATUSES:
        return
    now = time.time()
    state["status"] = status
    state["end_time"] = now
    state["last_modified_time"] = now
    if failure_reason:
        state["failure_reason"] = failure_reason[:1024]


def _tuning_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """Return a tuning job's entry of ListHyperParameterTuningJobs."""
    return {
        "HyperParameterTuningJobName": state["name"],
        "HyperParameterTuningJobArn": state["arn"],
        "HyperParameterTuningJobStatus": state["status"],
        "Strategy": state["request"]["HyperParameterTuningJobConfig"]["Strategy"],
        "CreationTime": to_datetime(state["creation_time"]),
        "LastModifiedTime": to_datetime(state["last_modified_time"]),
    }
