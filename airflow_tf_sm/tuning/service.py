"""Hyperparameter tuning jobs through the hook: build and validate the request, attach or create, wait, stop.

``hook.tuning`` is a :class:`TuningService`. Like ``hook.training`` it talks to the backend's clients only
through ``hook.call`` (the one retry layer) and waits on the one wait state machine (``waiting.py``),
with a status line that carries the training job counters and the best objective so far.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import TFSageMakerError, TuningJobFailedError
from airflow_tf_sm.sagemaker.resources import TUNING_JOB
from airflow_tf_sm.service import JobService, StartPlan
from airflow_tf_sm.waiting import LogReader, Watch

if TYPE_CHECKING:
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds
    from airflow_tf_sm.tuning.spec import TuningJobSpec


def best_summary(desc: Mapping[str, Any]) -> str:
    """Return ``<job> <metric>=<value>`` of the best training job so far, or ``none yet``."""
    best = desc.get("BestTrainingJob") or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    if not best or "Value" not in metric:
        return "none yet"
    return f"{best.get('TrainingJobName')} {metric.get('MetricName')}={float(metric['Value']):.6g}"


def status_line(watch: Watch, desc: Mapping[str, Any]) -> str:
    """Return the status line of a tuning job: status, training job and objective counters, best so far."""
    counts = desc.get("TrainingJobStatusCounters") or {}
    failed = int(counts.get("RetryableError", 0)) + int(counts.get("NonRetryableError", 0))
    objectives = desc.get("ObjectiveStatusCounters") or {}
    return (
        f"Tuning job {watch.name}: {desc.get('HyperParameterTuningJobStatus')}; training jobs: "
        f"{counts.get('Completed', 0)} completed, {counts.get('InProgress', 0)} in progress, "
        f"{counts.get('Stopped', 0)} stopped, {failed} failed; objectives: {objectives.get('Succeeded', 0)} "
        f"succeeded, {objectives.get('Pending', 0)} pending, {objectives.get('Failed', 0)} failed; "
        f"best so far: {best_summary(desc)}"
    )


def tuning_watch(name: str, **kwargs: Any) -> Watch:
    """Return the wait state machine of one tuning job (its status line included)."""
    return Watch(TUNING_JOB, name, status_line=status_line, **kwargs)


class TuningService(JobService):
    """The hyperparameter tuning operations of one hook (``hook.tuning``)."""

    resource = TUNING_JOB
    failed_error = TuningJobFailedError
    create_method = "create_hyper_parameter_tuning_job"

    # ------------------------------------------------------------------ request
    def request(
        self,
        spec: TuningJobSpec,
        job_name: str,
        code_uri: str,
        *,
        extra_tags: Mapping[str, str] | None = None,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Return the CreateHyperParameterTuningJob request for ``spec`` (coerced; checked: :meth:`checked_request`)."""
        role = spec.training.role or self.hook.clients.default_role
        request = spec.to_request(job_name, code_uri, self.hook.region, role=role, extra_tags=extra_tags)
        return self.checked_request(request, validate=validate)

    def plan(self, spec: TuningJobSpec, ids: TaskInstanceIds) -> StartPlan:
        """Check the estimator and package its code; the tuning job's names (32-character rule) and request."""
        from airflow_tf_sm.sagemaker.names import MAX_TUNING_NAME_LEN, task_job_name
        from airflow_tf_sm.sagemaker.tags import job_tags

        def name_for(attempt: int) -> str:
            return task_job_name(
                *ids, template_name=spec.training.job_name, attempt=attempt, max_len=MAX_TUNING_NAME_LEN
            )

        training = self.hook.training
        training.check_hosts(spec.training)  # each training job of the tuning job runs on as many hosts
        code, code_uri = training.package_code(spec.training)
        tags = job_tags(*ids)
        return StartPlan(
            name_for=name_for,
            build=lambda name, validate: self.request(spec, name, code_uri, extra_tags=tags, validate=validate),
            summary=request_summary,
            before_create=lambda: training.upload_code(code, code_uri),
        )

    # ------------------------------------------------------------------ read
    def training_jobs(self, tuning_job_name: str, **filters: Any) -> list[dict[str, Any]]:
        """Return every training job summary of a tuning job (all pages; ``SortBy``/``StatusEquals`` as filters)."""
        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job_name, "MaxResults": 100, **filters}
        while True:
            page = self.hook.call(self.sagemaker, "list_training_jobs_for_hyper_parameter_tuning_job", **kwargs)
            summaries.extend(page.get("TrainingJobSummaries", []))
            if not page.get("NextToken"):
                return summaries
            kwargs["NextToken"] = page["NextToken"]

    # ------------------------------------------------------------------ wait
    def watch(self, name: str) -> Watch:
        """Return the wait state machine of one tuning job (its status line: counters, best so far)."""
        return tuning_watch(name)

    def check_final(
        self, desc: Mapping[str, Any], reader: LogReader | None = None, *, shown: bool = False
    ) -> dict[str, Any]:
        """Return ``desc`` of a Completed tuning job with a best training job; raise otherwise."""
        status = desc["HyperParameterTuningJobStatus"]
        name = desc["HyperParameterTuningJobName"]
        if status != "Completed":
            raise TuningJobFailedError(name, status, desc.get("FailureReason"))
        if not desc.get("BestTrainingJob"):
            reason = "no training job completed with an objective value (see the training jobs' logs)"
            raise TuningJobFailedError(name, status, desc.get("FailureReason") or reason)
        return dict(desc)

    def result(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a DescribeHyperParameterTuningJob response into the small JSON value pushed to XCom."""
        best = desc.get("BestTrainingJob") or {}
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        model_data = None
        if best.get("TrainingJobName"):
            job = self.hook.training.find(str(best["TrainingJobName"])) or {}
            model_data = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        config = desc.get("HyperParameterTuningJobConfig") or {}
        objective = config.get("HyperParameterTuningJobObjective") or {}
        return {
            "tuning_job_name": desc["HyperParameterTuningJobName"],
            "tuning_job_arn": desc.get("HyperParameterTuningJobArn"),
            "status": desc["HyperParameterTuningJobStatus"],
            "best_training_job_name": best.get("TrainingJobName"),
            "best_objective": {
                "name": metric.get("MetricName", objective.get("MetricName")),
                "value": metric.get("Value"),
                "type": metric.get("Type", objective.get("Type")),
            }
            if best
            else None,
            "best_hyperparameters": dict(best.get("TunedHyperParameters") or {}),
            "best_model_data": model_data,
            "training_job_counts": dict(desc.get("TrainingJobStatusCounters") or {}),
            "objective_counts": dict(desc.get("ObjectiveStatusCounters") or {}),
            "region": self.hook.region,
            "backend": self.hook.backend,
        }

    def failure(self, name: str, status: str, reason: str | None, tail: str) -> TFSageMakerError:
        """Return the error of a tuning job that ended ``status`` (its training jobs have the logs)."""
        return TuningJobFailedError(name, status, reason)

    def resumed(self, desc: Mapping[str, Any], log: Any) -> None:
        """Log the tuning job's last status line (counters, best training job) when the task resumes."""
        log.info("%s", status_line(tuning_watch(str(desc["HyperParameterTuningJobName"])), desc))


def request_summary(request: Mapping[str, Any]) -> str:
    """Return a one-line, secret-free JSON summary of a CreateHyperParameterTuningJob request for the task log."""
    from airflow_tf_sm.redaction import redact_mapping

    config = request.get("HyperParameterTuningJobConfig", {})
    definition = request.get("TrainingJobDefinition", {})
    ranges = config.get("ParameterRanges", {})
    summary = {
        "HyperParameterTuningJobName": request.get("HyperParameterTuningJobName"),
        "Strategy": config.get("Strategy"),
        "Objective": config.get("HyperParameterTuningJobObjective"),
        "ResourceLimits": config.get("ResourceLimits"),
        "EarlyStopping": config.get("TrainingJobEarlyStoppingType"),
        "Tuned": sorted(r["Name"] for kind in ranges.values() for r in kind),
        "TrainingImage": definition.get("AlgorithmSpecification", {}).get("TrainingImage"),
        "StaticHyperParameters": redact_mapping(definition.get("StaticHyperParameters", {})),
    }
    return json.dumps(summary, sort_keys=True)
