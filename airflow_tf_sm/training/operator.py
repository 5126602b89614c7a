"""``TFTrainingOperator``: train a TensorFlow script-mode model on SageMaker (or the local backend).

This module is imported by DAG files at parse time: it imports no boto3, botocore, TensorFlow or
Amazon provider module at module level. The hook is built in ``execute()``, never in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TrainingJobConsoleLink, TrainingJobLogsLink
from airflow_tf_sm.sagemaker.resources import TRAINING_JOB
from airflow_tf_sm.specargs import SpecArguments
from airflow_tf_sm.tasks import JobTask, SageMakerTask, keyword_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_tf_sm.sagemaker.tags import Tags

#: The operator's own keyword arguments; every other keyword of its ``__init__`` is a TrainingJobSpec field.
OPERATOR_ARGUMENTS = ("config", "stream_logs")


class TFTrainingOperator(SpecArguments, JobTask):
    """Train a TensorFlow script-mode model on SageMaker (or the local backend) and wait for it.

    Every field of :class:`~airflow_tf_sm.training.spec.TrainingJobSpec` is an explicit, templated argument,
    so ``TFTrainingOperator.partial(...).expand(hyperparameters=[...])`` sweeps any of them. A ``config`` (a
    dict, or a ``.json``/``.yaml``/``.j2`` file next to the DAG or on its ``template_searchpath``) gives the
    same fields; explicit arguments win over it. ``None`` (the default of every spec argument) means: take
    it from ``config``, else the spec's default (given below).

    The job name is deterministic per task instance (dag, task, run, map index), so a retry finds the job
    of an earlier try: running -> it attaches and waits; Completed -> it reuses the result
    (``if_job_exists="retrain"`` trains again); Failed/Stopped -> it starts the next name. The return value
    (XCom) is a small dict: ``job_name``, ``job_arn``, ``status``, ``model_data``, ``metrics``,
    ``billable_seconds``, ``training_seconds``, ``image``, ``region``, ``backend``.

    Args:
        config: Job settings as a dict or a template file name (rendered with the task context).
        job_name: Base name for the job (templated, e.g. ``"mnist-{{ ds_nodash }}"``), sanitized to the
            SageMaker name rule. Default: derived from dag_id, task_id, run_id and map_index.
        entry_point: Training script; relative to ``source_dir`` when that is set, else a local file.
        source_dir: Local directory (or ``s3://`` tarball) with the code; None: the entry point alone.
        dependencies: Extra local directories packed next to the code, each under its own name (relative
            paths: the DAG's folder). Default [].
        framework_version: TensorFlow version (``2.19.0`` or ``2.19``); picks the training image. Default
            '2.19.0'.
        py_version: Python version of the image (default: the only one offered).
        image_uri: Training image; None picks the SageMaker TensorFlow image.
        training_repository_access_mode: How the image is pulled: ``Platform`` or ``Vpc`` (None: not sent).
        role: IAM role ARN of the job (the local backend uses a placeholder when none is given).
        instance_type: ``ml.*`` instance type (on the local backend too: it picks the image). Default
            'ml.m5.large'.
        instance_count: Number of instances. Default 1.
        instance_groups: A heterogeneous cluster instead of ``instance_type`` x ``instance_count``: 1-5
            ``{"instance_group_name", "instance_type", "instance_count"}`` (the SDK's ``InstanceGroup``).
        volume_size: EBS volume size in GB. Default 30.
        volume_kms_key: KMS key for the volume.
        keep_alive_period_in_seconds: Keep the instances in a warm pool this long after the job (0-21600).
        max_run: Maximum run time in seconds. Default 86400.
        use_spot_instances: Managed spot training (needs ``max_wait``). Default False.
        max_wait: Maximum wait time in seconds for spot training (>= ``max_run``).
        checkpoint_s3_uri: S3 URI synced with the container's checkpoint directory.
        checkpoint_local_path: Checkpoint directory in the container (SageMaker default when None).
        hyperparameters: User hyperparameters (any JSON-serializable values). Default {}.
        inputs: One ``s3://`` URI (channel ``training``) or channel name -> URI or channel settings
            (:data:`~airflow_tf_sm.training.channels.CHANNEL_SETTINGS`).
        input_mode: Default input mode: ``File``, ``Pipe`` or ``FastFile``. Default 'File'.
        model_uri: ``s3://`` URI of a pre-trained model, given to the job as an input channel.
        model_channel_name: Name of that channel (default ``model``).
        output_path: ``s3://`` prefix for the job's output (required).
        output_kms_key: KMS key for the output.
        code_location: ``s3://`` prefix for the staged code (default ``<output_path>/code``).
        metric_definitions: ``[{"Name": ..., "Regex": ...}]`` applied to the job's log. Default [].
        environment: Environment variables of the container (string values). Default {}.
        tags: ``{key: value}`` or ``[{"Key": ..., "Value": ...}]``. Default {}.
        subnets: VPC subnet ids (with ``security_group_ids``).
        security_group_ids: VPC security group ids (with ``subnets``).
        distribution: Strategy (``parameter_server``, ``mpi``, ``multi_worker_mirrored_strategy``) ->
            ``{"enabled": bool, ...}``; ``instance_groups``: the group names the strategy runs on.
        container_log_level: Python log level of the container (20 = INFO). Default 20.
        model_dir: ``model_dir`` hyperparameter; None: ``<output_path>/<job>/model``; False: not passed.
        enable_network_isolation: Run the container without network access. Default False.
        encrypt_inter_container_traffic: Encrypt traffic between instances. Default False.
        enable_sagemaker_metrics: Metrics time series; None: on for TensorFlow >= 1.15, like the SDK.
        disable_profiler: Send ``ProfilerConfig {"DisableProfiler": true}``. Default False.
        profiler_config: The SDK's ``ProfilerConfig`` settings (``s3_output_path``,
            ``system_monitor_interval_millis``, ``disable_profiler``); None: no ProfilerConfig is sent.
        debugger_hook_config: The SDK's ``DebuggerHookConfig`` settings (``s3_output_path``,
            ``container_local_output_path``, ``hook_parameters``, ``collection_configs``); None/False: none sent.
        max_retry_attempts: SageMaker-side retries of the job (1-30).
        request_overrides: Deep-merged into the request last (dicts merge, other values replace). Default {}.
        stream_logs: Copy the training log into the task log while waiting.
        **kwargs: Job arguments (:class:`~airflow_tf_sm.tasks.JobTask`: ``if_job_exists`` -- ``"reuse"`` or
            ``"retrain"`` --, ``stop_job_on_kill``), waiting arguments
            (:class:`~airflow_tf_sm.tasks.WaitingTask`: ``wait_for_completion``,
            ``poll_interval``, ``wait_timeout``, ``deferrable``), connection arguments
            (:class:`~airflow_tf_sm.tasks.SageMakerTask`: ``backend``, ``aws_conn_id``, ``region_name``, ...)
            and ``BaseOperator`` arguments.

    Example:
        >>> train = TFTrainingOperator(  # doctest: +SKIP
        ...     task_id="train",
        ...     entry_point="train.py",
        ...     source_dir="code",
        ...     hyperparameters={"epochs": "{{ params.epochs }}", "learning-rate": 0.01},
        ...     inputs={"train": "s3://my-bucket/data/{{ ds }}/train"},
        ...     output_path="s3://my-bucket/models",
        ...     instance_type="ml.m5.xlarge",
        ...     backend="local",
        ... )
        >>> sweep = TFTrainingOperator.partial(  # doctest: +SKIP
        ...     task_id="sweep", entry_point="train.py", source_dir="code", output_path="s3://my-bucket/models",
        ... ).expand(hyperparameters=[{"learning-rate": lr} for lr in (0.1, 0.01, 0.001)])
    """

    # Config files (.json/.yaml/.yml/.j2) are read and rendered by the hook's renderer, from the DAG folder
    # and template_searchpath. ``template_ext`` stays empty on purpose: Airflow would treat *any* templated
    # string ending in ".json" (say an input "s3://bucket/manifest.json") as a template file to load.
    template_ext: Sequence[str] = ()
    template_fields_renderers = {
        "config": "json",
        "hyperparameters": "json",
        "inputs": "json",
        "environment": "json",
        "tags": "json",
        "distribution": "json",
        "instance_groups": "json",
        "profiler_config": "json",
        "debugger_hook_config": "json",
        "metric_definitions": "json",
        "request_overrides": "json",
    }
    ui_color = "#ffb347"
    family = "training"
    resource = TRAINING_JOB
    trigger_class = "airflow_tf_sm.training.trigger:TrainingJobTrigger"
    resource_links = (TrainingJobConsoleLink(), TrainingJobLogsLink())
    asset_uri_key = "model_data"

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | str | None = None,
        job_name: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        dependencies: Sequence[str] | None = None,
        framework_version: str | None = None,
        py_version: str | None = None,
        image_uri: str | None = None,
        training_repository_access_mode: str | None = None,
        role: str | None = None,
        instance_type: str | None = None,
        instance_count: int | None = None,
        instance_groups: Sequence[Mapping[str, Any]] | None = None,
        volume_size: int | None = None,
        volume_kms_key: str | None = None,
        keep_alive_period_in_seconds: int | None = None,
        max_run: int | None = None,
        use_spot_instances: bool | None = None,
        max_wait: int | None = None,
        checkpoint_s3_uri: str | None = None,
        checkpoint_local_path: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        inputs: str | Mapping[str, str | Mapping[str, Any]] | None = None,
        input_mode: str | None = None,
        model_uri: str | None = None,
        model_channel_name: str | None = None,
        output_path: str | None = None,
        output_kms_key: str | None = None,
        code_location: str | None = None,
        metric_definitions: Sequence[Mapping[str, str]] | None = None,
        environment: Mapping[str, str] | None = None,
        tags: Tags | None = None,
        subnets: Sequence[str] | None = None,
        security_group_ids: Sequence[str] | None = None,
        distribution: Mapping[str, Any] | None = None,
        container_log_level: int | None = None,
        model_dir: str | bool | None = None,
        enable_network_isolation: bool | None = None,
        encrypt_inter_container_traffic: bool | None = None,
        enable_sagemaker_metrics: bool | None = None,
        disable_profiler: bool | None = None,
        profiler_config: Mapping[str, Any] | None = None,
        debugger_hook_config: Mapping[str, Any] | bool | None = None,
        max_retry_attempts: int | None = None,
        request_overrides: Mapping[str, Any] | None = None,
        stream_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = locals()
        self.config = config
        for name in self.SPEC_FIELDS:
            setattr(self, name, given[name])
        self.stream_logs = stream_logs

    #: The TrainingJobSpec fields, as written in the signature above (a test checks they are the spec's).
    SPEC_FIELDS: tuple[str, ...] = keyword_arguments(__init__, exclude=OPERATOR_ARGUMENTS)
    template_fields: Sequence[str] = ("config", *SPEC_FIELDS, *SageMakerTask.template_fields)

    # -------------------------------------------------------------- execution
    def execute(self, context: Context) -> dict[str, Any]:
        """Submit (or re-attach to) the training job, wait for it, and return the result dict."""
        from airflow_tf_sm.training.spec import TrainingJobSpec

        spec = TrainingJobSpec.from_mapping(self.spec_mapping())
        return self.run_job(context, spec)

    def log_result(self, result: dict[str, Any]) -> None:
        """Log the job's model artifact and final metrics."""
        self.log.info(
            "Training job %s Completed; model: %s; metrics: %s",
            result["job_name"],
            result["model_data"],
            result["metrics"],
        )

    def lineage_of(self, task_instance: Any) -> Any:
        """OpenLineage of the training job: its input channels -> its model artifact (planned before it exists)."""
        from airflow_tf_sm.lineage import planned_training, training_lineage
        from airflow_tf_sm.training.spec import TrainingJobSpec

        name = self.lineage_name(task_instance, "job_name")
        desc = self.hook.training.find(name) if name else None
        return training_lineage(desc or planned_training(TrainingJobSpec.from_mapping(self.spec_mapping())))
