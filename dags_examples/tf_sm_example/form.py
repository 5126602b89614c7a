"""The trigger-form Params the example DAGs share: each has a title, a description and a range or choices.

The trigger form shows the title and description next to each field; ``minimum``/``maximum`` bound the
number fields and ``enum`` makes a drop-down, so the form cannot send a value the schema refuses (and
a REST trigger with such a value is refused with a 400 naming the Param).
"""

from __future__ import annotations

from airflow.sdk import Param

#: Instance types the examples offer (any SageMaker training instance type works in a DAG of your own).
INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.c5.2xlarge", "ml.g4dn.xlarge", "ml.p3.2xlarge"]


def epochs(default: int, maximum: int = 200, description: str = "Passes over the training data") -> Param:
    """Return the ``epochs`` Param: an integer from 1 to ``maximum``."""
    return Param(
        default,
        type="integer",
        minimum=1,
        maximum=maximum,
        title="Epochs",
        description=f"{description} (1-{maximum})",
    )


def bucket() -> Param:
    """Return the ``bucket`` Param: where the data and the models go."""
    return Param(
        "s3://airflow-tf-sm-demo",
        type="string",
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$",
        title="Bucket",
        description="s3://bucket for the data and the models (on the local backend: the local object store)",
    )


def instance_type() -> Param:
    """Return the ``instance_type`` Param: a drop-down of :data:`INSTANCE_TYPES`."""
    return Param(
        "ml.m5.large",
        type="string",
        enum=INSTANCE_TYPES,
        title="Instance type",
        description="SageMaker training instance type (the local backend runs on this machine whatever it says)",
    )
