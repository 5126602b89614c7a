"""Provider discovery: the ``apache_airflow_provider`` entry point returns :func:`get_provider_info`."""

from __future__ import annotations

from typing import Any

from airflow_tf_sm import __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow's ProvidersManager reads.

    The ``aws`` connection type itself belongs to apache-airflow-providers-amazon; this provider's
    hook uses connections of that type.
    """
    return {
        "package-name": "airflow-tf-sm",
        "name": "TensorFlow on SageMaker",
        "description": "Train TensorFlow script-mode models on Amazon SageMaker (or locally), batch-score with them "
        "and deploy them.",
        "versions": [__version__],
        "hooks": [{"integration-name": "TensorFlow on SageMaker", "python-modules": ["airflow_tf_sm.hook"]}],
        "operators": [
            {
                "integration-name": "TensorFlow on SageMaker",
                "python-modules": [
                    "airflow_tf_sm.training.operator",
                    "airflow_tf_sm.tuning.operator",
                    "airflow_tf_sm.hosting.operator",
                    "airflow_tf_sm.transform.operator",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "TensorFlow on SageMaker",
                "python-modules": [
                    "airflow_tf_sm.training.sensor",
                    "airflow_tf_sm.tuning.sensor",
                    "airflow_tf_sm.hosting.sensor",
                    "airflow_tf_sm.transform.sensor",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "TensorFlow on SageMaker",
                "python-modules": [
                    "airflow_tf_sm.training.trigger",
                    "airflow_tf_sm.tuning.trigger",
                    "airflow_tf_sm.hosting.trigger",
                    "airflow_tf_sm.transform.trigger",
                ],
            }
        ],
        "extra-links": [
            "airflow_tf_sm.links.TrainingJobConsoleLink",
            "airflow_tf_sm.links.TrainingJobLogsLink",
            "airflow_tf_sm.links.TuningJobConsoleLink",
            "airflow_tf_sm.links.EndpointConsoleLink",
            "airflow_tf_sm.links.TransformJobConsoleLink",
        ],
        "config": {
            "airflow_tf_sm": {
                "description": "Settings of the airflow_tf_sm provider.",
                "options": {
                    "backend": {
                        "description": "Where training jobs run: 'sagemaker' (AWS) or 'local' (this machine).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "local",
                        "default": "sagemaker",
                    },
                    "local_root": {
                        "description": "State root of the local backend (jobs, logs, object store). "
                        "Empty: $AIRFLOW_HOME/airflow_tf_sm.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/var/lib/airflow_tf_sm",
                        "default": "",
                    },
                    "local_max_hosts": {
                        "description": "Most hosts (instance_count, or all instance_groups together) of one "
                        "training job on the local backend, where each host is a process with its own copy of the "
                        "code and data. Empty: the machine's CPU count.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "4",
                        "default": "",
                    },
                    "triggerer_gc_freeze": {
                        "description": "When the first shared poller starts in a process (in the triggerer), move "
                        "the objects alive then (Airflow's modules, classes, functions) out of the garbage "
                        "collector's reach with gc.freeze(), so full collections stop pausing the event loop "
                        "for about 0.1 s each. Process-wide; the frozen objects are never collected by the "
                        "cycle collector (they live as long as the process anyway, or are freed by reference "
                        "counting). Also freezes again right after a full collection once 500 more shared "
                        "waiters came (only reachable objects then: the waiting triggers' own).",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                },
            }
        },
    }
