"""``TFBatchTransformOperator``: score S3 data with a trained model in a SageMaker batch transform job.

This module is imported by DAG files at parse time: it imports no boto3, botocore, TensorFlow or
Amazon provider module at module level. The hook is built in ``execute()``, never in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TransformJobConsoleLink
from airflow_tf_sm.sagemaker.resources import TRANSFORM_JOB
from airflow_tf_sm.tasks import JobTask, SageMakerTask, keyword_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_tf_sm.sagemaker.tags import Tags

#: The operator's own keyword arguments; every other keyword of its ``__init__`` is a TransformJobSpec field.
OPERATOR_ARGUMENTS = (
    "training_job_name",
    "model_name",
    "image",
    "framework_version",
    "role",
    "stream_logs",
)


class TFBatchTransformOperator(JobTask):
    """Score the objects under an S3 prefix with a trained model in a batch transform job, and wait for it.

    The model: ``training_job_name`` (e.g. ``train.output["job_name"]`` or a tuning task's
    ``best_training_job_name``) must be Completed with a model artifact; its SageMaker model is created once,
    under the deterministic name a deploy of that job would use (so deploy and transform share it); or
    ``model_name`` names an existing model. Every field of
    :class:`~airflow_tf_sm.transform.spec.TransformJobSpec` is an explicit, templated argument in the SDK's
    ``transformer()``/``transform()`` vocabulary; ``None`` means "not given" (the request leaves it out, as
    the SDK does). Every rule is checked, all problems together, before any API call.

    The job name is deterministic per task instance, so a retry finds the job of an earlier try: running ->
    it attaches; Completed -> it reuses it (``if_job_exists="rerun"`` scores again); Failed/Stopped -> the
    next name. The wait runs in the worker or, with ``deferrable=True``, in the triggerer. The return
    value (XCom) is a small dict: ``transform_job_name``, ``transform_job_arn``, ``status``,
    ``model_name``, ``output_path``, ``outputs`` (``{"count": n, "first": [<= 5 URIs]}``),
    ``failure_reason``, ``region``, ``backend``.

    Args:
        training_job_name: A Completed training job whose model scores the data (templated).
        model_name: An existing SageMaker model instead of ``training_job_name`` (templated).
        image: Serving image of the model made for ``training_job_name`` (default: the
            ``tensorflow-inference`` image of the job's TensorFlow version).
        framework_version: TensorFlow version of that serving image (default: read from the training image).
        role: Execution role ARN of that model (default: the training job's role).
        data: ``s3://`` prefix of the input objects (or of a manifest with ``data_type="ManifestFile"``).
        output_path: ``s3://`` prefix of the outputs: ``<output_path>/<key relative to data>.out``.
        instance_count: Number of instances. Default 1.
        instance_type: ``ml.*`` instance type. Default 'ml.m5.large'.
        strategy: ``SingleRecord`` or ``MultiRecord`` (needs ``split_type``).
        assemble_with: ``None`` or ``Line``.
        output_kms_key: KMS key for the output.
        accept: Content type of the outputs, e.g. ``text/csv``.
        env: Environment variables of the transform container.
        max_concurrent_transforms: Requests in flight per instance (default 1).
        max_payload: Largest request in MB (0-100, default 6).
        tags: ``{key: value}`` or ``[{"Key": ..., "Value": ...}]``.
        volume_kms_key: KMS key for the volume.
        data_type: ``S3Prefix`` (default) or ``ManifestFile``.
        content_type: Content type of the input (``text/csv``, ``application/json``, ``application/jsonlines``).
        compression_type: ``None`` or ``Gzip``.
        split_type: ``None``, ``Line``, ``RecordIO`` or ``TFRecord``.
        input_filter: JSONPath of the part of each record sent to the model, e.g. ``$[1:]``.
        output_filter: JSONPath of the part of each (joined) output record kept, e.g. ``$[0,-1]``.
        join_source: ``Input`` joins each prediction with its input record.
        model_client_config: ``{"InvocationsTimeoutInSeconds": ..., "InvocationsMaxRetries": ...}``.
        job_name: Base name of the job (templated, e.g. ``"score-{{ ds_nodash }}"``); default: derived from
            dag_id, task_id, run_id and map index.
        stream_logs: Copy the job's log into the task log while waiting.
        **kwargs: Job arguments (:class:`~airflow_tf_sm.tasks.JobTask`: ``if_job_exists`` -- ``"reuse"`` or
            ``"rerun"`` --, ``stop_job_on_kill``), waiting arguments (:class:`~airflow_tf_sm.tasks.WaitingTask`),
            connection arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerTask`) and ``BaseOperator`` arguments.

    Example:
        >>> score = TFBatchTransformOperator(  # doctest: +SKIP
        ...     task_id="score",
        ...     training_job_name=train.output["job_name"],
        ...     data="s3://my-bucket/score/{{ ds }}/",
        ...     output_path="s3://my-bucket/scores/{{ ds }}",
        ...     content_type="text/csv",
        ...     split_type="Line",
        ...     strategy="MultiRecord",
        ...     assemble_with="Line",
        ...     accept="text/csv",
        ...     deferrable=True,
        ... )
    """

    template_fields_renderers = {"env": "json", "tags": "json", "model_client_config": "json"}
    ui_color = "#a7d8f0"
    family = "transform"
    resource = TRANSFORM_JOB
    trigger_class = "airflow_tf_sm.transform.trigger:TransformJobTrigger"
    resource_links = (TransformJobConsoleLink(),)
    asset_uri_key = "output_path"

    def __init__(
        self,
        *,
        training_job_name: str | None = None,
        model_name: str | None = None,
        image: str | None = None,
        framework_version: str | None = None,
        role: str | None = None,
        data: str | None = None,
        output_path: str | None = None,
        instance_count: int | None = None,
        instance_type: str | None = None,
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_kms_key: str | None = None,
        accept: str | None = None,
        env: Mapping[str, str] | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: Tags | None = None,
        volume_kms_key: str | None = None,
        data_type: str | None = None,
        content_type: str | None = None,
        compression_type: str | None = None,
        split_type: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
        model_client_config: Mapping[str, Any] | None = None,
        job_name: str | None = None,
        stream_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = locals()
        self.training_job_name = training_job_name
        self.model_name = model_name
        self.image = image
        self.framework_version = framework_version
        self.role = role
        for name in self.SPEC_FIELDS:
            setattr(self, name, given[name])
        self.stream_logs = stream_logs

    #: The TransformJobSpec fields, as written in the signature above (a test checks they are the spec's).
    SPEC_FIELDS: tuple[str, ...] = keyword_arguments(__init__, exclude=OPERATOR_ARGUMENTS)
    template_fields: Sequence[str] = (
        "training_job_name",
        "model_name",
        "image",
        "framework_version",
        "role",
        *SPEC_FIELDS,
        *SageMakerTask.template_fields,
    )

    # -------------------------------------------------------------- execution
    def spec_mapping(self) -> dict[str, Any]:
        """Return the rendered spec settings that were given (an empty rendered template means "not set")."""
        return {
            name: getattr(self, name)
            for name in self.SPEC_FIELDS
            if getattr(self, name) is not None and getattr(self, name) != ""
        }

    def _text(self, name: str) -> str | None:
        value = getattr(self, name)
        return str(value) if value not in (None, "") else None

    def execute(self, context: Context) -> dict[str, Any]:
        """Check everything, start (or re-attach to) the transform job, wait for it and return the result dict."""
        from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
        from airflow_tf_sm.transform.spec import TransformJobSpec

        service = self.hook.transform
        mapping = self.spec_mapping()
        model_args = {
            name: self._text(name) for name in ("training_job_name", "model_name", "image", "framework_version", "role")
        }
        problems: list[FieldError] = []
        try:
            spec = TransformJobSpec.from_mapping(mapping)
        except ConfigValidationError as exc:
            problems += exc.errors
        problems += service.check_model_choice(
            instance_type=str(mapping.get("instance_type") or "ml.m5.large"), **model_args
        )
        if problems:
            raise ConfigValidationError(problems, what="transform job configuration")

        return self.run_job(context, spec, **model_args)

    def log_result(self, result: dict[str, Any]) -> None:
        """Log the job's status, model and outputs."""
        outputs = result.get("outputs") or {}
        self.log.info(
            "Transform job %s %s with model %s: %s output(s) under %s%s",
            result["transform_job_name"],
            result["status"],
            result["model_name"],
            outputs.get("count", 0),
            result["output_path"],
            f", first {outputs['first'][0]}" if outputs.get("first") else "",
        )

    def lineage_of(self, task_instance: Any) -> Any:
        """OpenLineage of the transform job: the model artifact and the input prefix -> the output prefix."""
        from airflow_tf_sm.lineage import planned_transform, transform_lineage
        from airflow_tf_sm.transform.spec import TransformJobSpec

        name = self.lineage_name(task_instance, "transform_job_name")
        desc = self.hook.transform.find(name) if name else None
        if desc is None:
            return transform_lineage(planned_transform(TransformJobSpec.from_mapping(self.spec_mapping())), None)
        model = self.hook.hosting.describe_model(str(desc.get("ModelName") or "")) or {}
        return transform_lineage(desc, (model.get("PrimaryContainer") or {}).get("ModelDataUrl"))
