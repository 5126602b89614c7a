"""SageMaker resource families as data: name keys, statuses, log groups, ARN kinds, console paths.

One :class:`Resource` per family the package waits for or creates. The wait state machine, the shared
poller, the links and the local backend read these facts instead of spelling them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: CloudWatch log group of training jobs (streams ``<job>/algo-<n>-<epoch seconds>``).
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
#: CloudWatch log group prefix of endpoints (``/aws/sagemaker/Endpoints/<endpoint>``).
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints"
#: CloudWatch log group of batch transform jobs.
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
#: Account id the local backend puts in ARNs.
LOCAL_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class Resource:
    """Facts of one SageMaker resource family.

    Attributes:
        title: How messages name one (``Training job``).
        name_key: Request/response key of its name (``TrainingJobName``).
        status_key: Response key of its status (``TrainingJobStatus``); "" when it has none.
        describe: boto3 method that describes one.
        stop: boto3 method that stops one ("" when it cannot be stopped).
        statuses: Every status it can report.
        busy: Statuses that change by themselves (a wait goes on while the resource is in one).
        success: Settled statuses that end a wait successfully.
        arn_kind: Resource type in its ARN (``training-job``).
        max_name_len: Longest name (the pattern is ``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,max-1}$``).
        log_group: CloudWatch log group of its logs ("" when none).
        secondary_key: Response key of its detailed status ("" when none).
        event_name_key: Key of its name in trigger events and results (``job_name``).
        event_status_key: Key of its status in trigger events (``training_job_status``).
        console_path: Console fragment of one, ``{name}`` filled in ("" when none).
        rerun_word: The ``if_job_exists`` word that runs a Completed job of an earlier try again
            instead of reusing it (``retrain``; "" for a family that is not a job).
        rerun_verb: What running again does, for the reuse message (``trains``).
    """

    title: str
    name_key: str
    status_key: str
    describe: str
    stop: str
    statuses: frozenset[str]
    busy: frozenset[str]
    success: frozenset[str]
    arn_kind: str
    max_name_len: int = 63
    log_group: str = ""
    secondary_key: str = ""
    event_name_key: str = ""
    event_status_key: str = ""
    console_path: str = ""
    rerun_word: str = ""
    rerun_verb: str = ""

    @property
    def arn_key(self) -> str:
        """Response key of its ARN (``TrainingJobArn``)."""
        return self.name_key.removesuffix("Name") + "Arn"

    def rerun(self, if_job_exists: str) -> bool:
        """Return whether ``if_job_exists`` asks to run a Completed job again (``False`` for ``"reuse"``).

        Raises:
            ValueError: ``if_job_exists`` is neither ``"reuse"`` nor the family's :attr:`rerun_word`.
        """
        if not self.rerun_word:
            raise ValueError(f"if_job_exists: {self.title.lower()}s are not jobs: nothing to reuse or run again")
        if if_job_exists not in ("reuse", self.rerun_word):
            raise ValueError(f"if_job_exists: {if_job_exists!r} -- must be 'reuse' or {self.rerun_word!r}")
        return if_job_exists == self.rerun_word

    def is_busy(self, status: str | None) -> bool:
        """Return True while the resource is in a status that changes by itself."""
        return status in self.busy

    def arn(self, region: str, account: str, name: str) -> str:
        """Return the ARN SageMaker gives a resource of this family (names are lower-cased in ARNs)."""
        return f"arn:aws:sagemaker:{region}:{account}:{self.arn_kind}/{name.lower()}"


_JOB_STATUSES = frozenset({"InProgress", "Completed", "Failed", "Stopping", "Stopped"})
_JOB_BUSY = frozenset({"InProgress", "Stopping"})

TRAINING_JOB = Resource(
    title="Training job",
    name_key="TrainingJobName",
    status_key="TrainingJobStatus",
    describe="describe_training_job",
    stop="stop_training_job",
    statuses=_JOB_STATUSES,
    busy=_JOB_BUSY,
    success=frozenset({"Completed"}),
    arn_kind="training-job",
    log_group=TRAINING_LOG_GROUP,
    secondary_key="SecondaryStatus",
    event_name_key="job_name",
    event_status_key="training_job_status",
    console_path="#/jobs/{name}",
    rerun_word="retrain",
    rerun_verb="trains",
)
TUNING_JOB = Resource(
    title="Tuning job",
    name_key="HyperParameterTuningJobName",
    status_key="HyperParameterTuningJobStatus",
    describe="describe_hyper_parameter_tuning_job",
    stop="stop_hyper_parameter_tuning_job",
    statuses=_JOB_STATUSES,
    busy=_JOB_BUSY,
    success=frozenset({"Completed"}),
    arn_kind="hyper-parameter-tuning-job",
    max_name_len=32,
    event_name_key="tuning_job_name",
    event_status_key="tuning_job_status",
    console_path="#/hyper-tuning-jobs/{name}",
    rerun_word="retune",
    rerun_verb="tunes",
)
#: Keys a tuning job's TrainingJobDefinition shares with a CreateTrainingJob request, with the same meaning
#: (the estimator's request gives them; each training job the tuning job starts takes them over as they are).
TRAINING_DEFINITION_KEYS = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)
TRANSFORM_JOB = Resource(
    title="Transform job",
    name_key="TransformJobName",
    status_key="TransformJobStatus",
    describe="describe_transform_job",
    stop="stop_transform_job",
    statuses=_JOB_STATUSES,
    busy=_JOB_BUSY,
    success=frozenset({"Completed"}),
    arn_kind="transform-job",
    log_group=TRANSFORM_LOG_GROUP,
    event_name_key="transform_job_name",
    event_status_key="transform_job_status",
    console_path="#/transform-jobs/{name}",
    rerun_word="rerun",
    rerun_verb="scores",
)
ENDPOINT = Resource(
    title="Endpoint",
    name_key="EndpointName",
    status_key="EndpointStatus",
    describe="describe_endpoint",
    stop="",
    statuses=frozenset(
        {
            "OutOfService",
            "Creating",
            "Updating",
            "SystemUpdating",
            "RollingBack",
            "InService",
            "Deleting",
            "Failed",
            "UpdateRollbackFailed",
        }
    ),
    busy=frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"}),
    success=frozenset({"InService"}),
    arn_kind="endpoint",
    log_group=ENDPOINT_LOG_GROUP,
    event_name_key="endpoint_name",
    event_status_key="endpoint_status",
    console_path="#/endpoints/{name}",
)
MODEL = Resource(
    title="Model",
    name_key="ModelName",
    status_key="",
    describe="describe_model",
    stop="",
    statuses=frozenset(),
    busy=frozenset(),
    success=frozenset(),
    arn_kind="model",
    console_path="#/models/{name}",
)
ENDPOINT_CONFIG = Resource(
    title="Endpoint configuration",
    name_key="EndpointConfigName",
    status_key="",
    describe="describe_endpoint_config",
    stop="",
    statuses=frozenset(),
    busy=frozenset(),
    success=frozenset(),
    arn_kind="endpoint-config",
    console_path="#/endpointConfig/{name}",
)

#: Statuses after which a job never changes again.
JOB_TERMINAL_STATUSES = _JOB_STATUSES - _JOB_BUSY


def final_metrics(desc: Mapping[str, Any]) -> dict[str, float]:
    """Return ``{metric: value}`` from a DescribeTrainingJob response's ``FinalMetricDataList``."""
    return {str(m["MetricName"]): float(m["Value"]) for m in desc.get("FinalMetricDataList") or []}
