"""airflow_tf_sm: train, tune, batch-score with and deploy TensorFlow script-mode models on SageMaker from Airflow 3.

The public names are loaded lazily, so ``import airflow_tf_sm`` in a DAG file costs almost nothing
and pulls in neither boto3 nor TensorFlow.

Example:
    >>> from airflow_tf_sm import TFTrainingOperator  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_tf_sm.exports import lazy_getattr

__version__ = "0.1.0"

# public name -> module that defines it (the one place this mapping is kept)
_EXPORTS: dict[str, str] = {
    "TFTrainingOperator": "airflow_tf_sm.training.operator",
    "TrainingJobSensor": "airflow_tf_sm.training.sensor",
    "TrainingJobSpec": "airflow_tf_sm.training.spec",
    "TFTuningOperator": "airflow_tf_sm.tuning.operator",
    "TuningJobSensor": "airflow_tf_sm.tuning.sensor",
    "TuningJobSpec": "airflow_tf_sm.tuning.spec",
    "ContinuousParameter": "airflow_tf_sm.tuning.ranges",
    "IntegerParameter": "airflow_tf_sm.tuning.ranges",
    "CategoricalParameter": "airflow_tf_sm.tuning.ranges",
    "TFDeployOperator": "airflow_tf_sm.hosting.operator",
    "DeleteEndpointOperator": "airflow_tf_sm.hosting.operator",
    "EndpointSensor": "airflow_tf_sm.hosting.sensor",
    "TFBatchTransformOperator": "airflow_tf_sm.transform.operator",
    "TransformJobSensor": "airflow_tf_sm.transform.sensor",
    "TransformJobSpec": "airflow_tf_sm.transform.spec",
    "TFSageMakerHook": "airflow_tf_sm.hook",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from airflow_tf_sm.hook import TFSageMakerHook as TFSageMakerHook
    from airflow_tf_sm.hosting.operator import DeleteEndpointOperator as DeleteEndpointOperator
    from airflow_tf_sm.hosting.operator import TFDeployOperator as TFDeployOperator
    from airflow_tf_sm.hosting.sensor import EndpointSensor as EndpointSensor
    from airflow_tf_sm.training.operator import TFTrainingOperator as TFTrainingOperator
    from airflow_tf_sm.training.sensor import TrainingJobSensor as TrainingJobSensor
    from airflow_tf_sm.training.spec import TrainingJobSpec as TrainingJobSpec
    from airflow_tf_sm.transform.operator import TFBatchTransformOperator as TFBatchTransformOperator
    from airflow_tf_sm.transform.sensor import TransformJobSensor as TransformJobSensor
    from airflow_tf_sm.transform.spec import TransformJobSpec as TransformJobSpec
    from airflow_tf_sm.tuning.operator import TFTuningOperator as TFTuningOperator
    from airflow_tf_sm.tuning.ranges import CategoricalParameter as CategoricalParameter
    from airflow_tf_sm.tuning.ranges import ContinuousParameter as ContinuousParameter
    from airflow_tf_sm.tuning.ranges import IntegerParameter as IntegerParameter
    from airflow_tf_sm.tuning.sensor import TuningJobSensor as TuningJobSensor
    from airflow_tf_sm.tuning.spec import TuningJobSpec as TuningJobSpec


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
