"""Training jobs through the hook: stage the code, build and validate the request, attach or create, wait, stop.

``hook.training`` is a :class:`TrainingService`. It talks to the backend's clients only through
``hook.call`` (the one retry layer) and waits on the one wait state machine (``waiting.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import (
    ConfigValidationError,
    FieldError,
    TFSageMakerError,
    TrainingJobFailedError,
    TrainingJobTimeoutError,
)
from airflow_tf_sm.redaction import redact_mapping
from airflow_tf_sm.sagemaker.resources import TRAINING_JOB, final_metrics
from airflow_tf_sm.service import JobService, StartPlan

if TYPE_CHECKING:
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds
    from airflow_tf_sm.training.code import SourceDigest
    from airflow_tf_sm.training.spec import TrainingJobSpec


class TrainingService(JobService):
    """The training-job operations of one hook (``hook.training``)."""

    resource = TRAINING_JOB
    failed_error = TrainingJobFailedError
    timeout_error = TrainingJobTimeoutError
    create_method = "create_training_job"

    # ------------------------------------------------------------------ code
    @staticmethod
    def package_code(spec: TrainingJobSpec) -> tuple[SourceDigest, str]:
        """Content-address the code on this machine (no network, no compression) and return its URI.

        The key holds a digest of the files (paths, modes, contents), so unchanged code maps to the same
        key; the archive itself is built only by :meth:`upload_code`, when the object is missing.
        """
        from airflow_tf_sm.training.code import code_key, source_digest

        code = source_digest(spec.source_dir, spec.entry_point, spec.dependencies)
        return code, code_key(spec.code_prefix(), code.digest)

    def upload_code(self, code: SourceDigest, uri: str) -> int:
        """Build and upload the deterministic ``sourcedir.tar.gz`` unless ``uri`` exists; return bytes uploaded.

        Raises:
            TFSageMakerError: the files changed between :meth:`package_code` and the upload (the archive
                would not match its content-addressed key).
        """
        from airflow_tf_sm.training.code import build_sourcedir

        if self.hook.object_exists(uri):
            self.log.info("Code unchanged (sha256 %s): reusing %s, 0 bytes uploaded", code.digest[:12], uri)
            return 0
        staged = build_sourcedir(code.source_dir, code.entry_point, code.dependencies)
        if staged.content_digest != code.digest:
            raise TFSageMakerError(f"source_dir {code.source_dir!r} changed while it was being staged; try again")
        self.hook.write_bytes(uri, staged.data)
        self.log.info("Staged %d file(s), %d bytes to %s", len(staged.files), len(staged.data), uri)
        return len(staged.data)

    def stage_code(self, spec: TrainingJobSpec) -> str:
        """Package ``source_dir`` (or the entry point) and upload it once, content-addressed; return its URI."""
        code, uri = self.package_code(spec)
        self.upload_code(code, uri)
        return uri

    # ------------------------------------------------------------------ request
    def request(
        self,
        spec: TrainingJobSpec,
        job_name: str,
        code_uri: str,
        *,
        extra_tags: Mapping[str, str] | None = None,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Return the CreateTrainingJob request for ``spec``, coerced to the service model's types.

        With ``validate`` (the default) the whole request is checked (botocore's parameter validation plus
        the package's rules) and every problem is reported together, before any call. Rebuilding the
        same request under another job name needs no second check (``validate=False``).

        Raises:
            ConfigValidationError: the request breaks a rule.
        """
        self.check_hosts(spec)
        role = spec.role or self.hook.clients.default_role
        request = spec.to_request(job_name, code_uri, self.hook.region, role=role, extra_tags=extra_tags)
        return self.checked_request(request, validate=validate)

    def check_hosts(self, spec: TrainingJobSpec) -> None:
        """Refuse more instances than the backend allows (the local backend: ``local_max_hosts``)."""
        from airflow_tf_sm.training.resources import total_instances

        bound = self.hook.clients.max_hosts
        hosts = total_instances(spec.instance_groups) if spec.instance_groups else spec.instance_count
        if bound is not None and hosts > bound[0]:
            field = "instance_groups" if spec.instance_groups else "instance_count"
            rule = (
                f"the {self.hook.backend} backend runs each instance as a process on this machine, with its own "
                f"copy of the code and data: at most {bound[0]} here (the setting {bound[1]})"
            )
            raise ConfigValidationError([FieldError(field, hosts, rule)])

    def plan(self, spec: TrainingJobSpec, ids: TaskInstanceIds) -> StartPlan:
        """Check the spec and package its code; the job's names (63-character rule) and request."""
        from airflow_tf_sm.sagemaker.names import task_job_name
        from airflow_tf_sm.sagemaker.tags import job_tags

        def name_for(attempt: int) -> str:
            return task_job_name(*ids, template_name=spec.job_name, attempt=attempt)

        def chosen(job_name: str) -> None:
            if spec.job_name is not None and job_name != spec.job_name:
                from airflow_tf_sm.sagemaker.names import name_changes

                attempt = next((a for a in range(1, 51) if name_for(a) == job_name), 1)
                why = name_changes(spec.job_name, job_name, map_index=ids.map_index, attempt=attempt)
                self.log.info("job_name %r is used as %r: %s", spec.job_name, job_name, "; ".join(why))

        code, code_uri = self.package_code(spec)
        tags = job_tags(*ids)
        return StartPlan(
            name_for=name_for,
            build=lambda name, validate: self.request(spec, name, code_uri, extra_tags=tags, validate=validate),
            summary=request_summary,
            before_create=lambda: self.upload_code(code, code_uri),
            found=chosen,
        )

    # ------------------------------------------------------------------ wait
    def result(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a DescribeTrainingJob response into the small JSON value pushed to XCom."""
        return {
            "job_name": desc["TrainingJobName"],
            "job_arn": desc.get("TrainingJobArn"),
            "status": desc["TrainingJobStatus"],
            "model_data": (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            "metrics": final_metrics(desc),
            "billable_seconds": desc.get("BillableTimeInSeconds"),
            "training_seconds": desc.get("TrainingTimeInSeconds"),
            "image": (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"),
            "region": self.hook.region,
            "backend": self.hook.backend,
        }


def request_summary(request: Mapping[str, Any]) -> str:
    """Return a one-line, secret-free JSON summary of a CreateTrainingJob request for the task log.

    Secret-named hyperparameters and environment variables show ``***`` (:mod:`airflow_tf_sm.redaction`).
    """
    summary = {
        "TrainingJobName": request.get("TrainingJobName"),
        "TrainingImage": request.get("AlgorithmSpecification", {}).get("TrainingImage"),
        "ResourceConfig": request.get("ResourceConfig"),
        "HyperParameters": redact_mapping(request.get("HyperParameters", {})),
        "Environment": redact_mapping(request.get("Environment", {})),
        "Channels": [c.get("ChannelName") for c in request.get("InputDataConfig", [])],
        "OutputPath": request.get("OutputDataConfig", {}).get("S3OutputPath"),
    }
    return json.dumps(summary, sort_keys=True)
