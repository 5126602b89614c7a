"""DAG files import airflow_tf_sm at parse time: it must not drag in heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("boto3", "botocore", "tensorflow", "keras", "aiobotocore", "moto", "airflow.providers.amazon", "optuna")

PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
import airflow_tf_sm
from airflow_tf_sm import *  # every public name
names = list(airflow_tf_sm.__all__)
for n in names:
    getattr(airflow_tf_sm, n)
import airflow_tf_sm.operators, airflow_tf_sm.sensors, airflow_tf_sm.hook, airflow_tf_sm.training.spec
from airflow_tf_sm.operators import TFTrainingOperator, TFDeployOperator
from airflow_tf_sm.sensors import TrainingJobSensor, EndpointSensor
print(json.dumps({"names": names, "new": sorted(set(sys.modules) - before)}))
"""


def test_public_api_imports_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
        timeout=120,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "TFTrainingOperator" in data["names"] and "TFSageMakerHook" in data["names"]
    heavy = [m for m in data["new"] if m == "yaml" or any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == [], f"importing airflow_tf_sm loaded heavy modules: {heavy}"


def test_unknown_public_name_is_an_attribute_error() -> None:
    import airflow_tf_sm

    assert not hasattr(airflow_tf_sm, "NoSuchThing")
    assert set(airflow_tf_sm.__all__) <= set(dir(airflow_tf_sm))
