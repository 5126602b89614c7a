"""Batch transform jobs through the hook: the model, the request, attach or create, wait, stop, result.

``hook.transform`` is a :class:`TransformService`. The model is the hosting slice's deterministic model of
the training job (:class:`~airflow_tf_sm.hosting.spec.ModelSpec`, created once through
``hook.hosting.ensure_model``, so a deploy of the same job shares it) or an existing model named by the
user. The job name is deterministic per task instance; a retry attaches to, reuses or replaces the job of
an earlier try (:meth:`~airflow_tf_sm.service.JobService.find_reusable_job`). Every client call goes
through ``hook.call``; every wait runs on the one wait state machine (``waiting.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import (
    ConfigValidationError,
    FieldError,
    TFSageMakerError,
    TransformJobFailedError,
    TransformJobTimeoutError,
)
from airflow_tf_sm.sagemaker.resources import JOB_TERMINAL_STATUSES, TRANSFORM_JOB
from airflow_tf_sm.service import JobService

if TYPE_CHECKING:
    from airflow_tf_sm.hosting.spec import ModelSpec
    from airflow_tf_sm.sagemaker.names import TaskInstanceIds
    from airflow_tf_sm.transform.spec import TransformJobSpec

#: How many output URIs a result lists (the count covers them all).
FIRST_OUTPUTS = 5
_WHAT = "transform job configuration"
#: Stands in for the model's name while the request is checked before any call.
_PLACEHOLDER_MODEL = "model-name-checked-later"


class TransformService(JobService):
    """The batch transform operations of one hook (``hook.transform``)."""

    resource = TRANSFORM_JOB
    failed_error = TransformJobFailedError
    timeout_error = TransformJobTimeoutError
    create_method = "create_transform_job"

    # ------------------------------------------------------------------ model
    def check_model_choice(
        self,
        *,
        training_job_name: str | None,
        model_name: str | None,
        instance_type: str,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
    ) -> list[FieldError]:
        """Return the problems of the model arguments, found without any call.

        Exactly one of ``training_job_name`` and ``model_name``; ``image``, ``framework_version`` and
        ``role`` only with a training job (they define the model created for it); a given role must be an
        IAM role ARN, a given version one with a serving image.
        """
        from airflow_tf_sm.exceptions import UnknownFrameworkVersionError
        from airflow_tf_sm.sagemaker import images
        from airflow_tf_sm.sagemaker.service_model import request_errors

        problems: list[FieldError] = []
        if bool(training_job_name) == bool(model_name):
            rule = "give exactly one of training_job_name (a Completed training job) and model_name (an existing model)"
            problems.append(FieldError("training_job_name", training_job_name, rule))
        if model_name:
            for name, value in (("image", image), ("framework_version", framework_version), ("role", role)):
                if value:
                    problems.append(
                        FieldError(name, value, "only with training_job_name: model_name names a model as is")
                    )
            return problems
        if role:
            provisional = {
                "ModelName": "m",
                "ExecutionRoleArn": role,
                "PrimaryContainer": {"Image": image or "image", "ModelDataUrl": "s3://bucket/model.tar.gz"},
            }
            problems += [
                FieldError("role", role, e.rule)
                for e in request_errors(provisional, "CreateModel")
                if "Role" in e.field
            ]
        if framework_version and not image:
            try:
                images.image_uri(framework_version, self.hook.region, instance_type, scope="inference")
            except (UnknownFrameworkVersionError, ConfigValidationError) as exc:
                rule = str(exc).split(" -- ", 1)[-1]
                problems.append(FieldError("framework_version", framework_version, rule))
        return problems

    def model_for_job(
        self,
        training_job_name: str,
        ids: TaskInstanceIds,
        *,
        instance_type: str,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
    ) -> ModelSpec:
        """Return the model of a Completed training job, named as a deploy of that job names it.

        Raises:
            ModelNotDeployableError: the job is unknown, not Completed, or has no model artifact.
            ConfigValidationError: no usable image or role.
        """
        from airflow_tf_sm.hosting.spec import ModelSpec
        from airflow_tf_sm.sagemaker.tags import job_tags

        desc = self.hook.hosting.describe_deployable_job(training_job_name)
        return ModelSpec.from_training_job(
            desc,
            region=self.hook.region,
            instance_type=instance_type,
            image=image,
            framework_version=framework_version,
            role=role,
            tags=job_tags(*ids),
            what=_WHAT,
        )

    def existing_model(self, model_name: str) -> dict[str, Any]:
        """Return DescribeModel of a model the user named.

        Raises:
            TFSageMakerError: no model of that name.
        """
        desc = self.hook.hosting.describe_model(model_name)
        if desc is None:
            raise TFSageMakerError(
                f"model_name: model {model_name!r} not found ({self.hook.backend} backend, {self.hook.region})"
            )
        return desc

    # ------------------------------------------------------------------ request
    def request(
        self,
        spec: TransformJobSpec,
        job_name: str,
        model_name: str,
        *,
        extra_tags: Mapping[str, str] | None = None,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Return the CreateTransformJob request for ``spec`` (coerced; checked: :meth:`checked_request`)."""
        request = spec.to_request(job_name=job_name, model_name=model_name, extra_tags=extra_tags)
        return self.checked_request(request, validate=validate)

    def start(
        self,
        spec: TransformJobSpec,
        ids: TaskInstanceIds,
        *,
        training_job_name: str | None = None,
        model_name: str | None = None,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
        if_job_exists: str = "reuse",
        poll_interval: float = 30.0,
        on_name: Callable[[str], None] | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """Start the transform job of a task instance, or find the one an earlier try started.

        Everything the user gave is checked before the first call: the spec, the model arguments and the
        whole request. Then this task instance's deterministic names are looked up: a running job is
        attached to, a Completed one reused (``if_job_exists="rerun"`` scores again under the next name), a
        Failed or Stopped one replaced by the next name. Only for a new job is the model made sure of
        (created once for a training job, or checked to exist) and the job created.

        Args:
            spec: The job.
            ids: The task instance (its deterministic job names and tags).
            training_job_name: A Completed training job whose model scores the data.
            model_name: An existing SageMaker model instead.
            image: Serving image of the model made for ``training_job_name`` (default: the job's TF version).
            framework_version: TensorFlow version of that serving image.
            role: Execution role of that model (default: the training job's).
            if_job_exists: ``"reuse"`` or ``"rerun"`` a Completed job of an earlier try.
            poll_interval: Seconds between polls while an earlier try's job is Stopping.
            on_name: Called with the job name just before the create call (so a kill can stop it).

        Returns:
            ``(job_name, description)``; the description of the earlier try's job, or None for a new one.

        Raises:
            ConfigValidationError: bad input (before any call).
            ModelNotDeployableError: the training job is unknown, not Completed or has no model.
            TFSageMakerError: ``model_name`` names no model.
        """
        from airflow_tf_sm.sagemaker.tags import job_tags

        TRANSFORM_JOB.rerun(if_job_exists)  # a bad word is refused before any call
        problems = self.check_model_choice(
            training_job_name=training_job_name,
            model_name=model_name,
            instance_type=spec.instance_type,
            image=image,
            framework_version=framework_version,
            role=role,
        )
        try:
            self.request(spec, self._name(spec, ids, 1), model_name or _PLACEHOLDER_MODEL, extra_tags=job_tags(*ids))
        except ConfigValidationError as exc:
            problems += exc.errors
        if problems:
            raise ConfigValidationError(problems, what=_WHAT)

        job_name, existing = self.find_reusable_job(
            lambda n: self._name(spec, ids, n),
            if_job_exists=if_job_exists,
            poll_interval=poll_interval,
            run_id=ids.run_id,
        )
        if existing is not None:
            return job_name, existing
        if training_job_name:
            model = self.model_for_job(
                training_job_name,
                ids,
                instance_type=spec.instance_type,
                image=image,
                framework_version=framework_version,
                role=role,
            )
            chosen = model.model_name
            self.hook.hosting.ensure_model(model.model_request())
        else:
            chosen = str(model_name)
            self.existing_model(chosen)
        request = self.request(spec, job_name, chosen, extra_tags=job_tags(*ids), validate=False)
        self.mask_secrets(request)
        self.submit(request, request_summary(request), on_name)
        return job_name, None

    @staticmethod
    def _name(spec: TransformJobSpec, ids: TaskInstanceIds, attempt: int) -> str:
        from airflow_tf_sm.sagemaker.names import task_job_name

        return task_job_name(*ids, template_name=spec.job_name, attempt=attempt)

    # ------------------------------------------------------------------ result
    def outputs(self, output_path: str) -> dict[str, Any]:
        """Return ``{"count": n, "first": [<= 5 URIs]}`` of the ``.out`` objects under ``output_path``."""
        from airflow_tf_sm.sagemaker.s3 import parse_s3_uri
        from airflow_tf_sm.sagemaker.transform import OUTPUT_SUFFIX

        bucket, key = parse_s3_uri(output_path)
        prefix = key if not key or key.endswith("/") else key + "/"
        count, first = 0, list[str]()
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.hook.call(self.hook.clients.s3, "list_objects_v2", **kwargs)
            for item in page.get("Contents") or []:
                if str(item["Key"]).endswith(OUTPUT_SUFFIX):
                    count += 1
                    if len(first) < FIRST_OUTPUTS:
                        first.append(f"s3://{bucket}/{item['Key']}")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return {"count": count, "first": first}
            kwargs["ContinuationToken"] = token

    def result(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a DescribeTransformJob response into the small JSON value pushed to XCom.

        Keys: ``transform_job_name``, ``transform_job_arn``, ``status``, ``model_name``, ``output_path``,
        ``outputs`` (``{"count", "first"}`` once the job ended, else None), ``failure_reason``, ``region``,
        ``backend``.
        """
        status = desc["TransformJobStatus"]
        output_path = (desc.get("TransformOutput") or {}).get("S3OutputPath")
        ended = status in JOB_TERMINAL_STATUSES
        return {
            "transform_job_name": desc["TransformJobName"],
            "transform_job_arn": desc.get("TransformJobArn"),
            "status": status,
            "model_name": desc.get("ModelName"),
            "output_path": output_path,
            "outputs": self.outputs(output_path) if ended and output_path else None,
            "failure_reason": desc.get("FailureReason"),
            "region": self.hook.region,
            "backend": self.hook.backend,
        }


def request_summary(request: Mapping[str, Any]) -> str:
    """Return a one-line JSON summary of a CreateTransformJob request for the task log (no environment values)."""
    source = request.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
    summary = {
        "TransformJobName": request.get("TransformJobName"),
        "ModelName": request.get("ModelName"),
        "Input": source.get("S3Uri"),
        "SplitType": request.get("TransformInput", {}).get("SplitType"),
        "BatchStrategy": request.get("BatchStrategy"),
        "Output": request.get("TransformOutput", {}).get("S3OutputPath"),
        "TransformResources": request.get("TransformResources"),
        "Environment": sorted(request.get("Environment") or {}),
    }
    return json.dumps(summary, sort_keys=True)
