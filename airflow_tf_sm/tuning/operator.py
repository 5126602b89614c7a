"""``TFTuningOperator``: tune a TensorFlow script-mode model's hyperparameters on SageMaker (or locally).

Imported by DAG files at parse time: no boto3, botocore, optuna or TensorFlow at module level; the hook is
built in ``execute()``. The operator takes every argument of
:class:`~airflow_tf_sm.training.operator.TFTrainingOperator` (the estimator) plus the tuner's, and reuses
its config rendering (``specargs.SpecArguments``); the tuning job itself is ``hook.tuning``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.links import TuningJobConsoleLink
from airflow_tf_sm.sagemaker.resources import TUNING_JOB
from airflow_tf_sm.specargs import SpecArguments
from airflow_tf_sm.tasks import JobTask, SageMakerTask, keyword_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_tf_sm.sagemaker.tags import Tags

#: The operator's own keyword arguments; every other keyword of its ``__init__`` is a TuningJobSpec setting.
OPERATOR_ARGUMENTS = ("config",)


class TFTuningOperator(SpecArguments, JobTask):
    """Run a hyperparameter tuning job of a TensorFlow script-mode estimator and wait for it.

    Every setting of :class:`~airflow_tf_sm.tuning.spec.TuningJobSpec` is an explicit, templated argument:
    the estimator's (the same as :class:`~airflow_tf_sm.training.operator.TFTrainingOperator`'s) and the
    tuner's, in the SDK v2 ``HyperparameterTuner`` vocabulary. A ``config`` dict or file gives the same
    settings; explicit arguments win over it.

    The tuning job name is deterministic per task instance (32-character rule), so a retry finds the tuning
    job of an earlier try: running -> it attaches; Completed -> it reuses the result
    (``if_job_exists="retune"`` tunes again); Failed/Stopped -> it starts the next name. It waits in the
    worker or (``deferrable=True``) in the triggerer, logging the training job counters and the best
    objective so far. The return value (XCom) is a small dict, each entry also an XCom key of its own:
    ``tuning_job_name``, ``status``, ``best_training_job_name``, ``best_objective`` (``{name, value, type}``),
    ``best_hyperparameters``, ``best_model_data``, ``training_job_counts``, ``objective_counts``, ``region``,
    ``backend``. Deploy the best model with
    ``TFDeployOperator(training_job_name=tune.output["best_training_job_name"])``.

    Args:
        config: Job settings as a dict or a template file name (rendered with the task context).
        job_name: Base name for the tuning job (templated, e.g. ``"tune-{{ ds_nodash }}"``), sanitized to the
            32-character tuning job name rule. Default: derived from dag_id, task_id, run_id and map_index.
        entry_point: Training script; relative to ``source_dir`` when that is set, else a local file.
        source_dir: Local directory (or ``s3://`` tarball) with the code; None: the entry point alone.
        dependencies: Extra local directories packed next to the code, each under its own name (relative
            paths: the DAG's folder). Default [].
        framework_version: TensorFlow version (``2.19.0`` or ``2.19``); picks the training image. Default
            '2.19.0'.
        py_version: Python version of the image (default: the only one offered).
        image_uri: Training image; None picks the SageMaker TensorFlow image.
        training_repository_access_mode: Not carried by a tuning job's TrainingJobDefinition: refused when set.
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
            ``{"enabled": bool, ...}``.
        container_log_level: Python log level of the container (20 = INFO). Default 20.
        model_dir: ``model_dir`` hyperparameter; None: ``<output_path>/<job>/model``; False: not passed.
        enable_network_isolation: Run the container without network access. Default False.
        encrypt_inter_container_traffic: Encrypt traffic between instances. Default False.
        enable_sagemaker_metrics: Metrics time series; None: on for TensorFlow >= 1.15, like the SDK.
        disable_profiler: Not carried by a tuning job's TrainingJobDefinition: refused when set.
        profiler_config: Not carried by a tuning job's TrainingJobDefinition: refused when set.
        debugger_hook_config: Not carried by a tuning job's TrainingJobDefinition: refused when set.
        max_retry_attempts: SageMaker-side retries of the job (1-30).
        request_overrides: Deep-merged into the CreateHyperParameterTuningJob request last. Default {}.
        objective_metric_name: The metric to optimise: the ``Name`` of one of ``metric_definitions``.
        hyperparameter_ranges: Hyperparameter -> range: ``ContinuousParameter``/``IntegerParameter``/
            ``CategoricalParameter``, or ``{"type": "continuous"|"integer", "min_value", "max_value",
            "scaling_type"}`` / ``{"type": "categorical", "values": [...]}``.
        objective_type: ``Maximize`` (default) or ``Minimize``.
        strategy: ``Bayesian`` (default), ``Random``, ``Hyperband`` or ``Grid``.
        max_jobs: Training jobs in all (default 1, like the SDK; Grid: every combination).
        max_parallel_jobs: Training jobs at once (default 1).
        early_stopping_type: ``Off`` (default) or ``Auto``.
        max_runtime_in_seconds: Longest run of the tuning job (120-15768000 s).
        completion_criteria: ``{"target_objective_metric_value", "max_number_of_training_jobs_not_improving",
            "complete_on_convergence"}``.
        random_seed: Seed of the search (reproducible runs).
        warm_start_config: ``{"warm_start_type": ..., "parents": [...]}``.
        hyperband: ``{"min_resource": n, "max_resource": n}`` for the Hyperband strategy.
        **kwargs: Job arguments (:class:`~airflow_tf_sm.tasks.JobTask`: ``if_job_exists`` -- ``"reuse"`` or
            ``"retune"`` --, ``stop_job_on_kill``), waiting, connection and ``BaseOperator`` arguments (see
            ``TFTrainingOperator``).

    Example:
        >>> from airflow_tf_sm import ContinuousParameter  # doctest: +SKIP
        >>> tune = TFTuningOperator(  # doctest: +SKIP
        ...     task_id="tune", entry_point="train.py", source_dir="code", output_path="s3://my-bucket/models",
        ...     metric_definitions=[{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"}],
        ...     objective_metric_name="val_accuracy",
        ...     hyperparameter_ranges={"learning-rate": ContinuousParameter(1e-4, 0.1, "Logarithmic")},
        ...     max_jobs=6, max_parallel_jobs=2, early_stopping_type="Auto", deferrable=True,
        ... )
    """

    template_fields_renderers = {
        "config": "json",
        "hyperparameters": "json",
        "inputs": "json",
        "environment": "json",
        "tags": "json",
        "distribution": "json",
        "instance_groups": "json",
        "metric_definitions": "json",
        "request_overrides": "json",
        "hyperparameter_ranges": "json",
        "completion_criteria": "json",
        "warm_start_config": "json",
        "hyperband": "json",
    }
    # config files are rendered by the package's renderer (see TFTrainingOperator)
    template_ext: Sequence[str] = ()
    ui_color = "#ffcc80"
    family = "tuning"
    resource = TUNING_JOB
    trigger_class = "airflow_tf_sm.tuning.trigger:TuningJobTrigger"
    resource_links = (TuningJobConsoleLink(),)
    asset_uri_key = "best_model_data"

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
        objective_metric_name: str | None = None,
        hyperparameter_ranges: Mapping[str, Any] | None = None,
        objective_type: str | None = None,
        strategy: str | None = None,
        max_jobs: int | None = None,
        max_parallel_jobs: int | None = None,
        early_stopping_type: str | None = None,
        max_runtime_in_seconds: int | None = None,
        completion_criteria: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
        warm_start_config: Mapping[str, Any] | None = None,
        hyperband: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        given = locals()
        super().__init__(**kwargs)
        self.config = config
        for name in self.SPEC_FIELDS:
            setattr(self, name, given[name])

    #: The TuningJobSpec settings, as written in the signature above (a test checks they are the spec's).
    SPEC_FIELDS: tuple[str, ...] = keyword_arguments(__init__, exclude=OPERATOR_ARGUMENTS)
    template_fields: Sequence[str] = ("config", *SPEC_FIELDS, *SageMakerTask.template_fields)

    # -------------------------------------------------------------- execution
    def execute(self, context: Context) -> dict[str, Any]:
        """Submit (or re-attach to) the tuning job, wait for it, and return the result dict."""
        from airflow_tf_sm.tuning.spec import TuningJobSpec

        spec = TuningJobSpec.from_mapping(self.spec_mapping())
        return self.run_job(context, spec)

    def publish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Push every entry of the result as its own XCom key too (``tune.output["best_training_job_name"]``)."""
        for key, value in result.items():
            context["ti"].xcom_push(key=key, value=value)
        return super().publish(context, result)

    def log_result(self, result: dict[str, Any]) -> None:
        """Log the best training job, its objective and hyperparameters."""
        self.log.info(
            "Tuning job %s Completed; best training job: %s (%s); hyperparameters: %s",
            result["tuning_job_name"],
            result["best_training_job_name"],
            result["best_objective"],
            result["best_hyperparameters"],
        )

    def lineage_of(self, task_instance: Any) -> Any:
        """OpenLineage of the tuning job: the training inputs -> the best training job's model."""
        from airflow_tf_sm.lineage import planned_tuning, tuning_lineage
        from airflow_tf_sm.tuning.spec import TuningJobSpec

        name = self.lineage_name(task_instance, "tuning_job_name")
        desc = self.hook.tuning.find(name) if name else None
        if desc is None:
            return tuning_lineage(planned_tuning(TuningJobSpec.from_mapping(self.spec_mapping())))
        return tuning_lineage(desc, self.lineage_result or self.hook.tuning.result(desc))
